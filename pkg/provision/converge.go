package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// Input is what Converge makes AWS match.
type Input struct {
	// Plan is what the desired state is computed from. Its AccountID, when
	// set, must be the caller's (Converge fills it in), and BucketHost is
	// resolved when empty. A private issuer's distribution is found by its
	// ownership tag; a new one's domain is known after apply.
	Plan plan.Input
	// Keys, when set, gives Plan.JWKS once it is ready: the signer key
	// (whose generation takes seconds) is then made while AWS is read.
	Keys func(context.Context) ([]byte, error)
	// Issuer, when set, is a running cluster's issuer URL: the plan must
	// have it — the public bucket's, or a distribution's that serves it.
	Issuer string
	// Only limits Converge to these resources (nil: all of the plan's). A
	// resource they need and that is not converged must already be there:
	// roles need the provider, objects the bucket.
	Only []Resource
	// Delete makes the plan "nothing of Plan.Name's": every resource that
	// carries its ownership tag (roles under Plan.RolePath) is deleted.
	Delete bool
	// Previous is the plan an earlier run kept, a hint: with none, changes
	// are certain, and the permission check runs beside the reads; a private
	// issuer's distribution is looked up by its domain first.
	Previous *plan.Plan
	// Roles, when set, are the roles converged in place of those of the
	// plan's CredentialsRequests (which it then needs none of): a day-2
	// operator's, made against the issuer and provider of a running
	// cluster. Only must be [RoleResource].
	Roles *GivenRoles
}

// GivenRoles are roles a caller built itself, with the roles to delete.
type GivenRoles struct {
	Want []plan.Role
	// Remove are owned roles to delete, by name (those a caller chose by
	// their tags); one that is gone or not owned is left alone.
	Remove []string
}

// noKeys stands for the signer key set where the issuer's objects are not
// converged: no name or role depends on it.
var noKeys = []byte(`{"keys":[]}`)

// Options are how Converge goes about it.
type Options struct {
	DryRun bool
	// Prune deletes the owned roles the plan no longer has.
	Prune bool
	// ReplacePublishedKeys lets a published keys.json lose keys.
	ReplacePublishedKeys bool
	// WaitTimeout bounds the wait for a CloudFront distribution to deploy.
	WaitTimeout time.Duration
	// Check sees the plan once AWS is read, before anything is made: an
	// error stops the run (prepare checks the files it will write).
	Check func(*plan.Plan) error
	// BeforeWrite runs once the changes are confirmed, before the first
	// write (prepare keeps the signer key before its public half is out).
	BeforeWrite func(context.Context) error
	// Verify runs once AWS matches the plan (a distribution deployed): a
	// caller proves what it needs of it (that the issuer serves a key set).
	Verify func(context.Context, *plan.Plan) error
}

// UI is what Converge needs from the person running it.
type UI interface {
	// Progress shows a line of what is going on.
	Progress(format string, args ...any)
	// Changes shows the changes found, before any is made.
	Changes(Preview)
	// Confirm asks whether to go on; an error stops before any write.
	Confirm(question string) error
}

// Preview is what Converge found to do.
type Preview struct {
	Caller  Identity
	Plan    *plan.Plan // nil when deleting
	Changes []Change
	Delete  bool
}

// Result is what Converge found and did.
type Result struct {
	Caller Identity
	// Plan is the desired state, every value known once applied (nil when deleting).
	Plan    *plan.Plan
	Changes []Change // the differences found
	Made    []Change // those made (with DryRun: none)
	Left    []Change // when deleting failed: what is left
	// Observed is what AWS had when it was read.
	Observed *Observed
}

// Observed is what AWS has of a plan's resources.
type Observed struct {
	Bucket   BucketState
	Provider ProviderState
	// Roles are the plan's roles that exist, and every other role carrying
	// the ownership tag (candidates for --prune), by name.
	Roles map[string]RoleState
	// AccountBlock is the account-level S3 public access block, read for a
	// public issuer; nil when unread.
	AccountBlock *plan.PublicAccessBlock
	// Distribution serves a private issuer; nil when there is none (yet).
	Distribution *Distribution
	// Warnings are what could not be checked, for the user to know.
	Warnings []string
}

