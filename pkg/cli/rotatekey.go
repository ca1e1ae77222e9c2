package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/oc-sts/oc-sts/pkg/dirlock"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
	"github.com/oc-sts/oc-sts/pkg/rotation"
	"github.com/oc-sts/oc-sts/pkg/statedir"
)

// RotateKeyOptions are the inputs of `oc sts rotate-key`.
type RotateKeyOptions struct {
	ConfigFlags *genericclioptions.ConfigFlags
	Dir         string
	StateDir    string
	Region      string
	Output      string
	Status      bool
	RetireAfter time.Duration
	WaitTimeout time.Duration
	awsFlags
	changeFlags

	until       rotation.Step
	retireOnly  bool // the retire argument: finish a rotation, never begin one
	retireAfter *time.Duration
	plan        *plan.Plan
	signer      *oidckeys.Signer
	kube        kubernetes.Interface
	dyn         dynamic.Interface
	locks       localDirs
	genericiooptions.IOStreams
}

// NewRotateKeyCmd builds `oc sts rotate-key`.
func NewRotateKeyCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &RotateKeyOptions{IOStreams: streams, ConfigFlags: genericclioptions.NewConfigFlags(true)}
	cmd := &cobra.Command{
		Use:   "rotate-key [stage|roll|retire]",
		Short: "Rotate the service-account signer key of a running STS cluster, no token ever rejected",
		Long: `Rotate-key replaces the key the cluster signs service-account tokens with,
the key AWS trusts for every role, in three steps, each only once the one
before is proven:

  stage   generate a new RSA 4096 key (kept 0600 in the state dir, never
          uploaded) and publish it beside the current one; check that anyone
          fetching the issuer over HTTPS gets both (a CloudFront issuer's
          cached copy is invalidated).
  roll    hand the new key to the cluster as the kube-apiserver operator
          takes it (secret openshift-kube-apiserver-operator/
          next-bound-service-account-signing-key) and wait, at most
          --wait-timeout, until every kube-apiserver signs with it: the
          operator's status, /openid/v1/jwks and fresh tokens' kid.
  retire  once every token the old key signed has expired (the cluster's
          longest token lifetime after the roll, read from the
          kube-apiserver settings), publish the new key only. The old key
          stays archived 0600 in the state dir until you remove it.

Without an argument it stages and rolls, and retires too with --retire-after.
A step argument stops there (retire runs the others first). Every step is
recorded in the state dir before and after it acts: run the same command again
after a failure, a crash or Ctrl-C and it continues where it stopped. --status
says where a rotation stands.`,
		Example: `  # Stage and roll, then retire once it is safe (a second run):
  oc sts rotate-key --dir ./mycluster --yes
  oc sts rotate-key retire --dir ./mycluster --yes

  # All of it in one run, retiring the old key two hours after the roll:
  oc sts rotate-key --dir ./mycluster --retire-after 2h --yes

  # Where does it stand? What would the next run do?
  oc sts rotate-key --dir ./mycluster --status
  oc sts rotate-key --dir ./mycluster --dry-run`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{string(rotation.Stage), string(rotation.Roll), string(rotation.Retire)},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.until = rotation.Roll
			if len(args) == 1 {
				o.until = rotation.Step(args[0])
				o.retireOnly = o.until == rotation.Retire
			}
			if cmd.Flags().Changed("retire-after") {
				o.retireAfter = &o.RetireAfter
				if len(args) == 0 {
					o.until = rotation.Retire
				}
			}
			return runOptions(o)(cmd, args)
		},
	}
	bindKubeFlags(cmd, o.ConfigFlags)
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "The install dir oc sts prepare wrote (its state dir is <dir>/"+statedir.DirName+"; default: the current directory).")
	f.StringVar(&o.StateDir, "state-dir", "", "The state dir of the cluster's prepare (holds plan.json and the signer key).")
	f.StringVar(&o.Region, "region", "", "AWS region (default: the plan's).")
	o.awsFlags.Bind(cmd)
	o.changeFlags.Bind(cmd)
	f.BoolVar(&o.Status, "status", false, "Print where the rotation stands (recorded state, what the issuer serves and the cluster signs with) and change nothing.")
	f.DurationVar(&o.RetireAfter, "retire-after", 0, "Also retire the old key this long after the roll, and not before every token it signed has expired (the run waits).")
	f.DurationVar(&o.WaitTimeout, "wait-timeout", 30*time.Minute, "How long to wait for the cluster to sign with the new key, or for the issuer to serve the new key set.")
	addOutputFlag(cmd, &o.Output)
	cmd.MarkFlagDirname("dir")
	cmd.MarkFlagDirname("state-dir")
	return cmd
}

