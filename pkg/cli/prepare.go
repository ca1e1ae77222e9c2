package cli

import (
	"context"
	"errors"
	"fmt"
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
	DetailedExitCode       bool
	awsFlags
	changeFlags
	hiveFlags
	installerFlags

	target target
	locks  localDirs
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
	f.DurationVar(&o.WaitTimeout, "wait-timeout", 20*time.Minute, "With --private-bucket, how long to wait for the CloudFront distribution to deploy.")
	f.BoolVar(&o.Prune, "prune", false, "Also delete the roles oc sts created for CredentialsRequests this release no longer has.")
	f.BoolVar(&o.ReplacePublishedKeys, "replace-published-keys", false, "Replace the issuer's published keys.json even though it holds signer keys this run's key is not: every token they signed, a running cluster's included, is then rejected.")
	o.awsFlags.Bind(cmd)
	o.changeFlags.Bind(cmd)
	f.BoolVar(&o.DetailedExitCode, "detailed-exitcode", false, "With --dry-run: exit 0 when AWS matches the plan, 2 when changes are pending, 1 on error (as terraform plan -detailed-exitcode).")
	o.installerFlags.Bind(cmd)
	addOutputFlag(cmd, &o.Output)
	o.hiveFlags.Bind(cmd)
	cmd.MarkFlagDirname("dir")
	cmd.MarkFlagDirname("state-dir")
	cmd.MarkFlagDirname("credentials-requests-dir")
	return cmd
}

// installDir is the install dir of an install-dir target; nil for a Hive hub.
func (o *PrepareOptions) installDir() *installdir.Dir {
	if t, ok := o.target.(*installDirTarget); ok {
		return t.dir
	}
	return nil
}

// Complete chooses the target (an install dir, or a Hive hub), takes its
// directories and fills in defaults from it.
func (o *PrepareOptions) Complete() error {
	o.target = &installDirTarget{}
	if o.Hive {
		o.target = &hiveTarget{hiveFlags: &o.hiveFlags}
	}
	if err := o.target.complete(o); err != nil {
		return err
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
	if err := o.target.validate(o); err != nil {
		return err
	}
	switch {
	case o.ReleaseImage != "" && o.CredentialsRequestsDir != "":
		return errors.New("give either --release-image or --credentials-requests-dir, not both")
	case o.Offline && o.AccountID == "":
		return errors.New("--account-id is required with --offline: the role and provider ARNs name the account")
	case o.DetailedExitCode && !o.DryRun:
		return errors.New("--detailed-exitcode goes with --dry-run: it says whether changes are pending")
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
	key := o.startSignerKey() // generating one takes seconds: beside the rest
	files, major, err := o.credentialsRequests(ctx)
	if err != nil {
		return err
	}
	settings := o.target.installConfig().Inclusion
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
	in := plan.Input{
		Name: o.Name, AccountID: o.AccountID, Region: o.Region, Requests: sel.Requests,
		RolePath: o.RolePath, PermissionsBoundary: o.PermissionsBoundary, Tags: o.Tags,
		BucketHost: bucketHost(o.Region, o.Name),
	}
	// Before any AWS change: an install-config the installer rejects stops here.
	if err := o.createManifests(ctx); err != nil {
		return err
	}
	if !o.Offline {
		return o.runOnline(ctx, in, key)
	}
	signer, jwks, err := key.wait(ctx)
	if err != nil {
		return err
	}
	in.JWKS = jwks
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
	return o.write(ctx, p, nil, signer)
}

// write puts the state dir and the target's files in place, all or
// nothing, then has the target report.
func (o *PrepareOptions) write(ctx context.Context, p *plan.Plan, changes []provision.Change, signer *oidckeys.Signer) error {
	files, err := o.files(p, signer)
	if err != nil {
		return err
	}
	// The state dir first: the signer key is kept before the installer can see it.
	changed, err := atomicfs.Write(ctx, o.StateDir, files)
	if err != nil {
		return writeError(err)
	}
	return o.target.report(ctx, o, p, changes, signer, changed)
}

// files are the state dir's and the target's files for p.
func (o *PrepareOptions) files(p *plan.Plan, signer *oidckeys.Signer) ([]atomicfs.File, error) {
	files, err := statedir.Files(o.StateDir, p, signer)
	if err != nil {
		return nil, err
	}
	more, err := o.target.files(o, p, signer)
	return append(files, more...), err
}

// runOnline makes AWS match the plan (provision.Converge: observe, show,
// check, confirm, apply) and only then writes the install dir.
func (o *PrepareOptions) runOnline(ctx context.Context, in plan.Input, key *signerKey) error {
	c, err := clients(ctx, o.Profile, o.Region)
	if err != nil {
		return err
	}
	if o.PrivateBucket {
		in.IssuerKind = plan.PrivateCloudFront
	}
	previous, _ := statedir.ReadPlan(o.StateDir) // a hint: nil when there is none
	res, err := provision.Converge(ctx, c, provision.Input{Plan: in, Previous: previous,
		Keys: func(ctx context.Context) ([]byte, error) {
			_, jwks, err := key.wait(ctx)
			return jwks, err
		}},
		provision.Options{DryRun: o.DryRun, Prune: o.Prune, ReplacePublishedKeys: o.ReplacePublishedKeys, WaitTimeout: o.WaitTimeout,
			Check: func(p *plan.Plan) error {
				signer, _, err := key.wait(ctx)
				if err != nil {
					return err
				}
				return o.checkLocal(p, signer)
			},
			BeforeWrite: func(ctx context.Context) error {
				// The key is kept before its public half is published.
				signer, _, err := key.wait(ctx)
				if err != nil {
					return err
				}
				if _, err := atomicfs.Write(ctx, o.StateDir, statedir.KeyFiles(o.StateDir, signer)); err != nil {
					return writeError(err)
				}
				return nil
			}},
		o.ui())
	if err != nil {
		return convergeError(ctx, err, "oc sts prepare")
	}
	if o.DryRun {
		if o.Output != "" {
			if err := printObject(o.Out, o.Output, prepareDocument{Plan: res.Plan, Changes: res.Changes}); err != nil {
				return err
			}
		}
		if o.DetailedExitCode && len(res.Changes) > 0 {
			return &ExitError{Code: ExitChangesPending, Err: fmt.Errorf("%d changes pending", len(res.Changes)), Quiet: true}
		}
		return nil
	}
	signer, _, err := key.wait(ctx)
	if err != nil {
		return err
	}
	return o.write(ctx, res.Plan, res.Changes, signer)
}

// ui shows a human dry run's changes on stdout, as its result; -o keeps
// stdout for the document, and an apply shows them as progress.
func (o *PrepareOptions) ui() terminalUI {
	u := terminalUI{in: o.In, errOut: o.ErrOut, yes: o.Yes}
	if o.DryRun && o.Output == "" {
		u.plan = o.Out
	}
	return u
}

// prepareDocument is prepare's -o json|yaml: the plan (its fields inline,
// as plan.json has them) and, online, the changes found.
type prepareDocument struct {
	*plan.Plan
	Changes []provision.Change `json:"changes,omitempty"`
}