// Converge makes AWS match the input's plan — the one converge sequence of
// every command that changes AWS: read who the caller is and what exists,
// diff, show the changes, check the caller may make them, confirm, make
// them, wait for what must deploy. Every AWS call starts as soon as what it
// depends on is done: the signer key, the permission check and the reads
// run side by side. Every step is idempotent: after a failure or an
// interruption, running it again converges. A failed apply is an
// *ApplyError listing the changes made before it.
func Converge(ctx context.Context, c *Clients, in Input, opts Options, ui UI) (*Result, error) {
	x := &converger{c: c, in: in, opts: opts, ui: ui, res: &Result{}, obs: &Observed{Roles: map[string]RoleState{}}}
	x.res.Observed = x.obs
	x.progress = once(func(format string, args ...any) { ui.Progress("  "+format, args...) })
	x.private = in.Plan.IssuerKind == plan.PrivateCloudFront
	if in.Roles != nil {
		if !slices.Equal(in.Only, []Resource{RoleResource}) || in.Delete || opts.Prune {
			return x.res, errors.New("provision: given roles are converged alone (Only: roles, no Delete, no Prune)")
		}
		x.in.Plan.IssuerOnly, x.in.Plan.Requests = true, nil
		if len(x.in.Plan.JWKS) == 0 {
			x.in.Plan.JWKS = noKeys
		}
	}
	if in.Delete {
		return x.res, x.destroy(ctx)
	}
	return x.res, x.converge(ctx)
}

type converger struct {
	c        *Clients
	in       Input
	opts     Options
	ui       UI
	progress Progress
	res      *Result

	private bool
	scope   map[Resource]bool
	mu      sync.Mutex // Observed.Warnings, written by steps side by side
	obs     *Observed
	jwks    []byte
	plan    *plan.Plan
	perm    permissions // a permission check made beside the reads
	changes []Change
	owned   Owned
}

func (x *converger) warn(w string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.obs.Warnings = append(x.obs.Warnings, w)
}

// whoami is the first call of every run: the account names everything.
func (x *converger) whoami(ctx context.Context) error {
	region := x.in.Plan.Region
	id, err := WhoAmI(ctx, x.c, region)
	x.res.Caller = id
	if err != nil {
		return err
	}
	if want := x.in.Plan.AccountID; want != "" && want != id.Account {
		return fmt.Errorf("--account-id %s, but the AWS credentials are for account %s (%s): use that account's credentials or drop --account-id", want, id.Account, id.ARN)
	}
	x.in.Plan.AccountID = id.Account
	if x.in.Plan.BucketHost == "" {
		x.in.Plan.BucketHost, _ = S3Host(region, plan.BucketName(x.in.Plan.Name)) // a bad name is the plan's to say
	}
	return nil
}

// input is the plan's input with the issuer found (only steps after the
// issuer's may ask for it) and, with keys, the signer key set.
func (x *converger) input(keys bool) plan.Input {
	in := x.in.Plan
	if x.private {
		in.IssuerKind = plan.PrivateCloudFront
		if d := x.obs.Distribution; d != nil {
			in.CloudFrontDomain, in.DistributionARN = d.Domain, d.ARN
		}
	}
	if keys {
		in.JWKS = x.jwks
	}
	return in
}

