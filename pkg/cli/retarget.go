package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/statedir"
)

// ReplacedDir is where --force keeps the manifests it replaced, in the state dir.
const ReplacedDir = "replaced"

// checkTarget stops a re-run that would re-point a prepared dir at other
// AWS resources (another name, account, region or issuer) unless
// --retarget, and finds the user's manifests that prepare's would replace
// or contradict unless --force; with --force it plans their replacement,
// each kept in the state dir. Before any AWS change and any write.
func (o *PrepareOptions) checkTarget(p *plan.Plan, signer *oidckeys.Signer) error {
	next := statedir.TargetOf(p)
	if p.Issuer.KnownAfterApply {
		next.Issuer = "" // not known yet
	}
	prev, changed, err := statedir.Retargeted(o.StateDir, next)
	if err != nil {
		return err
	}
	if len(changed) > 0 {
		if err := o.retarget(prev, changed); err != nil {
			return err
		}
	}
	o.forced = nil
	d := o.installDir()
	if d == nil {
		return nil
	}
	conflicts, err := d.Conflicts(d.Consumables(p, signer), prev)
	if err != nil || len(conflicts) == 0 {
		return err
	}
	var lines []string
	mixed := false
	for _, c := range conflicts {
		line := "  " + c.String()
		if c.Mixed {
			line += " (it holds other objects too: edit it by hand, --force does not remove it)"
		}
		lines = append(lines, line)
		mixed = mixed || c.Mixed
	}
	if !o.Force || mixed {
		return fmt.Errorf("%d manifests in %s conflict with what prepare writes:\n%s\nThe installer would get both, or the user's silently replaced: move them away, or --force replaces them (each is kept in %s). (nothing was changed)",
			len(conflicts), o.Dir, strings.Join(lines, "\n"), filepath.Join(o.StateDir, ReplacedDir))
	}
	keep := filepath.Join(o.StateDir, ReplacedDir, time.Now().UTC().Format("20060102T150405Z"))
	for _, c := range conflicts {
		path := filepath.Join(o.Dir, c.Path)
		o.forced = append(o.forced, atomicfs.File{Path: filepath.Join(keep, c.Path), Data: c.Data, Mode: 0o600})
		if c.Remove {
			o.forced = append(o.forced, atomicfs.File{Path: path, Remove: true})
		}
		o.replacedNotes = append(o.replacedNotes, fmt.Sprintf("--force: replaced %s (kept as %s)", c, filepath.Join(keep, c.Path)))
	}
	return nil
}

// retarget says what changed, and stops unless --retarget.
func (o *PrepareOptions) retarget(prev *plan.Plan, changed []statedir.Retarget) error {
	var lines []string
	for _, c := range changed {
		lines = append(lines, "  "+c.String())
	}
	later := fmt.Sprintf("oc sts destroy --name %s --region %s", prev.Name, prev.Region)
	if len(prev.Roles) > 0 && prev.Roles[0].Path != "/" {
		later += " --role-path " + prev.Roles[0].Path
	}
	if o.Retarget {
		fmt.Fprintf(o.ErrOut, "warning: --retarget: %s now points at other AWS resources:\n%s\nThe first set (account %s) is left as it is; `%s` removes it.\n", o.StateDir, strings.Join(lines, "\n"), prev.AccountID, later)
		return nil
	}
	destroy := "oc sts destroy --dir " + o.Dir
	if o.installDir() == nil || o.StateDir != statedir.Default(o.Dir) {
		destroy = "oc sts destroy --state-dir " + o.StateDir
	}
	return fmt.Errorf("%s was prepared for another target:\n%s\nRe-running would re-point every Secret and the issuer and orphan the first set of AWS resources. "+
		"Remove them first with `%s` (with account %s's credentials), then run prepare again; or pass --retarget to leave them (`%s` removes them later). (nothing was changed)",
		o.StateDir, strings.Join(lines, "\n"), destroy, prev.AccountID, later)
}
