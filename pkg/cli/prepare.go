package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/installdir"
	"github.com/oc-sts/oc-sts/pkg/installer"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
	"github.com/oc-sts/oc-sts/pkg/rotation"
	"github.com/oc-sts/oc-sts/pkg/statedir"
)

const prepareExample = `  # Show what AWS needs, then create it and prepare the install dir:
  oc sts prepare --dir ./mycluster --dry-run
  oc sts prepare --dir ./mycluster --yes

  # Render everything offline, for an AWS admin to apply (CloudFormation or a script):
  oc sts prepare --dir ./mycluster --credentials-requests-dir ./credreqs \
    --offline --account-id 123456789012

  # Get the CredentialsRequests of a release first:
  oc adm release extract --credentials-requests --included \
    --install-config ./mycluster/install-config.yaml --to ./credreqs "$RELEASE_IMAGE"

  # Check a dir prepared earlier as the installer will read it:
  oc sts prepare --dir ./mycluster --check

  # Print the plan as JSON, and show which CredentialsRequests were left out and why:
  oc sts prepare --dir ./mycluster --credentials-requests-dir ./credreqs \
    --offline --account-id 123456789012 -o json -v`

// PrepareOptions are the inputs of `oc sts prepare`.
type PrepareOptions struct {
	Dir                    string
	StateDir               string
	CredentialsRequestsDir string
	ReleaseImage           string
	RegistryConfig         string
	Insecure               bool
	Offline                bool
	AccountID              string
	Name                   string
	Region                 string
	RolePath               string
	PermissionsBoundary    string
	PrivateBucket          bool
	CloudFrontDomain       string
	DistributionARN        string
	Tags                   map[string]string
	Output                 string
	Verbose                bool
	Prune                  bool
	ReplacePublishedKeys   bool
	WaitTimeout            time.Duration
	awsFlags
	hiveFlags
	installerFlags

	installDir *installdir.Dir
	locks      localDirs
	genericiooptions.IOStreams
}