func (x *converger) converge(ctx context.Context) error {
	x.scope = map[Resource]bool{BucketResource: true, ObjectResource: true, ProviderResource: true, RoleResource: true, DistributionResource: x.private}
	if len(x.in.Only) > 0 {
		x.scope = map[Resource]bool{}
		for _, r := range x.in.Only {
			x.scope[r] = true
		}
	}
	if err := x.observe(ctx); err != nil {
		return err
	}
	p := x.plan
	x.res.Plan = p
	for _, w := range x.obs.Warnings {
		x.ui.Progress("warning: %s", w)
	}
	changes, err := x.diff(p, x.obs)
	if err != nil {
		return fmt.Errorf("%w\n(nothing was changed)", err)
	}
	if err := x.keepPublishedKeys(p); err != nil {
		return err
	}
	x.changes, x.res.Changes = changes, changes
	x.ui.Changes(Preview{Caller: x.res.Caller, Plan: p, Changes: changes})
	if x.opts.Check != nil {
		if err := x.opts.Check(p); err != nil {
			return err
		}
	}
	if stale := Stale(p, x.obs); x.scope[RoleResource] && x.in.Roles == nil && len(stale) > 0 && !x.opts.Prune {
		x.ui.Progress("note: oc sts roles no CredentialsRequest needs any more: %s (--prune deletes them)", strings.Join(stale, ", "))
	}
	if x.opts.DryRun {
		return nil
	}
	if len(changes) > 0 {
		if err := x.permitted(ctx, changes); err != nil {
			return err
		}
		if err := x.ui.Confirm(fmt.Sprintf("Apply these %d changes to AWS account %s?", len(changes), x.res.Caller.Account)); err != nil {
			return err
		}
		if x.opts.BeforeWrite != nil {
			if err := x.opts.BeforeWrite(ctx); err != nil {
				return err
			}
		}
		x.ui.Progress("Applying:")
		if err := x.apply(ctx); err != nil {
			return err
		}
	}
	if x.private && x.scope[DistributionResource] {
		if err := waitDeployed(ctx, x.c, x.obs.Distribution.ID, x.opts.WaitTimeout, x.progress); err != nil {
			return &ApplyError{Err: err, Done: x.res.Made}
		}
	}
	if x.opts.Verify != nil {
		return x.opts.Verify(ctx, x.plan)
	}
	return nil
}

// observe reads, side by side, all that the diff needs: who the caller is
// first (the account names everything), then the issuer (a private one's
// distribution), the bucket, the provider, the roles, the account's Block
// Public Access, and a published key set about to be replaced. The signer
// key is awaited only by the plan; with no earlier plan (changes are
// certain) the permission check of every call the scope can make runs here.
func (x *converger) observe(ctx context.Context) error {
	c, g := x.c, &graph{}
	name := x.in.Plan.Name
	who := g.add([]call{stsWhoAmI}, x.whoami)
	keys := g.add(nil, func(ctx context.Context) (err error) {
		if x.jwks = x.in.Plan.JWKS; x.in.Keys != nil {
			x.jwks, err = x.in.Keys(ctx)
		}
		return err
	})
	issuer := g.add([]call{cfFind}, x.findIssuer, who)
	var names plan.Names
	named := g.add(nil, func(context.Context) (err error) {
		names, err = plan.NamesOf(x.in.Plan) // the roles' names do not depend on the issuer
		if r := x.in.Roles; r != nil {
			names.Roles, names.RolePath = slices.Clone(r.Remove), cmp.Or(x.in.Plan.RolePath, "/")
			for _, role := range r.Want {
				names.Roles = append(names.Roles, role.Name)
			}
		}
		return err
	}, who)
	var bucket *step
	if x.scope[BucketResource] || x.scope[ObjectResource] {
		bucket = g.add([]call{s3ReadBucket}, func(ctx context.Context) (err error) {
			x.obs.Bucket, err = observeBucket(ctx, c, names.Bucket)
			return err
		}, named)
	}
	if x.scope[BucketResource] && !x.private { // a private issuer needs no public access
		g.add([]call{s3GetAccountAccessBlock}, func(ctx context.Context) error {
			block, warning, err := accountBlock(ctx, c, x.res.Caller.Account)
			x.obs.AccountBlock = block
			if warning != "" {
				x.warn(warning)
			}
			return err
		}, who)
	}
	if x.scope[ProviderResource] || x.scope[RoleResource] {
		g.add([]call{iamGetProvider}, func(ctx context.Context) error {
			n, err := plan.NamesOf(x.input(false))
			if err != nil || n.ProviderARN == "" { // known after apply: it cannot exist yet
				return err
			}
			x.obs.Provider, err = ReadProvider(ctx, c, n.ProviderARN)
			return err
		}, issuer, named)
	}
	if x.scope[RoleResource] {
		g.add([]call{iamReadRoles}, func(ctx context.Context) (err error) {
			x.obs.Roles, err = observeRoles(ctx, c, name, names.Roles, names.RolePath)
			return err
		}, named)
	}
	if x.in.Previous == nil && !x.opts.DryRun {
		g.add([]call{iamSimulate}, func(ctx context.Context) error {
			x.perm = simulate(ctx, c, x.res.Caller, declaredActions(x.resources()...))
			return nil
		}, who)
	}
	planned := g.add(nil, func(context.Context) (err error) {
		x.plan, err = x.build()
		return err
	}, issuer, keys, named)
	if bucket != nil && x.scope[ObjectResource] {
		g.add([]call{s3GetObject}, func(ctx context.Context) (err error) {
			x.obs.Bucket.PublishedJWKS, err = publishedJWKS(ctx, c, x.plan, x.obs.Bucket)
			return err
		}, planned, bucket)
	}
	return g.run(ctx, c.Concurrency)
}

