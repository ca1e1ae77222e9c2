package statedir

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/oc-sts/oc-sts/pkg/plan"
)

// Target is what a prepared dir points at: the plan.json a prepare keeps
// records it, and a re-run that changes any of it would re-point every
// Secret and the issuer, orphaning the first set of AWS resources.
type Target struct {
	Name, AccountID, Region, Issuer string
}

// TargetOf is p's target.
func TargetOf(p *plan.Plan) Target {
	return Target{Name: p.Name, AccountID: p.AccountID, Region: p.Region, Issuer: p.Issuer.URL}
}

// A Retarget is one field of the target that changed.
type Retarget struct{ Field, Old, New string }

func (r Retarget) String() string { return fmt.Sprintf("%s: %s -> %s", r.Field, r.Old, r.New) }

// Retargeted compares the target the previous prepare recorded in dir
// (none: nothing changed) with next; an empty issuer on either side (not
// known yet) is not compared.
func Retargeted(dir string, next Target) (prev *plan.Plan, changed []Retarget, err error) {
	prev, err = ReadPlan(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	old := TargetOf(prev)
	for _, f := range []struct{ field, old, new string }{
		{"name", old.Name, next.Name},
		{"account", old.AccountID, next.AccountID},
		{"region", old.Region, next.Region},
		{"issuer", old.Issuer, next.Issuer},
	} {
		if f.new != "" && f.old != "" && f.old != f.new {
			changed = append(changed, Retarget{f.field, f.old, f.new})
		}
	}
	return prev, changed, nil
}

// Location refuses a state dir the installer would read: inside the
// install dir's manifests/, openshift/ or tls/, every file is consumed.
func Location(installDir, stateDir string) error {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			return filepath.Clean(p)
		}
		if real, err := filepath.EvalSymlinks(a); err == nil {
			return real
		}
		return a
	}
	state := abs(stateDir)
	for _, consumed := range []string{"manifests", "openshift", "tls"} {
		dir := abs(filepath.Join(installDir, consumed))
		if state == dir || strings.HasPrefix(state, dir+string(filepath.Separator)) {
			return fmt.Errorf("--state-dir %s is inside %s, which openshift-install reads: it would install the signer key and the plan as manifests; choose a dir outside manifests/, openshift/ and tls/ (default %s)", stateDir, dir, Default(installDir))
		}
	}
	return nil
}