// NewPrepareCmd builds `oc sts prepare`.
func NewPrepareCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &PrepareOptions{IOStreams: streams, Dir: "."}
	cmd := &cobra.Command{
		Use:   "prepare",
		Short: "Prepare an openshift-install directory for AWS STS (manual credentials mode)",
		Long: `Prepare reads an openshift-install directory and the release's CredentialsRequests,
keeps those the cluster will include (the cluster-version operator's rules, as
'oc adm release extract --included' applies them), and computes the AWS plan: an
OIDC issuer (discovery documents in S3), the IAM OIDC provider and one IAM role per
CredentialsRequest. It then writes into the install dir the credentials Secrets,
manifests/cluster-authentication-02-config.yaml, tls/bound-service-account-signing-key.key,
and sets credentialsMode: Manual in install-config.yaml, keeping every comment.

The installer reads manifests/ only once 'openshift-install create manifests'
has run: until then files there are silently left out. So when install-config.yaml
is not consumed yet, prepare runs 'openshift-install create manifests' (found by
--installer, $OPENSHIFT_INSTALL, then PATH) on a copy of the dir, before any AWS
change, and moves its output in together with its own files in one atomic write
(--no-installer leaves that step to you). After a docs-order 'create manifests'
it adds its files to the consumed dir. Either way it ends by checking the dir as
the installer will read it; --check does only that, for a dir prepared earlier.

Online (the default) it compares the AWS account with the plan, shows the changes
(+ create, ~ update, - delete), and once confirmed (--yes) applies only those,
then writes the install dir. Re-running converges: drift is repaired, nothing
oc sts does not own is touched, and a run with nothing to change changes nothing.

With --offline no AWS call is made: the plan is written to the state dir as
plan.json and, for an AWS admin, as a CloudFormation template
(aws/cloudformation.yaml) and a re-runnable aws CLI script (aws/apply.sh, with
aws/delete.sh). A private issuer offline takes two stages: the first renders
the stack of the CloudFront distribution, whose outputs --cloudfront-domain and
--distribution-arn then render the rest.
An existing signer key is always reused. Every write is atomic.`,
		Example: prepareExample,
		Args:    cobra.NoArgs,
		RunE:    runOptions(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", o.Dir, "The openshift-install directory (with install-config.yaml).")
	f.StringVar(&o.StateDir, "state-dir", "", "Where oc sts keeps the signer key pair, plan.json and the rendering for an AWS admin, aws/ (default <dir>/"+statedir.DirName+"; with --hive $XDG_STATE_HOME/oc-sts/<name>).")
	f.StringVar(&o.CredentialsRequestsDir, "credentials-requests-dir", "", "A directory of release manifests holding CredentialsRequests (oc adm release extract --credentials-requests).")
	f.StringVar(&o.ReleaseImage, "release-image", "", "Read the CredentialsRequests from this release image (default: the one the installer will install: its state file's, $"+installer.ReleaseOverrideEnv+", then `openshift-install version`).")
	f.StringVarP(&o.RegistryConfig, "registry-config", "a", "", "Pull secret file for the release image, tried before $REGISTRY_AUTH_FILE, the install-config pullSecret and the docker/podman defaults.")
	f.BoolVar(&o.Insecure, "insecure", false, "Allow a plain-HTTP or unverified-TLS registry for the release image.")
	f.BoolVar(&o.Offline, "offline", false, "Make no AWS call: write the plan and an aws CLI script instead of creating AWS resources (a --release-image is still pulled).")
	f.StringVar(&o.AccountID, "account-id", "", "The 12-digit AWS account ID (required with --offline).")
	f.StringVar(&o.Name, "name", "", "Prefix of every AWS resource name (default: metadata.name of install-config.yaml).")
	f.StringVar(&o.Region, "region", "", "AWS region (default: platform.aws.region of install-config.yaml).")
	f.StringVar(&o.RolePath, "role-path", "/", "IAM path of the roles, like /openshift/.")
	f.StringVar(&o.PermissionsBoundary, "permissions-boundary", "", "ARN of an IAM policy set as every role's permissions boundary.")
	f.BoolVar(&o.PrivateBucket, "private-bucket", false, "Serve the issuer from a private S3 bucket through CloudFront.")
	f.StringVar(&o.CloudFrontDomain, "cloudfront-domain", "", "With --offline --private-bucket: the distribution's domain, output CloudFrontDomain of the stage-1 stack.")
	f.StringVar(&o.DistributionARN, "distribution-arn", "", "With --offline --private-bucket: the distribution's ARN, output DistributionArn of the stage-1 stack.")
	f.StringToStringVar(&o.Tags, "tag", nil, "Extra AWS tag KEY=VALUE on every resource (repeatable).")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "List every CredentialsRequest found, included or not, and why.")
	f.StringVar(&o.Profile, "profile", "", "AWS shared-config profile (default: $AWS_PROFILE, then the default credential chain).")
	f.BoolVar(&o.DryRun, "dry-run", false, "Show the changes AWS needs and stop: nothing is created and the install dir is not written.")
	f.BoolVarP(&o.Yes, "yes", "y", false, "Apply the changes without asking (required when stdin is not a terminal).")
	f.DurationVar(&o.WaitTimeout, "wait-timeout", 20*time.Minute, "With --private-bucket, how long to wait for the CloudFront distribution to deploy.")
	f.BoolVar(&o.Prune, "prune", false, "Also delete the roles oc sts created for CredentialsRequests this release no longer has.")
	f.BoolVar(&o.ReplacePublishedKeys, "replace-published-keys", false, "Replace the issuer's published keys.json even though it holds signer keys this run's key is not: every token they signed, a running cluster's included, is then rejected.")
	o.hiveFlags.add(cmd)
	o.installerFlags.add(cmd)
	addOutputFlag(cmd, &o.Output)
	cmd.MarkFlagDirname("dir")
	cmd.MarkFlagDirname("state-dir")
	cmd.MarkFlagDirname("credentials-requests-dir")
	return cmd
}

// Complete locks the install dir and state dir, reads the install dir and
// fills in defaults from it.
func (o *PrepareOptions) Complete() error {
	if o.Hive {
		return o.completeHive()
	}
	if err := o.lockDirs(); err != nil {
		return err
	}
	d, err := installdir.Open(o.Dir)
	if err != nil {
		return err
	}
	o.installDir = d
	if o.Name == "" {
		o.Name = d.Config.ClusterName
	}
	if o.Region == "" {
		o.Region = d.Config.Region
	}
	return o.findInstaller()
}