// build is the plan of what is known so far, with the given roles in
// place of the CredentialsRequests'.
func (x *converger) build() (*plan.Plan, error) {
	p, err := plan.Build(x.input(true))
	if err == nil && x.in.Roles != nil {
		p.Roles = slices.Clone(x.in.Roles.Want)
	}
	return p, err
}

// resources are the kinds Converge may change.
func (x *converger) resources() []Resource {
	var out []Resource
	for r, in := range x.scope {
		if in {
			out = append(out, r)
		}
	}
	return out
}

// findIssuer finds a private issuer's distribution and, for a running
// cluster's issuer, which of ours it is; then says what is compared.
func (x *converger) findIssuer(ctx context.Context) error {
	in, c := x.in.Plan, x.c
	public := awsid.IssuerURL(in.BucketHost)
	switch {
	case x.in.Issuer != "" && x.in.Issuer == public:
		x.private = false
	case x.in.Issuer != "":
		host := awsid.IssuerHost(x.in.Issuer)
		d, err := FindDistribution(ctx, c, in.Name, host)
		if err != nil {
			return err
		}
		if d == nil || d.Domain != host {
			return fmt.Errorf("the cluster's issuer %s is not the one oc sts prepare --name %s makes (%s, or its CloudFront distribution's): apply the changes listed by hand", x.in.Issuer, in.Name, public)
		}
		x.private, x.obs.Distribution = true, d
	case x.private:
		if err := PrivateIssuerSupported(in.Region); err != nil {
			return err
		}
		hint := ""
		if x.in.Previous != nil {
			hint = x.in.Previous.Issuer.HostPath
		}
		d, err := FindDistribution(ctx, c, in.Name, hint)
		if err != nil {
			return err
		}
		x.obs.Distribution = d
	}
	what := public
	if x.private {
		what = "a new CloudFront issuer (its domain is known once it is created)"
		if d := x.obs.Distribution; d != nil {
			what = awsid.IssuerURL(d.Domain)
		}
	}
	x.ui.Progress("Comparing AWS account %s (%s) with the plan for %s...", x.res.Caller.Account, x.res.Caller.ARN, what)
	return nil
}

// diff is the changes the scope needs, in the order they are made, or
// every reason AWS cannot be made to match.
func (x *converger) diff(p *plan.Plan, o *Observed) ([]Change, error) {
	var changes []Change
	var conflicts []error
	add := func(ch *Change, err error) *Change {
		if err != nil {
			conflicts = append(conflicts, err)
		}
		if ch != nil {
			changes = append(changes, *ch)
		}
		return ch
	}
	if x.scope[DistributionResource] && o.Distribution == nil {
		add(&Change{Resource: DistributionResource, Name: p.Distribution.CallerReference, Action: Create, delta: &distributionDelta{want: p.Distribution}}, nil)
	}
	switch {
	case x.scope[BucketResource]:
		ch := add(diffBucket(p, o))
		add(nil, publicIssuerBlocked(p, o, ch))
	case x.scope[ObjectResource] && (!o.Bucket.Exists || o.Bucket.Foreign || o.Bucket.InOtherRegion || !awsid.Owned(o.Bucket.Tags, p.Name)):
		add(nil, fmt.Errorf("the issuer bucket %s is not oc sts's %s in this account and region: oc sts prepare makes it", p.Bucket.Name, p.Name))
	}
	if x.scope[ObjectResource] {
		changes = append(changes, diffObjects(p, o)...)
	}
	switch {
	case x.scope[ProviderResource]:
		add(diffProvider(p, o))
	case x.scope[RoleResource]:
		// The roles' trust names the provider: it must be there already.
		ch, err := diffProvider(p, o)
		if err == nil && ch != nil && ch.Action == Create {
			err = fmt.Errorf("the IAM OIDC provider %s of the cluster's issuer does not exist: oc sts prepare makes it", p.OIDCProvider.ARN)
		}
		add(nil, err)
	}
	if x.scope[RoleResource] {
		var remove []string
		if x.in.Roles != nil {
			remove = x.in.Roles.Remove
		}
		roles, errs := diffRoles(p, o, x.opts.Prune, remove)
		changes, conflicts = append(changes, roles...), append(conflicts, errs...)
	}
	return changes, errors.Join(conflicts...)
}