// Complete locks the state dir, finishes a write a killed run left half
// done, and reads the plan, the signer key and the kubeconfig.
func (o *RotateKeyOptions) Complete() error {
	if o.StateDir == "" {
		o.StateDir = statedir.Default(cmpOr(o.Dir, "."))
	}
	if err := o.locks.lock(o.StateDir, dirlock.Options{What: "state dir", NoFollow: true}); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: give --dir (the install dir oc sts prepare wrote) or --state-dir", err)
		}
		return err
	}
	if !o.Status && !o.DryRun {
		if err := recoverWrites(o.ErrOut, o.StateDir, append(statedir.Dirs(o.StateDir), rotation.Dirs(o.StateDir)...)...); err != nil {
			return err
		}
	}
	p, err := statedir.ReadPlan(o.StateDir)
	if err != nil {
		return err
	}
	if p.AccountID == "" || p.Issuer.URL == "" {
		return fmt.Errorf("the plan in %s names no AWS account or issuer: run oc sts prepare first", o.StateDir)
	}
	o.plan = p
	if o.Region == "" {
		o.Region = p.Region
	}
	key := statedir.SignerKeyPath(o.StateDir)
	if _, err := os.Lstat(key); err != nil {
		return fmt.Errorf("no signer key in the state dir (%w): rotate-key needs the key the cluster signs with", err)
	}
	if o.signer, err = oidckeys.LoadOrGenerate(key); err != nil {
		return err
	}
	o.kube, o.dyn, err = clusterClients(o.ConfigFlags)
	return err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Close releases the state dir.
func (o *RotateKeyOptions) Close() { o.locks.Close() }

// Validate checks the flags.
func (o *RotateKeyOptions) Validate() error {
	if err := validateOutput(o.Output); err != nil {
		return err
	}
	switch o.until {
	case rotation.Stage, rotation.Roll, rotation.Retire:
	default:
		return fmt.Errorf("unknown step %q: use stage, roll or retire", o.until)
	}
	switch {
	case o.retireAfter != nil && o.until != rotation.Retire:
		return fmt.Errorf("--retire-after retires the old key: it goes with no step argument or with retire, not with %s", o.until)
	case o.RetireAfter < 0:
		return errors.New("--retire-after must not be negative")
	case o.WaitTimeout <= 0:
		return errors.New("--wait-timeout must be positive")
	case o.Status && o.DryRun:
		return errors.New("--status and --dry-run both only look: give one")
	}
	return nil
}

// Run shows the status, or takes the rotation as far as asked.
func (o *RotateKeyOptions) Run(ctx context.Context) error {
	subjects := []rotation.Subject{}
	for _, r := range o.plan.Roles {
		for _, sa := range r.CredentialsRequest.ServiceAccounts {
			subjects = append(subjects, rotation.Subject{Namespace: r.CredentialsRequest.SecretNamespace, Name: sa})
		}
	}
	cluster := &rotation.KubeCluster{Kube: o.kube, Dyn: o.dyn, Subjects: subjects}
	if o.Status {
		return o.status(ctx, cluster)
	}
	c, id, err := connect(ctx, o.Profile, o.Region)
	if err != nil {
		return err
	}
	if id.Account != o.plan.AccountID {
		return fmt.Errorf("the plan in %s is for AWS account %s, but the AWS credentials are for account %s (%s): use that account's credentials (nothing was changed)", o.StateDir, o.plan.AccountID, id.Account, id.ARN)
	}
	ui := &rotateUI{o: o, c: c, id: id}
	r := &rotation.Rotator{StateDir: o.StateDir, Plan: o.plan, Signer: o.signer, Cluster: cluster, UI: ui,
		Issuer: &rotation.AWSIssuer{Clients: c, Plan: o.plan, Progress: progressTo(o.ErrOut), WaitTimeout: o.WaitTimeout}}
	st, intents, err := r.Run(ctx, rotation.Options{Until: o.until, RetireAfter: o.retireAfter, WaitTimeout: o.WaitTimeout, DryRun: o.DryRun,
		Begin: !o.retireOnly})
	if o.DryRun && err == nil {
		for _, in := range intents {
			fmt.Fprintln(o.ErrOut, "  "+in.What)
			for _, ch := range in.AWS {
				fmt.Fprintln(o.ErrOut, "  "+changeLine(ch))
			}
		}
		if len(intents) == 0 {
			fmt.Fprintln(o.ErrOut, "Nothing to do for", o.until+".")
		}
	}
	if err != nil {
		var notYet *rotation.NotYetError
		if !o.DryRun && o.recorded() && !errors.As(err, &notYet) {
			err = fmt.Errorf("%w\nThe rotation is recorded in %s (phase %s): run the same oc sts rotate-key again to continue", err, o.StateDir, phaseOf(st))
		}
		return err
	}
	if o.DryRun { // what is recorded, not what the run would begin
		if st, err = rotation.Load(o.StateDir); err != nil {
			return err
		}
	}
	report := rotation.NewReport(o.StateDir, o.plan, st, time.Now())
	report.Intents = intents
	if o.Output != "" {
		return printObject(o.Out, o.Output, report)
	}
	if !o.DryRun {
		fmt.Fprintf(o.Out, "Key rotation of %s: %s.\n", o.plan.Issuer.URL, phaseOf(st))
		fmt.Fprintf(o.Out, "  old key: %s\n  new key: %s\n", st.Previous.KID, st.Next.KID)
	}
	fmt.Fprintf(o.Out, "Next: %s\n", report.Next)
	return nil
}

