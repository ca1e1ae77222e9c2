package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/operator"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
)

// OperatorOptions are the inputs of `oc sts operator`.
type OperatorOptions struct {
	ConfigFlags         *genericclioptions.ConfigFlags
	Subscription        string
	Filenames           []string
	ServiceAccounts     []string
	Name                string
	Region              string
	RolePath            string
	PermissionsBoundary string
	Tags                map[string]string
	Delete              bool
	Output              string
	awsFlags
	changeFlags

	namespace   string // the Subscription's, from -n or the kubeconfig context
	placeholder string // ${NAMESPACE} of -f files: -n only when given
	sas         operator.ServiceAccounts
	inherit     map[string]bool // role settings not given as flags: prepare's roles' own
	kube        kubernetes.Interface
	dyn         dynamic.Interface
	genericiooptions.IOStreams
}

// NewOperatorCmd builds `oc sts operator`.
func NewOperatorCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &OperatorOptions{IOStreams: streams, ConfigFlags: genericclioptions.NewConfigFlags(true)}
	cmd := &cobra.Command{
		Use:   "operator (--subscription NAME -n NAMESPACE | -f FILE)",
		Short: "Give a day-2 OLM operator its AWS role on an STS cluster and wire it in",
		Long: `Operator makes the AWS role a day-2 operator (AWS Load Balancer Operator, EFS CSI
driver, cert-manager, OADP, Loki...) needs on a cluster oc sts prepared, and wires it in.

Its permissions are the CredentialsRequests the operator itself created in the
cluster once installed (--subscription: read with its Subscription and installed
ClusterServiceVersion), or those given with -f (a file or directory, such as the one
the operator's bundle or docs ship); a file's request replaces the cluster's of the
same name. ${NAMESPACE} in a file is filled from -n; --service-account adds service
accounts a request leaves out (SA for every request, REQUEST=SA for one). It says
where each request's permissions came from.

Each role is made as prepare makes its own: named <name>-<namespace>-<secret>,
trusting exactly the request's service accounts (:sub) and the openshift audience
(:aud) of the cluster's issuer through its IAM OIDC provider, with the request's
inline policy, prepare's role path, permissions boundary and tags (unless given),
the ownership tag openshift.io/cloud-credential-operator/<name>=owned and tags
naming the operator's request and Subscription.

Wiring: an operator whose CSV has features.operators.openshift.io/token-auth-aws
gets ROLEARN (or the variable its request's credentials.openshift.io/role-arns-vars
names) in its Subscription's spec.config.env; it sets the role as its request's
stsIAMRoleARN and the cloud-credential-operator writes the Secret. Otherwise oc sts
writes the Secret the request names (STS form, no key) and records a -f request in
the cluster, so that verify and upgrade-check hold the role to it. Every change, in
AWS and in the cluster, is shown before it is made; a re-run with nothing to change
changes nothing.

--delete removes the roles tagged as the operator's (and the wiring that names
them); oc sts destroy removes them with the cluster's.`,
		Example: `  # An installed operator: its own CredentialsRequests, ROLEARN in its Subscription
  oc sts operator --subscription aws-load-balancer-operator -n aws-load-balancer-operator --dry-run
  oc sts operator --subscription aws-load-balancer-operator -n aws-load-balancer-operator --yes

  # A CredentialsRequest as shipped, ${NAMESPACE} filled, with the service accounts it leaves out
  oc sts operator -f efs-credentials.yaml -n openshift-cluster-csi-drivers \
    --service-account aws-efs-csi-driver-controller-sa --yes

  # Remove the operator's roles and wiring
  oc sts operator --subscription aws-load-balancer-operator -n aws-load-balancer-operator --delete --yes`,
		Args: cobra.NoArgs,
	}
	run := runOptions(o)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if cmd.Flags().Changed("namespace") {
			o.placeholder = *o.ConfigFlags.Namespace
		}
		o.inherit = map[string]bool{}
		for _, f := range []string{"role-path", "permissions-boundary", "tag"} {
			o.inherit[f] = !cmd.Flags().Changed(f)
		}
		return run(cmd, args)
	}
	bindKubeFlags(cmd, o.ConfigFlags)
	f := cmd.Flags()
	f.StringVar(&o.Subscription, "subscription", "", "The operator's OLM Subscription (in -n NAMESPACE).")
	f.StringSliceVarP(&o.Filenames, "filename", "f", nil, "CredentialsRequest file or directory (repeatable); ${NAMESPACE} is filled from -n.")
	f.StringArrayVar(&o.ServiceAccounts, "service-account", nil, "Another service account the role trusts: SA (every request) or REQUEST=SA (repeatable).")
	f.StringVar(&o.Name, "name", "", "The name prepare used (default: from the ownership tag of the cluster's IAM OIDC provider).")
	f.StringVar(&o.Region, "region", "", "AWS region (default: the cluster's Infrastructure).")
	f.StringVar(&o.RolePath, "role-path", "", "IAM path of the roles (default: that of prepare's roles).")
	f.StringVar(&o.PermissionsBoundary, "permissions-boundary", "", "ARN of an IAM policy set as the roles' permissions boundary (default: that of prepare's roles).")
	f.StringToStringVar(&o.Tags, "tag", nil, "Extra AWS tag KEY=VALUE on the roles (repeatable; default: prepare's roles' own).")
	o.awsFlags.Bind(cmd)
	o.changeFlags.Bind(cmd)
	f.BoolVar(&o.Delete, "delete", false, "Delete the operator's roles and unwire them.")
	addOutputFlag(cmd, &o.Output)
	return cmd
}