// keepPublishedKeys refuses to replace a published JWKS holding keys this
// run's signer key is not, unless ReplacePublishedKeys says so.
func (x *converger) keepPublishedKeys(p *plan.Plan) error {
	dropped, err := DroppedKeys(p, x.obs)
	if err != nil || len(dropped) == 0 {
		return err
	}
	if x.opts.ReplacePublishedKeys {
		x.ui.Progress("warning: replacing the published signer keys %s (--replace-published-keys, or a key rotation's retire); tokens they signed will be rejected", strings.Join(dropped, ", "))
		return nil
	}
	return fmt.Errorf("s3://%s/%s publishes signer keys (kid %s) that this run's key is not: uploading it would make AWS reject every token a running cluster signed with them.\n"+
		"Run prepare with the key that published them (the install dir or --state-dir of that cluster), choose another --name for a new cluster, "+
		"or, if no cluster uses them any more, pass --replace-published-keys (to change a running cluster's key, use oc sts rotate-key: it has no such outage).\n(nothing was changed)",
		p.Bucket.Name, oidckeys.JWKSPath, strings.Join(dropped, ", "))
}

// applier is what the changes' steps are added with.
type applier struct {
	c        *Clients
	plan     *plan.Plan
	g        *graph
	made     *madeChanges
	progress Progress
	changes  []Change
	// first is what every step waits for (nil: nothing); bucket and
	// provider are their creation, when there is one.
	first, bucket, provider *step
}

func (x *converger) applier(p *plan.Plan, changes []Change, made *madeChanges, progress Progress) *applier {
	a := &applier{c: x.c, plan: p, g: &graph{}, made: made, progress: progress, changes: changes}
	for i := range changes {
		changes[i].delta.steps(a, &changes[i])
	}
	return a
}

// permitted checks with IAM's policy simulator that the caller may make
// every call of the changes' steps; where it cannot be asked, it warns.
func (x *converger) permitted(ctx context.Context, changes []Change) error {
	needed := x.applier(x.plan, slices.Clone(changes), &madeChanges{}, func(string, ...any) {}).g.actions()
	perm := x.perm
	if !perm.covers(needed) {
		perm = simulate(ctx, x.c, x.res.Caller, needed)
	}
	if !perm.ok {
		x.ui.Progress("warning: could not check the permissions of %s with iam:SimulatePrincipalPolicy; a denied call will stop the run", x.res.Caller.ARN)
		return nil
	}
	if missing := perm.missing(needed); len(missing) > 0 {
		return fmt.Errorf("%s lacks permissions these changes need: %s (nothing was changed)", x.res.Caller.ARN, strings.Join(missing, ", "))
	}
	return nil
}

