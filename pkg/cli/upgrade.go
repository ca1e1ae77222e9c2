package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
	"github.com/oc-sts/oc-sts/pkg/stsmanifests"
	"github.com/oc-sts/oc-sts/pkg/upgrade"
)

// couldNotTell is upgrade-check's exit code when it cannot decide.
const couldNotTell = 2

// UpgradeOptions are the inputs of `oc sts upgrade-check`.
type UpgradeOptions struct {
	ConfigFlags                   *genericclioptions.ConfigFlags
	To                            string
	CredentialsRequestsDir        string
	CurrentCredentialsRequestsDir string
	TargetVersion                 string
	RegistryConfig                string
	Insecure                      bool
	Apply                         bool
	Prune                         bool
	Name                          string
	Region                        string
	Output                        string
	Explain                       bool
	awsFlags
	changeFlags

	kube kubernetes.Interface
	dyn  dynamic.Interface
	genericiooptions.IOStreams
}

// NewUpgradeCmd builds `oc sts upgrade-check`.
func NewUpgradeCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &UpgradeOptions{IOStreams: streams, ConfigFlags: genericclioptions.NewConfigFlags(true)}
	cmd := &cobra.Command{
		Use:   "upgrade-check",
		Short: "Report (and apply) the AWS changes a target release needs before an upgrade",
		Long: `Upgrade-check compares the target release's CredentialsRequests, included as the
cluster-version operator will include them after the upgrade (the cluster's feature
set and gates, its capabilities and those the upgrade enables implicitly), with what
the cluster's roles actually grant and trust: new requests, actions the roles lack
(wildcards understood), service-account changes that break a trust policy, moved
Secrets, changed policy conditions, policies over IAM's size limit.

Exit 0: safe to upgrade; 1: changes are needed (each listed with what applies it);
2: it could not tell, and why (bad flags, no cluster or ClusterVersion, a target
without AWS CredentialsRequests, an unreadable release or directory).

--apply makes them with the converge engine of prepare (only the roles), creates
the missing Secrets and namespaces, checks again, and only when that check is safe
sets cloudcredential.openshift.io/upgradeable-to on CloudCredential cluster, which a
Manual-mode cluster needs before a minor upgrade.`,
		Example: `  oc sts upgrade-check --to 4.17.3                       # a version from the cluster's available updates
  oc sts upgrade-check --to quay.io/openshift-release-dev/ocp-release:4.17.3-x86_64 --apply --yes
  oc sts upgrade-check --credentials-requests-dir ./credreqs-4.17 --target-version 4.17.3 -o json`,
		Args: cobra.NoArgs,
	}
	run := runOptions(o)
	// Every failure before a verdict is "could not tell", usage errors included.
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return couldNotTellIf(run(cmd, args)) }
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return couldNotTellIf(err) })
	cmd.Args = func(cmd *cobra.Command, args []string) error { return couldNotTellIf(cobra.NoArgs(cmd, args)) }
	bindKubeFlags(cmd, o.ConfigFlags)
	f := cmd.Flags()
	f.StringVar(&o.To, "to", "", "Target: a release image pull spec, or a version among the cluster's available or conditional updates.")
	f.StringVar(&o.CredentialsRequestsDir, "credentials-requests-dir", "", "Target CredentialsRequests from a directory instead of a release image.")
	f.StringVar(&o.CurrentCredentialsRequestsDir, "current-credentials-requests-dir", "", "The current release's manifests (oc adm release extract --to DIR), when the cluster cannot tell what it runs (default: its objects, then its release image).")
	f.StringVar(&o.TargetVersion, "target-version", "", "The target's version, for the upgradeable-to annotation (default: the release image's).")
	f.StringVarP(&o.RegistryConfig, "registry-config", "a", "", "Pull secret for the release image (default: $REGISTRY_AUTH_FILE, the cluster's pull secret, docker/podman defaults).")
	f.BoolVar(&o.Insecure, "insecure", false, "Allow a plain-HTTP or unverified-TLS registry.")
	f.BoolVar(&o.Apply, "apply", false, "Make the changes, check again, then set the upgradeable-to annotation.")
	f.BoolVar(&o.Prune, "prune", false, "With --apply: delete oc sts roles of CredentialsRequests the target no longer has.")
	f.StringVar(&o.Name, "name", "", "The name prepare used (default: from the roles' ownership tags).")
	f.StringVar(&o.Region, "region", "", "AWS region (default: the cluster's Infrastructure).")
	o.awsFlags.Bind(cmd)
	o.changeFlags.Bind(cmd) // with --apply
	f.BoolVar(&o.Explain, "explain", false, "List every CredentialsRequest of the target, included or not and why, and what decided each feature gate and capability.")
	addOutputFlag(cmd, &o.Output)
	return cmd
}