// Complete builds the cluster clients and resolves the namespace.
func (o *OperatorOptions) Complete() (err error) {
	if o.Subscription == "" && len(o.Filenames) == 0 {
		return errOperatorMissing // before the kubeconfig: the first thing a new user gets wrong
	}
	if o.namespace, _, err = o.ConfigFlags.ToRawKubeConfigLoader().Namespace(); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if o.sas, err = operator.ParseServiceAccounts(o.ServiceAccounts); err != nil {
		return err
	}
	if o.Delete {
		o.sas = operator.ForDeletion()
	}
	o.kube, o.dyn, err = clusterClients(o.ConfigFlags)
	return err
}

var errOperatorMissing = errors.New("give the operator: --subscription NAME -n NAMESPACE (an installed operator), or -f FILE (its CredentialsRequests)")

// Validate checks the flags.
func (o *OperatorOptions) Validate() error {
	switch {
	case o.Delete && len(o.ServiceAccounts) > 0:
		return errors.New("--service-account does not go with --delete: the roles are found by their tags")
	}
	if o.Name != "" {
		if err := plan.ValidateName(o.Name); err != nil {
			return fmt.Errorf("--name: %w", err)
		}
	}
	return validateOutput(o.Output)
}

// operatorResult is operator's -o json|yaml document.
type operatorResult struct {
	APIVersion     string                   `json:"apiVersion"`
	Kind           string                   `json:"kind"`
	Name           string                   `json:"name"`
	AccountID      string                   `json:"accountID"`
	Subscription   string                   `json:"subscription,omitempty"`
	Delete         bool                     `json:"delete,omitempty"`
	DryRun         bool                     `json:"dryRun,omitempty"`
	Roles          []operator.Role          `json:"roles"`
	Changes        []provision.Change       `json:"changes"`
	ClusterChanges []operator.ClusterChange `json:"clusterChanges"`
}

// operatorRun is what one run found.
type operatorRun struct {
	sub     *operator.Subscription
	reqs    []operator.Request
	wiring  []operator.Wiring
	c       *provision.Clients
	id      provision.Identity
	target  operator.Target
	have    map[string]provision.RoleState // the roles owned by target.Name (and the operator's by name)
	roles   []operator.Role
	observe *operator.Observed
}

// Run reads the operator and the cluster, then converges (or deletes)
// the operator's roles with the one converge engine and wires them in.
func (o *OperatorOptions) Run(ctx context.Context) error {
	r, err := o.read(ctx)
	if err != nil {
		return err
	}
	given := &provision.GivenRoles{}
	var clusterChanges []operator.ClusterChange
	var cluster func() error
	if o.Delete {
		var deleted map[string]bool
		given.Remove, deleted = o.toDelete(r)
		clusterChanges = operator.DiffUnwire(deleted, r.sub, r.observe)
		cluster = func() error {
			return operator.ApplyUnwire(ctx, o.kube, o.dyn, r.sub, clusterChanges, progressTo(o.ErrOut))
		}
	} else {
		if clusterChanges, err = operator.DiffWiring(r.roles, r.observe); err != nil {
			return fmt.Errorf("%w\nnothing was changed", err)
		}
		for _, role := range r.roles {
			given.Want = append(given.Want, role.Role)
		}
		cluster = func() error {
			return operator.ApplyWiring(ctx, o.kube, o.dyn, r.roles, r.observe, clusterChanges, progressTo(o.ErrOut))
		}
	}
	res, err := o.converge(ctx, r, given, clusterChanges, cluster)
	if err != nil {
		return err
	}
	doc := o.result(r, res.Changes, clusterChanges)
	if o.Output != "" {
		return printObject(o.Out, o.Output, doc)
	}
	if o.Delete {
		o.deleteSummary(r, res)
		return nil
	}
	o.summary(r, len(res.Changes)+len(clusterChanges))
	return nil
}