// apply makes the changes. A new distribution is the first link: its
// domain is the issuer, which the provider, the trust policies, the
// discovery document and the bucket policy name, so once it exists the
// plan is built with it and diffed again against what was read (no new
// read), and the rest is made.
func (x *converger) apply(ctx context.Context) error {
	made := &madeChanges{}
	changes := x.changes
	fail := func(err error) error {
		x.res.Made = made.sorted()
		return &ApplyError{Err: err, Done: x.res.Made}
	}
	if len(changes) > 0 && changes[0].Resource == DistributionResource {
		first := x.applier(x.plan, changes[:1], made, x.progress)
		if err := first.g.run(ctx, x.c.Concurrency); err != nil {
			return fail(err)
		}
		x.obs.Distribution = changes[0].delta.(*distributionDelta).created
		p, err := x.build()
		if err != nil {
			return fail(err)
		}
		rest, err := x.diff(p, x.obs)
		if err == nil {
			err = sameChanges(changes[1:], rest)
		}
		if err != nil {
			return fail(err)
		}
		x.plan, x.res.Plan, changes = p, p, rest
	}
	if err := x.applier(x.plan, changes, made, x.progress).g.run(ctx, x.c.Concurrency); err != nil {
		return fail(err)
	}
	x.res.Made = made.sorted()
	return nil
}

// sameChanges checks that the changes made once a new issuer's domain is
// known are those shown before (the provider then has its name).
func sameChanges(shown, now []Change) error {
	for _, ch := range now {
		if !slices.ContainsFunc(shown, func(s Change) bool {
			return s.Resource == ch.Resource && s.Action == ch.Action && (s.Name == ch.Name || ch.Resource == ProviderResource)
		}) {
			return fmt.Errorf("with the new distribution's domain the plan needs a change that was not shown (%s %s %s): run the same command again to see it", ch.Action, ch.Resource, ch.Name)
		}
	}
	return nil
}

// destroy deletes every resource that carries the ownership tag.
func (x *converger) destroy(ctx context.Context) error {
	c, name := x.c, x.in.Plan.Name
	rolePath := x.in.Plan.RolePath
	if rolePath == "" {
		rolePath = "/"
	}
	g := &graph{}
	who := g.add([]call{stsWhoAmI}, func(ctx context.Context) error {
		if err := x.whoami(ctx); err != nil {
			return err
		}
		x.ui.Progress("Looking for resources tagged %s=%s in AWS account %s...", awsid.OwnershipTagKey(name), awsid.OwnedValue, x.res.Caller.Account)
		return nil
	})
	g.add([]call{s3ReadBucket, iamListProviders, iamReadRoles, cfFind}, func(ctx context.Context) (err error) {
		x.owned, err = findOwned(ctx, c, name, rolePath)
		return err
	}, who)
	g.add([]call{iamSimulate}, func(ctx context.Context) error {
		x.perm = simulate(ctx, c, x.res.Caller, declaredActions(DistributionResource, BucketResource, ObjectResource, ProviderResource, RoleResource))
		return nil
	}, who)
	if err := g.run(ctx, c.Concurrency); err != nil {
		return err
	}
	changes := x.owned.changes(x.opts.WaitTimeout)
	x.changes, x.res.Changes = changes, changes
	x.ui.Changes(Preview{Caller: x.res.Caller, Changes: changes, Delete: true})
	if x.opts.DryRun || len(changes) == 0 {
		return nil
	}
	if err := x.permitted(ctx, changes); err != nil {
		return err
	}
	if err := x.ui.Confirm(fmt.Sprintf("Delete these %d resources from AWS account %s?", len(changes), x.res.Caller.Account)); err != nil {
		return err
	}
	made := &madeChanges{}
	err := x.applier(nil, changes, made, x.progress).g.run(ctx, c.Concurrency)
	x.res.Made = made.sorted()
	if err == nil {
		return nil
	}
	// What is left, as AWS has it now (even when interrupted).
	if left, ferr := findOwned(context.WithoutCancel(ctx), c, name, rolePath); ferr == nil {
		x.res.Left = left.changes(0)
	}
	return &ApplyError{Err: err, Done: x.res.Made}
}

// Diff is what Converge changes, over every resource of p, with what AWS
// has (o): in the order the changes are made, or every reason AWS cannot be
// made to match p.
func Diff(p *plan.Plan, o *Observed, prune bool) ([]Change, error) {
	private := p.Bucket.Private
	x := &converger{opts: Options{Prune: prune}, private: private,
		scope: map[Resource]bool{BucketResource: true, ObjectResource: true, ProviderResource: true, RoleResource: true, DistributionResource: private}}
	return x.diff(p, o)
}