// Close releases the directories.
func (o *PrepareOptions) Close() { o.locks.Close() }

// Validate checks the flags before anything is read from the network or written.
func (o *PrepareOptions) Validate() error {
	if err := validateOutput(o.Output); err != nil {
		return err
	}
	if o.Hive {
		if err := o.validateHive(); err != nil {
			return err
		}
	} else if o.Region != o.installDir.Config.Region {
		return fmt.Errorf("--region %s differs from platform.aws.region %s in %s: the issuer must be in the cluster's region", o.Region, o.installDir.Config.Region, o.installDir.Config.File)
	}
	switch {
	case o.ReleaseImage != "" && o.CredentialsRequestsDir != "":
		return errors.New("give either --release-image or --credentials-requests-dir, not both")
	case o.Offline && o.AccountID == "":
		return errors.New("--account-id is required with --offline: the role and provider ARNs name the account")
	case o.Offline && (o.DryRun || o.Prune || o.Profile != ""):
		return errors.New("--dry-run, --prune and --profile act on AWS: they cannot be combined with --offline")
	}
	if err := o.validateHandoff(); err != nil {
		return err
	}
	return o.validateInstaller()
}

// Run computes the plan and writes the install dir and state dir atomically.
func (o *PrepareOptions) Run(ctx context.Context) error {
	if o.Check {
		return o.runCheck()
	}
	files, major, err := o.credentialsRequests(ctx)
	if err != nil {
		return err
	}
	settings := o.installConfig().Inclusion
	settings.MajorVersion = major
	settings.Release, settings.ReleaseName = files, "the release image"
	if o.CredentialsRequestsDir != "" {
		settings.ReleaseName = "--credentials-requests-dir " + o.CredentialsRequestsDir
	}
	inclusion, err := credreq.NewInclusion(settings)
	if err != nil {
		return err
	}
	if a := inclusion.GateAssumption(files); a != "" {
		fmt.Fprintln(o.ErrOut, "warning:", a)
	}
	sel, err := credreq.Select(files, inclusion)
	if err != nil {
		return err
	}
	if o.Verbose {
		printDecisions(o.ErrOut, sel.Decisions)
		printSources(o.ErrOut, inclusion.Sources(files))
	}
	installKey := ""
	if o.installDir != nil {
		installKey = o.installDir.SignerKeyPath()
	}
	keyPaths, err := rotation.SignerKeyPaths(o.StateDir, installKey)
	if err != nil {
		return err
	}
	signer, err := oidckeys.LoadOrGenerate(keyPaths...)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "Signer key: %s\n", keyNote(signer))
	jwks, err := rotation.PublishedJWKS(o.StateDir, signer) // a rotation under way keeps both keys published
	if err != nil {
		return err
	}
	in := plan.Input{
		Name: o.Name, AccountID: o.AccountID, Region: o.Region, Requests: sel.Requests, JWKS: jwks,
		RolePath: o.RolePath, PermissionsBoundary: o.PermissionsBoundary, Tags: o.Tags,
	}
	// Before any AWS change: an install-config the installer rejects stops here.
	if err := o.createManifests(ctx); err != nil {
		return err
	}
	if !o.Offline {
		return o.runOnline(ctx, in, signer)
	}
	if o.PrivateBucket {
		o.privateIssuer(&in)
	}
	p, err := plan.Build(in)
	if err != nil {
		return err
	}
	if err := o.checkLocal(p, signer); err != nil {
		return err
	}
	if o.privateStage1() {
		return o.writeIssuerStage(ctx, p)
	}
	return o.write(ctx, p, signer)
}