// converge shows the AWS and the cluster changes, confirms, then makes
// them: AWS first (a role must exist before anything names it), then the
// cluster; deleting, the cluster first (a role stays findable by its tags
// until nothing names it). Both are idempotent: a re-run finishes an
// interrupted one.
func (o *OperatorOptions) converge(ctx context.Context, r *operatorRun, given *provision.GivenRoles, clusterChanges []operator.ClusterChange, cluster func() error) (*provision.Result, error) {
	rerun := "oc sts operator"
	if o.Delete {
		rerun += " --delete"
	}
	ui := &operatorUI{terminalUI: terminalUI{in: o.In, errOut: o.ErrOut, yes: o.Yes}, cluster: clusterChanges, account: r.id.Account}
	if o.DryRun && o.Output == "" {
		ui.plan = o.Out // a dry run's result is the changes
	}
	clusterDone := len(clusterChanges) == 0
	opts := provision.Options{DryRun: o.DryRun}
	if o.Delete {
		opts.BeforeWrite = func(context.Context) error {
			if err := cluster(); err != nil {
				return fmt.Errorf("%w\nAWS is not changed yet; run %s again", err, rerun)
			}
			clusterDone = true
			return nil
		}
	}
	in := provision.Input{
		Plan: plan.Input{Name: r.target.Name, AccountID: r.id.Account, Region: o.Region, RolePath: r.target.RolePath,
			BucketHost: bucketHost(o.Region, r.target.Name)},
		Issuer: awsid.IssuerURL(r.target.IssuerHost),
		Only:   []provision.Resource{provision.RoleResource}, // the issuer and its provider are prepare's
		Roles:  given,
	}
	res, err := provision.Converge(ctx, r.c, in, opts, ui)
	if err != nil {
		return nil, convergeError(ctx, err, rerun)
	}
	if o.DryRun || clusterDone {
		return res, nil
	}
	if !ui.confirmed {
		if err := ui.Confirm(""); err != nil {
			return nil, err
		}
	}
	if err := cluster(); err != nil {
		if len(res.Made) > 0 {
			return nil, fmt.Errorf("%w\nAWS is changed; run %s again to finish the cluster's side", err, rerun)
		}
		return nil, fmt.Errorf("%w\nrun %s again to finish", err, rerun)
	}
	return res, nil
}

// operatorUI shows the cluster's changes beside AWS's and asks for both at once.
type operatorUI struct {
	terminalUI
	cluster   []operator.ClusterChange
	account   string
	changes   int
	confirmed bool
}

func (u *operatorUI) Changes(p provision.Preview) {
	u.terminalUI.Changes(p)
	u.changes = len(p.Changes)
	w := u.terminalUI.plan
	if w == nil {
		w = u.errOut
	}
	if len(u.cluster) == 0 {
		fmt.Fprintln(w, "The cluster already has the wiring: nothing to change.")
		return
	}
	fmt.Fprintln(w, "In the cluster:")
	for _, ch := range u.cluster {
		fmt.Fprintln(w, ch.String())
	}
}

func (u *operatorUI) Confirm(string) error {
	u.confirmed = true
	return u.terminalUI.Confirm(fmt.Sprintf("Make these %d changes in AWS account %s and %d in the cluster?", u.changes, u.account, len(u.cluster)))
}

// toDelete are the operator's roles (by name) and their ARNs: those owned
// by the cluster's name and tagged with the operator's Subscription or
// with one of its -f requests.
func (o *OperatorOptions) toDelete(r *operatorRun) ([]string, map[string]bool) {
	keys := map[string]bool{}
	for _, q := range r.reqs {
		if !q.InCluster || r.sub == nil {
			keys[operator.TagValue(q.Key())] = true
		}
	}
	var names []string
	arns := map[string]bool{}
	for _, n := range slices.Sorted(maps.Keys(r.have)) {
		h := r.have[n]
		mine := r.sub != nil && h.Tags[operator.SubscriptionTag] == operator.TagValue(r.sub.Key())
		if !operator.IsOperatorRole(h.Tags) || !awsid.Owned(h.Tags, r.target.Name) || !(mine || keys[h.Tags[operator.RequestTag]]) {
			continue
		}
		names = append(names, n)
		arns[h.ARN] = true
	}
	return names, arns
}

