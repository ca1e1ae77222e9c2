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

// connect loads the AWS configuration and asks who the caller is: for the
// commands that read AWS before they converge (upgrade-check) or only read.
func connect(ctx context.Context, profile, region string) (*provision.Clients, provision.Identity, error) {
	c, err := clients(ctx, profile, region)
	if err != nil {
		return nil, provision.Identity{}, err
	}
	id, err := provision.WhoAmI(ctx, c, region)
	return c, id, err
}

// clients are the AWS clients of the default credential chain (no call is made).
func clients(ctx context.Context, profile, region string) (*provision.Clients, error) {
	cfg, err := provision.LoadConfig(ctx, profile, region)
	if err != nil {
		return nil, err
	}
	return provision.NewClients(cfg), nil
}

// bucketHost is the S3 host of name's issuer bucket in region, or "" when
// the name or region is not valid, which plan.Build then says.
func bucketHost(region, name string) string {
	host, _ := provision.S3Host(region, plan.BucketName(name))
	return host
}

// terminalUI is what provision.Converge shows and asks: progress and
// questions on stderr and stdin, the changes on plan (stdout for a human
// dry run, whose result they are; else stderr).
type terminalUI struct {
	in     io.Reader
	errOut io.Writer
	plan   io.Writer // nil: errOut
	yes    bool      // --yes: confirmed
}

func (u terminalUI) Progress(format string, args ...any) { fmt.Fprintf(u.errOut, format+"\n", args...) }

func (u terminalUI) Changes(p provision.Preview) {
	w := u.plan
	if w == nil {
		w = u.errOut
	}
	printChanges(w, p.Changes)
}

func (u terminalUI) Confirm(question string) error {
	if u.yes {
		return nil
	}
	return confirm(u.in, u.errOut, question)
}

// printChanges shows a plan-style diff: + create, ~ update, - delete.
func printChanges(w io.Writer, changes []provision.Change) {
	if len(changes) == 0 {
		fmt.Fprintln(w, "AWS already matches the plan: nothing to change.")
		return
	}
	counts := map[provision.Action]int{}
	for _, ch := range changes {
		counts[ch.Action]++
		fmt.Fprintln(w, changeLine(ch))
		for _, d := range ch.Details {
			for _, l := range d.Lines() {
				fmt.Fprintln(w, "      "+l)
			}
		}
	}
	fmt.Fprintf(w, "Plan: %d to create, %d to update, %d to delete.\n", counts[provision.Create], counts[provision.Update], counts[provision.Delete])
}

func changeLine(ch provision.Change) string {
	sign := map[provision.Action]string{provision.Create: "+", provision.Update: "~", provision.Delete: "-"}[ch.Action]
	line := fmt.Sprintf("  %s %s %s", sign, ch.Resource, ch.Name)
	if len(ch.Fields) > 0 {
		line += " (" + strings.Join(ch.Fields, ", ") + ")"
	}
	return line
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

// convergeError says, for a failed apply, what state AWS is left in (what
// was made before the failure, when known) and how to go on; any other
// error (nothing was changed) is returned as it is.
func convergeError(ctx context.Context, err error, rerun string) error {
	var ae *provision.ApplyError
	if !errors.As(err, &ae) {
		return err
	}
	return applyError(ctx, err, rerun)
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