// write puts the state dir and the install dir in place, all or nothing.
func (o *PrepareOptions) write(ctx context.Context, p *plan.Plan, signer *oidckeys.Signer) error {
	if o.Hive {
		return o.writeHive(ctx, p, signer)
	}
	stateFiles, err := statedir.Files(o.StateDir, p, signer)
	if err != nil {
		return err
	}
	// The state dir first: the signer key is kept before the installer can see it.
	changed, err := atomicfs.Write(ctx, o.StateDir, o.finalFiles(stateFiles, p, signer))
	if err != nil {
		return writeError(err)
	}
	checked := ""
	if !o.NoInstaller || o.installDir.Consumed {
		if checked, err = o.verifyInstallDir(p, signer); err != nil {
			return err
		}
	}
	if o.Output != "" {
		fmt.Fprintln(o.ErrOut, checked)
		return printObject(o.Out, o.Output, p)
	}
	return o.summary(p, signer, changed, checked)
}

func (o *PrepareOptions) summary(p *plan.Plan, signer *oidckeys.Signer, changed []string, checked string) error {
	w := o.Out
	fmt.Fprintf(w, "Prepared %s for AWS STS (%d CredentialsRequests; %s; %d files changed).\n", o.Dir, len(p.Roles), keyNote(signer), len(changed))
	fmt.Fprintf(w, "  issuer:        %s\n  OIDC provider: %s\n", p.Issuer.URL, p.OIDCProvider.ARN)
	for _, r := range p.Roles {
		fmt.Fprintf(w, "  role:          %s  (%s/%s)\n", r.ARN, r.CredentialsRequest.SecretNamespace, r.CredentialsRequest.SecretName)
	}
	if checked != "" {
		fmt.Fprintln(w, checked)
	} else {
		fmt.Fprintf(w, "\nThe installer reads manifests/ only after `create manifests`: running `create cluster` first would drop every credential.\n")
	}
	if !o.Offline {
		fmt.Fprintf(w, "\nAWS account %s matches the plan (%s).\nNext:\n", p.AccountID, filepath.Join(o.StateDir, statedir.PlanFile))
		for _, step := range o.installSteps() {
			fmt.Fprintf(w, "  %s\n", step)
		}
		fmt.Fprintf(w, "  oc sts verify --token-exchange   # once the cluster is up\n")
		return nil
	}
	return o.offlineNext(p)
}

// runOnline observes AWS, shows the difference from the plan, applies it
// once confirmed, and only then writes the install dir.
func (o *PrepareOptions) runOnline(ctx context.Context, in plan.Input, signer *oidckeys.Signer) error {
	c, id, err := connect(ctx, o.Profile, o.Region, o.AccountID)
	if err != nil {
		return err
	}
	in.AccountID = id.Account
	var dist *provision.Distribution
	if o.PrivateBucket {
		if dist, err = o.distribution(ctx, c, &in); err != nil {
			return err
		}
	}
	p, observed, err := o.observe(ctx, c, id, in)
	if err != nil {
		return err
	}
	if o.PrivateBucket && dist == nil {
		p.Changes = append([]plan.Change{{Resource: plan.DistributionResource, Name: "for " + p.Bucket.Name, Action: plan.Create}}, p.Changes...)
		fmt.Fprintln(o.ErrOut, "  + cloudfront-distribution (new: the issuer URL is its domain, known once it is created)")
	}
	printChanges(o.ErrOut, p.Changes)
	if err := o.checkLocal(p, signer); err != nil {
		return err
	}
	if stale := provision.Stale(p, observed); len(stale) > 0 && !o.Prune {
		fmt.Fprintf(o.ErrOut, "note: oc sts roles no CredentialsRequest needs any more: %s (--prune deletes them)\n", strings.Join(stale, ", "))
	}
	if o.DryRun {
		if o.Output != "" {
			return printObject(o.Out, o.Output, p)
		}
		return nil
	}
	if len(p.Changes) > 0 {
		if err := checkPermissions(ctx, c, id, p.Changes, o.ErrOut); err != nil {
			return err
		}
		if !o.Yes {
			if err := confirm(o.In, o.ErrOut, fmt.Sprintf("Apply these %d changes to AWS account %s?", len(p.Changes), id.Account)); err != nil {
				return err
			}
		}
		// The key is kept before its public half is published.
		if _, err := atomicfs.Write(ctx, o.StateDir, statedir.KeyFiles(o.StateDir, signer)); err != nil {
			return writeError(err)
		}
		fmt.Fprintln(o.ErrOut, "Applying:")
		if o.PrivateBucket && dist == nil {
			// The issuer is the new distribution's domain: plan again with it.
			if dist, err = provision.CreateDistribution(ctx, c, o.Name, o.Region, p.Bucket.Tags, progressTo(o.ErrOut)); err != nil {
				return applyError(ctx, err, "oc sts prepare")
			}
			in.CloudFrontDomain, in.DistributionARN = dist.Domain, dist.ARN
			if p, observed, err = o.observe(ctx, c, id, in); err != nil {
				return applyError(ctx, err, "oc sts prepare")
			}
		}
		if err := provision.Apply(ctx, c, p, observed, p.Changes, progressTo(o.ErrOut)); err != nil {
			return applyError(ctx, err, "oc sts prepare")
		}
	}
	if dist != nil {
		if err := provision.WaitDeployed(ctx, c, dist.ID, o.WaitTimeout, progressTo(o.ErrOut)); err != nil {
			return applyError(ctx, err, "oc sts prepare")
		}
	}
	return o.write(ctx, p, signer)
}