// read gathers the operator's requests, the cluster's issuer, and the roles AWS has.
func (o *OperatorOptions) read(ctx context.Context) (*operatorRun, error) {
	r := &operatorRun{}
	var csv *operator.CSV
	var cluster []operator.Request
	var err error
	if o.Subscription != "" {
		if r.sub, err = operator.ReadSubscription(ctx, o.dyn, o.namespace, o.Subscription); err != nil {
			return nil, err
		}
		if csv, err = operator.ReadCSV(ctx, o.dyn, o.namespace, r.sub.InstalledCSV); err != nil {
			return nil, err
		}
		if csv == nil && !o.Delete {
			return nil, fmt.Errorf("subscription %s has installed no ClusterServiceVersion yet (status.installedCSV %q): approve its InstallPlan and wait for the CSV to succeed (oc get csv -n %s), then run again", r.sub.Key(), r.sub.InstalledCSV, o.namespace)
		}
		if cluster, err = operator.FromCluster(ctx, o.dyn, r.sub, o.sas); err != nil {
			return nil, err
		}
	}
	var files []operator.Request
	if len(o.Filenames) > 0 {
		if files, err = operator.FromFiles(o.Filenames, o.placeholder, o.sas); err != nil {
			return nil, err
		}
	}
	r.reqs = operator.Merge(cluster, files)
	if len(r.reqs) == 0 && !o.Delete && r.sub != nil {
		return nil, fmt.Errorf("the operator of subscription %s has made no AWS CredentialsRequest in the cluster (yet): give the one its bundle or docs ship with -f FILE", r.sub.Key())
	}
	if err := o.sas.CheckKnown(r.reqs); err != nil {
		return nil, err
	}
	for _, q := range r.reqs {
		fmt.Fprintf(o.ErrOut, "Permissions of CredentialsRequest %s: from %s\n", q.Key(), q.Origin)
	}
	if r.wiring, err = operator.Assign(r.reqs, r.sub, csv); err != nil {
		return nil, err
	}
	issuer, err := operator.ReadIssuer(ctx, o.dyn)
	if err != nil {
		return nil, err
	}
	if o.Region == "" {
		o.Region = clustercheck.ReadRegion(ctx, o.dyn)
	}
	if r.c, r.id, err = connect(ctx, o.Profile, o.Region); err != nil {
		return nil, err
	}
	if err := o.readTarget(ctx, r, strings.TrimPrefix(issuer, "https://")); err != nil {
		return nil, err
	}
	subKey := ""
	if r.sub != nil {
		subKey = r.sub.Key()
	}
	if r.roles, err = operator.Roles(r.target, subKey, r.reqs, r.wiring); err != nil {
		return nil, err
	}
	r.observe, err = operator.ObserveWiring(ctx, o.kube, o.dyn, r.sub, r.roles)
	return r, err
}

// readTarget finds the cluster in AWS: its issuer's IAM OIDC provider, the
// name prepare used (the provider's ownership tag) and prepare's roles,
// whose path, boundary and tags the operator's roles take unless given.
func (o *OperatorOptions) readTarget(ctx context.Context, r *operatorRun, host string) error {
	t := operator.Target{Name: o.Name, Partition: r.id.Partition, AccountID: r.id.Account, IssuerHost: host,
		ProviderARN: awsid.ProviderARN(r.id.Partition, r.id.Account, host),
		RolePath:    o.RolePath, PermissionsBoundary: o.PermissionsBoundary, Tags: o.Tags}
	pr, err := provision.ReadProvider(ctx, r.c, t.ProviderARN)
	if err != nil {
		return err
	}
	if !pr.Exists {
		return fmt.Errorf("AWS account %s has no IAM OIDC provider %s for the cluster's issuer: the roles could not be assumed; run oc sts prepare (or oc sts verify, which says what is missing)", r.id.Account, t.ProviderARN)
	}
	if t.Name == "" {
		names := awsid.Owners(pr.Tags)
		if len(names) != 1 {
			return fmt.Errorf("cannot tell the name oc sts prepare used from the IAM OIDC provider %s (ownership tags: %v): give --name", t.ProviderARN, names)
		}
		t.Name = names[0]
	}
	if r.have, err = provision.ReadOwnedRoles(ctx, r.c, t.Name, "/"); err != nil {
		return err
	}
	if ref, ok := prepareRole(r.have); ok {
		what := []string{}
		if o.inherit["role-path"] {
			t.RolePath = ref.Path
			what = append(what, "path "+ref.Path)
		}
		if o.inherit["permissions-boundary"] && ref.Boundary != "" {
			t.PermissionsBoundary = ref.Boundary
			what = append(what, "boundary "+ref.Boundary)
		}
		if o.inherit["tag"] {
			t.Tags = userTags(ref.Tags)
			if len(t.Tags) > 0 {
				what = append(what, "tags "+strings.Join(slices.Sorted(maps.Keys(t.Tags)), ", "))
			}
		}
		if len(what) > 0 {
			fmt.Fprintf(o.ErrOut, "Role settings as prepare's role %s: %s\n", ref.Name, strings.Join(what, "; "))
		}
	}
	r.target = t
	return nil
}

