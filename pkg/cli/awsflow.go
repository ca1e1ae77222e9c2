package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
)

// awsFlags are the AWS options prepare and destroy share.
type awsFlags struct {
	Profile string
	DryRun  bool
	Yes     bool
}

// connect loads the AWS configuration and checks who the caller is.
func connect(ctx context.Context, profile, region, accountID string) (*provision.Clients, provision.Identity, error) {
	cfg, err := provision.LoadConfig(ctx, profile, region)
	if err != nil {
		return nil, provision.Identity{}, err
	}
	c := provision.NewClients(cfg)
	id, err := provision.WhoAmI(ctx, c, region)
	if err != nil {
		return nil, id, err
	}
	if accountID != "" && accountID != id.Account {
		return nil, id, fmt.Errorf("--account-id %s, but the AWS credentials are for account %s (%s): use that account's credentials or drop --account-id", accountID, id.Account, id.ARN)
	}
	return c, id, nil
}

// bucketHost is the S3 host of name's issuer bucket in region, or "" when
// the name or region is not valid, which plan.Build then says.
func bucketHost(region, name string) string {
	host, _ := provision.S3Host(region, plan.BucketName(name))
	return host
}

// printChanges shows a plan-style diff: + create, ~ update, - delete.
func printChanges(w io.Writer, changes []plan.Change) {
	if len(changes) == 0 {
		fmt.Fprintln(w, "AWS already matches the plan: nothing to change.")
		return
	}
	counts := map[plan.Action]int{}
	for _, ch := range changes {
		counts[ch.Action]++
		fmt.Fprintln(w, changeLine(ch))
	}
	fmt.Fprintf(w, "Plan: %d to create, %d to update, %d to delete.\n", counts[plan.Create], counts[plan.Update], counts[plan.Delete])
}

func changeLine(ch plan.Change) string {
	sign := map[plan.Action]string{plan.Create: "+", plan.Update: "~", plan.Delete: "-"}[ch.Action]
	line := fmt.Sprintf("  %s %s %s", sign, ch.Resource, ch.Name)
	if len(ch.Fields) > 0 {
		line += " (" + strings.Join(ch.Fields, ", ") + ")"
	}
	return line
}

// checkPermissions fails early, listing every permission the changes need
// and the caller lacks; where the simulator is unavailable it only warns.
func checkPermissions(ctx context.Context, c *provision.Clients, id provision.Identity, changes []plan.Change, errOut io.Writer) error {
	missing, ok := provision.MissingPermissions(ctx, c, id, provision.RequiredActions(changes))
	if !ok {
		fmt.Fprintf(errOut, "warning: could not check the permissions of %s with iam:SimulatePrincipalPolicy; a denied call will stop the run\n", id.ARN)
		return nil
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s lacks permissions these changes need: %s (nothing was changed)", id.ARN, strings.Join(missing, ", "))
	}
	return nil
}

// confirm asks on a terminal; elsewhere it requires --yes, as changing a
// cloud account unattended must be asked for.
func confirm(in io.Reader, errOut io.Writer, question string) error {
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return errors.New("refusing to change AWS without confirmation: add --yes (or --dry-run to only show the changes)")
	}
	fmt.Fprintf(errOut, "%s [y/N] ", question)
	answer, _ := bufio.NewReader(in).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return errors.New("cancelled: nothing was changed")
	}
	return nil
}

// progressTo prints one line per step.
func progressTo(w io.Writer) provision.Progress {
	return func(format string, args ...any) { fmt.Fprintf(w, "  "+format+"\n", args...) }
}

// applyError says what state AWS is left in (what was made before the
// failure, when known) and how to go on.
func applyError(ctx context.Context, err error, rerun string) error {
	made := ""
	var ae *provision.ApplyError
	if errors.As(err, &ae) && len(ae.Done) > 0 {
		made = "\nMade in AWS before it stopped:"
		for _, ch := range ae.Done {
			made += "\n" + changeLine(ch)
		}
	}
	switch {
	case ctx.Err() != nil && made == "":
		return fmt.Errorf("interrupted: AWS may be partly changed; run %s again to resume (every step is idempotent)", rerun)
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted%s\nRun %s again to resume (every step is idempotent)", made, rerun)
	case made == "":
		return fmt.Errorf("%w\nAWS may be partly changed; fix the cause and run %s again: it converges", err, rerun)
	}
	return fmt.Errorf("%w%s\nFix the cause and run %s again: it converges", err, made, rerun)
}