// recorded: a rotation is recorded in the state dir.
func (o *RotateKeyOptions) recorded() bool {
	_, err := os.Stat(filepath.Join(o.StateDir, rotation.StateFile))
	return err == nil
}

func phaseOf(st *rotation.State) string {
	if st == nil {
		return "none"
	}
	return string(st.Phase)
}

// status prints the recorded state and what the issuer and cluster show now.
func (o *RotateKeyOptions) status(ctx context.Context, cluster *rotation.KubeCluster) error {
	st, err := rotation.Load(o.StateDir)
	if err != nil {
		return err
	}
	report := rotation.NewReport(o.StateDir, o.plan, st, time.Now())
	iss := &rotation.AWSIssuer{Plan: o.plan} // serving is read anonymously: no AWS credentials needed
	report.Observed = rotation.Observe(ctx, st, iss, cluster)
	if o.Output != "" {
		return printObject(o.Out, o.Output, report)
	}
	w := o.Out
	fmt.Fprintf(w, "Issuer %s, state dir %s\n", o.plan.Issuer.URL, o.StateDir)
	if st == nil {
		fmt.Fprintln(w, "No key rotation recorded.")
	} else {
		fmt.Fprintf(w, "Rotation: %s (started %s)\n  old key: %s\n  new key: %s\n", st.Phase, st.StartedAt.Local().Format(time.RFC3339), st.Previous.KID, st.Next.KID)
		for _, t := range []struct {
			what string
			at   *time.Time
		}{{"staged", st.StagedAt}, {"roll requested", st.RollRequestedAt}, {"rolled", st.RolledAt}, {"retire after", st.RetireAfter}, {"retired", st.RetiredAt}} {
			if t.at != nil {
				fmt.Fprintf(w, "  %-15s %s\n", t.what+":", t.at.Local().Format(time.RFC3339))
			}
		}
		if st.TokenLifetime != nil {
			fmt.Fprintf(w, "  tokens last at most %s (%s)\n", st.TokenLifetime.Max, st.TokenLifetime.Source)
		}
	}
	ob := report.Observed
	if ob.PublishedError != "" {
		fmt.Fprintf(w, "Issuer serves: unreadable (%s)\n", ob.PublishedError)
	} else {
		fmt.Fprintf(w, "Issuer serves: %s", strings.Join(ob.PublishedKIDs, ", "))
		if ob.PublishedHolds != "" {
			fmt.Fprintf(w, " (%s)", ob.PublishedHolds)
		}
		fmt.Fprintln(w)
	}
	if ob.ClusterError != "" {
		fmt.Fprintf(w, "Cluster: unreadable (%s)\n", ob.ClusterError)
	} else {
		fmt.Fprintf(w, "Cluster signs with: %s\n  accepts: %s\n", ob.SigningKID, strings.Join(ob.AcceptedKIDs, ", "))
		if ob.Rollout != "" {
			fmt.Fprintf(w, "  %s\n", ob.Rollout)
		}
	}
	fmt.Fprintf(w, "Next: %s\n", report.Next)
	return nil
}

// rotateUI prints progress on stderr and asks before the first change.
type rotateUI struct {
	o  *RotateKeyOptions
	c  *provision.Clients
	id provision.Identity
}

func (u *rotateUI) Progress(format string, args ...any) {
	fmt.Fprintf(u.o.ErrOut, "  "+format+"\n", args...)
}

func (u *rotateUI) Confirm(ctx context.Context, intents []rotation.Intent) error {
	fmt.Fprintf(u.o.ErrOut, "Key rotation of %s (AWS account %s, state dir %s):\n", u.o.plan.Issuer.URL, u.id.Account, u.o.StateDir)
	for _, in := range intents {
		fmt.Fprintln(u.o.ErrOut, "  "+in.What)
		for _, ch := range in.AWS {
			fmt.Fprintln(u.o.ErrOut, "  "+changeLine(ch))
		}
	}
	// The converge engine checks the caller may make each step's AWS changes
	// before it makes them.
	if u.o.Yes {
		return nil
	}
	return confirm(u.o.In, u.o.ErrOut, "Go on with the key rotation?")
}