func couldNotTellIf(err error) error {
	var ee *ExitError
	if err == nil || errors.As(err, &ee) {
		return err
	}
	return &ExitError{Code: couldNotTell, Err: fmt.Errorf("could not tell whether the upgrade is safe: %w", err)}
}

// Complete builds the cluster clients.
func (o *UpgradeOptions) Complete() (err error) {
	o.kube, o.dyn, err = clusterClients(o.ConfigFlags)
	return err
}

// Validate checks the flags.
func (o *UpgradeOptions) Validate() error {
	switch {
	case (o.To == "") == (o.CredentialsRequestsDir == ""):
		return errors.New("give the target: --to (a release image or an available update's version) or --credentials-requests-dir")
	case o.DryRun && !o.Apply, o.Prune && !o.Apply:
		return errors.New("--dry-run and --prune go with --apply")
	case o.Apply && o.To == "" && o.TargetVersion == "":
		return errors.New("--apply with --credentials-requests-dir needs --target-version: a directory does not say its version, and the upgradeable-to annotation names it")
	}
	if o.TargetVersion != "" {
		if _, err := upgrade.AnnotationNeeded(o.TargetVersion, &configv1.ClusterVersion{}); err != nil {
			return err
		}
	}
	return validateOutput(o.Output)
}

// Run compares, reports and, with --apply, converges.
func (o *UpgradeOptions) Run(ctx context.Context) error {
	st, err := upgrade.ReadState(ctx, o.dyn)
	if err != nil {
		return err
	}
	t, err := o.target(ctx, st)
	if err != nil {
		return err
	}
	if o.Apply && t.Version == "" {
		return fmt.Errorf("the version of %s is unknown: give --target-version for the upgradeable-to annotation", t.Name)
	}
	if _, err := upgrade.AnnotationNeeded(t.Version, st.ClusterVersion); err != nil && o.Apply {
		return err
	}
	pred, err := upgrade.Predict(ctx, st, upgrade.NewObjects(o.dyn, o.kube.Discovery()), t, o.currentRelease(st))
	if err != nil {
		return err
	}
	for _, w := range pred.Warnings {
		fmt.Fprintln(o.ErrOut, "warning:", w)
	}
	sel, err := credreq.Select(t.Files, pred.Inclusion)
	if err != nil {
		return err
	}
	if o.Explain {
		printDecisions(o.ErrOut, sel.Decisions)
		printSources(o.ErrOut, pred.Inclusion.Sources(t.Files))
		fmt.Fprintf(o.ErrOut, "What the current release runs: from %s.\n", pred.CurrentFrom)
	}
	report := upgradeReport{APIVersion: plan.APIVersion, Kind: "UpgradeReport", CurrentVersion: st.Current(), TargetVersion: t.Version, Warnings: pred.Warnings}
	if o.Region == "" {
		o.Region = clustercheck.ReadRegion(ctx, o.dyn)
	}
	c, id, err := connect(ctx, o.Profile, o.Region)
	if err != nil {
		return err
	}
	check := func() (clustercheck.ClusterFacts, map[string]*clustercheck.Role, error) {
		cluster, live, err := o.observe(ctx, c, id, sel.Requests)
		var operators []upgrade.Finding
		if err == nil {
			operators, err = operatorFindings(ctx, o, &live) // day-2 operators' requests are not the release's
		}
		if err == nil {
			report.Findings = append(upgrade.Compare(live, sel.Requests), upgrade.ImplicitFindings(sel.Requests, pred.Inclusion)...)
			report.Findings = append(report.Findings, operators...)
			upgrade.Sort(report.Findings)
			report.Safe = upgrade.Blocking(report.Findings) == 0
		}
		return cluster, live.Roles, err
	}
	cluster, roles, err := check()
	if err != nil {
		return err
	}
	if o.Apply && !report.Safe {
		if report.Applied, err = o.apply(ctx, c, cluster, roles, sel.Requests); err != nil {
			o.print(report)
			return &ExitError{Code: 1, Err: fmt.Errorf("%w\nthe upgradeable-to annotation was not set", err)}
		}
		if o.DryRun {
			o.print(report)
			return &ExitError{Code: 1, Err: fmt.Errorf("--dry-run: %d changes are needed before upgrading to %s; nothing was changed", upgrade.Blocking(report.Findings), t.Version)}
		}
		fmt.Fprintln(o.ErrOut, "Checking again...")
		if _, _, err := check(); err != nil {
			return err
		}
	}
	if err := o.annotate(ctx, st, t.Version, &report); err != nil {
		return err
	}
	if err := o.print(report); err != nil {
		return err
	}
	if !report.Safe {
		msg := fmt.Sprintf("%d changes are needed before upgrading to %s: oc sts upgrade-check --apply makes them", upgrade.Blocking(report.Findings), t.Version)
		if o.Apply {
			msg = fmt.Sprintf("%d changes are still needed after applying: the upgradeable-to annotation was not set", upgrade.Blocking(report.Findings))
		}
		return &ExitError{Code: 1, Err: errors.New(msg)}
	}
	return nil
}