// prepareRole is one of prepare's roles (owned, not an operator's), the
// first by name.
func prepareRole(have map[string]provision.RoleState) (provision.RoleState, bool) {
	for _, n := range slices.Sorted(maps.Keys(have)) {
		if !operator.IsOperatorRole(have[n].Tags) && len(awsid.Owners(have[n].Tags)) > 0 {
			return have[n], true
		}
	}
	return provision.RoleState{}, false
}

// userTags are the tags of a role the user gave prepare: not the
// ownership tag, not oc sts's own.
func userTags(tags map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range tags {
		if !awsid.IsOwnershipTag(k) && !strings.HasPrefix(k, "oc-sts.openshift.io/") {
			out[k] = v
		}
	}
	return out
}

// deleteSummary says what --delete did.
func (o *OperatorOptions) deleteSummary(r *operatorRun, res *provision.Result) {
	switch {
	case o.DryRun:
		fmt.Fprintln(o.Out, "--dry-run: nothing was changed.")
	case len(res.Changes) == 0:
		fmt.Fprintln(o.Out, "No role of this operator is left in AWS.")
	default:
		fmt.Fprintf(o.Out, "Deleted %d roles of the operator from AWS account %s.\n", len(res.Made), r.id.Account)
	}
}

// result is the -o document of a run.
func (o *OperatorOptions) result(r *operatorRun, changes []provision.Change, clusterChanges []operator.ClusterChange) operatorResult {
	res := operatorResult{APIVersion: plan.APIVersion, Kind: "OperatorResult", Name: r.target.Name, AccountID: r.id.Account, Delete: o.Delete, DryRun: o.DryRun,
		Roles: r.roles, Changes: changes, ClusterChanges: clusterChanges}
	if r.sub != nil {
		res.Subscription = r.sub.Key()
	}
	if res.Roles == nil || o.Delete {
		res.Roles = []operator.Role{}
	}
	if res.Changes == nil {
		res.Changes = []provision.Change{}
	}
	if res.ClusterChanges == nil {
		res.ClusterChanges = []operator.ClusterChange{}
	}
	return res
}

// summary says, per role, how it reaches the operator, and the next step.
func (o *OperatorOptions) summary(r *operatorRun, n int) {
	switch {
	case o.DryRun && n > 0:
		fmt.Fprintln(o.Out, "--dry-run: nothing was changed.")
	case n == 0:
		fmt.Fprintln(o.Out, "The operator's roles and wiring already match: nothing changed.")
	}
	token := false
	for _, role := range r.roles {
		how := "Secret " + role.Wiring.Secret
		if role.Wiring.Env != "" {
			how = role.Wiring.Env + " in subscription " + r.sub.Key() + " (Secret " + role.Wiring.Secret + " by the cloud-credential-operator)"
			token = true
		}
		fmt.Fprintf(o.Out, "Role %s for CredentialsRequest %s: %s\n", role.ARN, role.Request.Key(), how)
	}
	if o.DryRun {
		return
	}
	if token {
		fmt.Fprintln(o.Out, "Next: OLM restarts the operator with the new environment and it puts the role in its CredentialsRequest; then check with oc sts verify --token-exchange.")
	} else {
		fmt.Fprintln(o.Out, "Next: restart the operator's pods if they were running without the Secret; then check with oc sts verify --token-exchange.")
	}
}
