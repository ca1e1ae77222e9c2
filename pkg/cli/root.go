// Package cli is the oc sts command tree, in the kubectl/oc style: each
// command has an Options struct with Complete, Validate and Run.
package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/oc-sts/oc-sts/pkg/provision"
)

// ExitError carries the process exit code of a failed command.
type ExitError struct {
	Code int
	Err  error
	// Quiet: the output already said it all (prepare --detailed-exitcode's 2).
	Quiet bool
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitInterrupted is the exit code of a run stopped by SIGINT or SIGTERM,
// as shells report a command ended by Ctrl-C.
const ExitInterrupted = 130

// ExitChangesPending is prepare --dry-run --detailed-exitcode's exit code
// when AWS does not match the plan, as `terraform plan -detailed-exitcode`.
const ExitChangesPending = 2

// Quiet says whether err needs no message: its command's output said it.
func Quiet(err error) bool {
	var ee *ExitError
	return errors.As(err, &ee) && ee.Quiet
}

// ExitCode maps an error returned by the command tree to a process exit code.
func ExitCode(err error) int {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if err != nil {
		return 1
	}
	return 0
}

// DisplayName is how help and usage name the plugin: oc and kubectl run
// the oc-sts / kubectl-sts binary as `oc sts` / `kubectl sts`.
const DisplayName = "oc sts"

// NewRootCmd builds `oc sts` (installed as the oc-sts / kubectl-sts binary).
func NewRootCmd(streams genericiooptions.IOStreams) *cobra.Command {
	var level int
	cmd := &cobra.Command{
		Use:         "oc-sts",
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: DisplayName},
		Short:       "Set up, verify and upgrade OpenShift clusters that use AWS STS short-lived credentials",
		Long: `oc sts makes OpenShift's "manual mode with AWS STS" one command.

  prepare        add everything an STS install needs to an openshift-install directory
  verify         prove a running cluster uses short-lived credentials end to end
  upgrade-check  list the AWS changes a target release needs, and apply them
  rotate-key     rotate the service-account signer key, no token ever rejected
  destroy        remove the AWS resources prepare created
  operator       give a day-2 OLM operator its AWS role and wire it in`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Every command's AWS calls report their retries on stderr.
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			cmd.SetContext(provision.WithCallLog(cmd.Context(), provision.CallLog{Out: streams.ErrOut, Level: level}))
		},
	}
	// klog's -v, as in oc and kubectl: how much to say about AWS calls.
	cmd.PersistentFlags().IntVarP(&level, "v", "v", 0, "Log level of the AWS calls: 2 says every retry (by default only those of a call retrying for seconds), 6 every call with its outcome and duration.")
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	withFlagGroups(cmd)
	cmd.AddCommand(
		NewPrepareCmd(streams),
		NewVerifyCmd(streams),
		NewUpgradeCmd(streams),
		NewDestroyCmd(streams),
		NewOperatorCmd(streams),
		NewRotateKeyCmd(streams),
		NewVersionCmd(streams),
	)
	return cmd
}

// options is the kubectl-style life of a command: complete from the
// environment, validate, run.
type options interface {
	Complete() error
	Validate() error
	Run(ctx context.Context) error
}

func runOptions(o options) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if c, ok := o.(interface{ Close() }); ok {
			defer c.Close() // what Complete took: directory locks
		}
		if err := o.Complete(); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}