// observe reads the cluster's requests, the Secrets a previous --apply made
// for the target's new ones, and the roles.
func (o *UpgradeOptions) observe(ctx context.Context, c *provision.Clients, id provision.Identity, target []credreq.Request) (clustercheck.ClusterFacts, upgrade.Live, error) {
	cluster, err := clustercheck.ReadCluster(ctx, o.kube, o.dyn)
	if err != nil {
		return cluster, upgrade.Live{}, err
	}
	host := awsid.IssuerHost(cluster.Issuer)
	if host == "" {
		return cluster, upgrade.Live{}, errors.New("the cluster has no service-account issuer (Authentication cluster): it is not an STS cluster; oc sts verify says more")
	}
	live := upgrade.Live{Requests: cluster.Requests, ProviderARN: awsid.ProviderARN(id.Partition, id.Account, host), IssuerHost: host,
		Namespaces: map[string]bool{}, Prepared: map[string]clustercheck.Request{}}
	if err := o.readPrepared(ctx, live, cluster, target); err != nil {
		return cluster, live, err
	}
	withPrepared := append([]clustercheck.Request(nil), cluster.Requests...)
	for _, r := range live.Prepared {
		withPrepared = append(withPrepared, r)
	}
	facts, err := clustercheck.ReadAWS(ctx, c.IAM, live.ProviderARN, withPrepared)
	if err != nil {
		return cluster, live, err
	}
	live.Roles = facts.Roles
	namespaces, err := o.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return cluster, live, err
	}
	for _, ns := range namespaces.Items {
		live.Namespaces[ns.Name] = true
	}
	return cluster, live, nil
}

// readPrepared reads the Secrets of target requests the cluster does not
// have yet: a previous --apply may have made them.
func (o *UpgradeOptions) readPrepared(ctx context.Context, live upgrade.Live, cluster clustercheck.ClusterFacts, target []credreq.Request) error {
	have := map[string]bool{}
	for _, r := range cluster.Requests {
		have[r.Name] = true
	}
	for _, t := range target {
		if have[t.Name()] {
			continue
		}
		ref := t.CR.Spec.SecretRef
		s, err := clustercheck.ReadSecret(ctx, o.kube, ref.Namespace, ref.Name)
		if err != nil {
			return err
		}
		live.Prepared[t.Name()] = clustercheck.Request{Name: t.Name(), SecretNamespace: ref.Namespace, SecretName: ref.Name, Secret: s}
	}
	return nil
}

// apply converges the roles with prepare's engine against the cluster's
// issuer and provider, then the Secrets; the annotation waits for a check
// after it.
func (o *UpgradeOptions) apply(ctx context.Context, c *provision.Clients, cluster clustercheck.ClusterFacts, roles map[string]*clustercheck.Role, target []credreq.Request) ([]provision.Change, error) {
	name := o.Name
	if name == "" {
		name = ownerName(roles)
	}
	if name == "" {
		return nil, errors.New("cannot tell which name oc sts prepare used (no role carries an ownership tag): give --name, or apply the changes listed by hand")
	}
	jwks, _ := json.Marshal(cluster.JWKS)
	in := provision.Input{
		Plan:   plan.Input{Name: name, Region: o.Region, Requests: target, JWKS: jwks, BucketHost: bucketHost(o.Region, name)},
		Issuer: cluster.Issuer,
		Only:   []provision.Resource{provision.RoleResource}, // the issuer, bucket and provider are prepare's
	}
	res, err := provision.Converge(ctx, c, in, provision.Options{DryRun: o.DryRun, Prune: o.Prune}, terminalUI{in: o.In, errOut: o.ErrOut, yes: o.Yes})
	if err != nil {
		return nil, convergeError(ctx, err, "oc sts upgrade-check --apply")
	}
	if o.DryRun {
		return res.Changes, nil
	}
	if err := stsmanifests.EnsureSecrets(ctx, o.kube, res.Plan.Roles, progressTo(o.ErrOut)); err != nil {
		return nil, applyError(ctx, err, "oc sts upgrade-check --apply")
	}
	return res.Changes, nil
}

// ownerName is the name in the ownership tag of the cluster's roles.
func ownerName(roles map[string]*clustercheck.Role) string {
	for _, r := range roles {
		if r != nil {
			if name := awsid.Owner(r.Tags); name != "" {
				return name
			}
		}
	}
	return ""
}