// observe builds the plan and diffs AWS against it.
func (o *PrepareOptions) observe(ctx context.Context, c *provision.Clients, id provision.Identity, in plan.Input) (*plan.Plan, *provision.Observed, error) {
	p, err := plan.Build(in)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(o.ErrOut, "Comparing AWS account %s (%s) with the plan for %s...\n", id.Account, id.ARN, p.Issuer.URL)
	observed, err := provision.Observe(ctx, c, p)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range observed.Warnings {
		fmt.Fprintln(o.ErrOut, "warning: "+w)
	}
	if p.Changes, err = provision.Diff(p, observed, o.Prune); err != nil {
		return nil, nil, fmt.Errorf("%w\n(nothing was changed)", err)
	}
	if err := o.keepPublishedKeys(p, observed); err != nil {
		return nil, nil, err
	}
	return p, observed, nil
}

// keepPublishedKeys refuses to replace a published JWKS holding keys this
// run's signer key is not, unless --replace-published-keys says so.
func (o *PrepareOptions) keepPublishedKeys(p *plan.Plan, observed *provision.Observed) error {
	dropped, err := provision.DroppedKeys(p, observed)
	if err != nil || len(dropped) == 0 {
		return err
	}
	if o.ReplacePublishedKeys {
		fmt.Fprintf(o.ErrOut, "warning: --replace-published-keys: replacing the published signer keys %s; tokens they signed will be rejected\n", strings.Join(dropped, ", "))
		return nil
	}
	return fmt.Errorf("s3://%s/%s publishes signer keys (kid %s) that this run's key is not: uploading it would make AWS reject every token a running cluster signed with them.\n"+
		"Run prepare with the key that published them (the install dir or --state-dir of that cluster), choose another --name for a new cluster, "+
		"or, if no cluster uses them any more, pass --replace-published-keys (to change a running cluster's key, use oc sts rotate-key: it has no such outage).\n(nothing was changed)",
		p.Bucket.Name, oidckeys.JWKSPath, strings.Join(dropped, ", "))
}

// distribution finds the private issuer's distribution and points the plan
// input at it; until it exists the plan names a placeholder domain.
func (o *PrepareOptions) distribution(ctx context.Context, c *provision.Clients, in *plan.Input) (*provision.Distribution, error) {
	if err := provision.PrivateIssuerSupported(o.Region); err != nil {
		return nil, err
	}
	in.IssuerKind = plan.PrivateCloudFront
	hint := ""
	if prev, err := statedir.ReadPlan(o.StateDir); err == nil {
		hint = prev.Issuer.HostPath
	}
	d, err := provision.FindDistribution(ctx, c, o.Name, hint)
	if err != nil || d == nil {
		part, _ := plan.PartitionFor(o.Region)
		in.CloudFrontDomain, in.DistributionARN = "new-distribution.cloudfront.net", "arn:"+part.ID+":cloudfront::"+in.AccountID+":distribution/NEW"
		return nil, err
	}
	in.CloudFrontDomain, in.DistributionARN = d.Domain, d.ARN
	return d, nil
}
