package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/oc-sts/oc-sts/pkg/dirlock"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
	"github.com/oc-sts/oc-sts/pkg/statedir"
)

// DestroyOptions are the inputs of `oc sts destroy`.
type DestroyOptions struct {
	Name     string
	Region   string
	Dir      string
	StateDir string
	RolePath string
	Output   string
	Wait     time.Duration
	awsFlags
	changeFlags
	locks localDirs
	genericiooptions.IOStreams
}

// NewDestroyCmd builds `oc sts destroy`.
func NewDestroyCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &DestroyOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Delete the AWS resources oc sts prepare created for a name",
		Long: `Destroy deletes exactly the AWS resources that carry the ownership tag
openshift.io/cloud-credential-operator/<name>=owned: the issuer bucket and its
objects, a private issuer's CloudFront distribution (disabled, then deleted once
that has deployed) and its origin access control, the IAM OIDC provider and the
roles with their policies. Nothing
without that tag is touched. It exits non-zero and lists what is left when
any deletion fails; running it again finishes the job.`,
		Example: `  # After openshift-install destroy cluster:
  oc sts destroy --dir ./mycluster --yes

  # Without the install dir:
  oc sts destroy --name mycluster --region us-east-1 --dry-run`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "", "The name given to prepare (default: from the plan in --dir's state dir).")
	f.StringVar(&o.Region, "region", "", "AWS region (default: the plan's, then $AWS_REGION).")
	f.StringVar(&o.Dir, "dir", "", "An install dir oc sts prepared: the name, region and role path are read from its state dir.")
	f.StringVar(&o.StateDir, "state-dir", "", "The state dir (default <dir>/"+statedir.DirName+").")
	f.StringVar(&o.RolePath, "role-path", "", "IAM path the roles were created under (default: the plan's, else /).")
	o.awsFlags.Bind(cmd)
	o.changeFlags.Bind(cmd)
	f.DurationVar(&o.Wait, "wait-timeout", 30*time.Minute, "How long to wait for a CloudFront distribution to be disabled before it can be deleted.")
	addOutputFlag(cmd, &o.Output)
	return cmd
}

// Complete fills name, region and role path from a previous plan.
func (o *DestroyOptions) Complete() error {
	if o.StateDir == "" && o.Dir != "" {
		o.StateDir = statedir.Default(o.Dir)
	}
	if o.StateDir != "" {
		// No prepare may publish or converge while destroy deletes.
		if err := o.locks.lock(o.StateDir, dirlock.Options{What: "state dir", NoFollow: true}); err != nil {
			return err
		}
		p, err := statedir.ReadPlan(o.StateDir)
		if err != nil {
			return err
		}
		if o.Name == "" {
			o.Name = p.Name
		}
		if o.Region == "" {
			o.Region = p.Region
		}
		if o.RolePath == "" && len(p.Roles) > 0 {
			o.RolePath = p.Roles[0].Path
		}
	}
	if o.RolePath == "" {
		o.RolePath = "/"
	}
	return nil
}

// Close releases the state dir.
func (o *DestroyOptions) Close() { o.locks.Close() }

// Validate checks the inputs before any AWS call.
func (o *DestroyOptions) Validate() error {
	if o.Name == "" {
		return errors.New("give --name (the name prepare used) or --dir (an install dir oc sts prepared)")
	}
	return validateOutput(o.Output)
}

// Run finds the owned resources and deletes them: provision.Converge with
// the delete plan.
func (o *DestroyOptions) Run(ctx context.Context) error {
	c, err := clients(ctx, o.Profile, o.Region)
	if err != nil {
		return err
	}
	res, err := provision.Converge(ctx, c, provision.Input{Plan: plan.Input{Name: o.Name, Region: o.Region, RolePath: o.RolePath}, Delete: true},
		provision.Options{DryRun: o.DryRun, WaitTimeout: o.Wait}, terminalUI{in: o.In, errOut: o.ErrOut, yes: o.Yes})
	result := destroyResult{APIVersion: plan.APIVersion, Kind: "DestroyResult", Name: o.Name, AccountID: res.Caller.Account, Changes: res.Changes, Left: res.Left}
	var failed *provision.ApplyError
	if err != nil && !errors.As(err, &failed) {
		return err // nothing was deleted
	}
	if failed != nil {
		fmt.Fprintln(o.ErrOut, "Left in AWS:")
		printChanges(o.ErrOut, res.Left)
		o.print(result)
		return applyError(ctx, errors.Join(failed.Err, fmt.Errorf("%d resources are left", len(res.Left))), "oc sts destroy")
	}
	if err := o.print(result); err != nil {
		return err
	}
	if o.Output == "" && !o.DryRun && len(res.Changes) > 0 {
		fmt.Fprintf(o.Out, "Deleted %d resources of %s from AWS account %s.\n", len(res.Changes), o.Name, res.Caller.Account)
	}
	return nil
}

// destroyResult is destroy's -o json|yaml document.
type destroyResult struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Name       string             `json:"name"`
	AccountID  string             `json:"accountID"`
	Changes    []provision.Change `json:"changes"`
	Left       []provision.Change `json:"left,omitempty"`
}

func (o *DestroyOptions) print(r destroyResult) error {
	if o.Output == "" {
		return nil
	}
	return printObject(o.Out, o.Output, r)
}
