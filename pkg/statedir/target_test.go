package statedir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oc-sts/oc-sts/pkg/plan"
)

func TestLocation(t *testing.T) {
	dir := t.TempDir()
	for state, ok := range map[string]bool{
		filepath.Join(dir, DirName):                                  true,
		filepath.Join(dir, "manifests-state"):                        true,
		t.TempDir():                                                  true,
		filepath.Join(dir, "manifests"):                              false,
		filepath.Join(dir, "manifests", "x", "y"):                    false,
		filepath.Join(dir, "openshift", "state"):                     false,
		filepath.Join(dir, "tls"):                                    false,
		filepath.Join(dir, ".", "manifests", "..", "manifests", "s"): false,
	} {
		if err := Location(dir, state); (err == nil) != ok {
			t.Errorf("%s: %v", state, err)
		}
	}
	// Through a link to manifests/.
	os.MkdirAll(filepath.Join(dir, "manifests"), 0o755)
	os.Symlink(filepath.Join(dir, "manifests"), filepath.Join(dir, "m"))
	if err := Location(dir, filepath.Join(dir, "m")); err == nil || !strings.Contains(err.Error(), "openshift-install reads") {
		t.Errorf("a link into manifests/: %v", err)
	}
}

func TestRetargeted(t *testing.T) {
	dir := t.TempDir()
	if prev, changed, err := Retargeted(dir, Target{Name: "a"}); prev != nil || changed != nil || err != nil {
		t.Fatalf("no previous plan: %v %v %v", prev, changed, err)
	}
	p := &plan.Plan{Kind: plan.Kind, Name: "a", AccountID: "123456789012", Region: "us-east-1", Issuer: plan.Issuer{URL: "https://a-oidc.s3.us-east-1.amazonaws.com"}}
	b, _ := MarshalPlan(p)
	os.WriteFile(filepath.Join(dir, PlanFile), b, 0o644)
	if _, changed, _ := Retargeted(dir, TargetOf(p)); len(changed) != 0 {
		t.Errorf("same target: %v", changed)
	}
	next := Target{Name: "a", AccountID: "210987654321", Region: "us-east-1"} // issuer not known yet
	if _, changed, _ := Retargeted(dir, next); len(changed) != 1 || changed[0].String() != "account: 123456789012 -> 210987654321" {
		t.Errorf("account changed: %v", changed)
	}
	os.WriteFile(filepath.Join(dir, PlanFile), []byte("{"), 0o644)
	if _, _, err := Retargeted(dir, next); err == nil {
		t.Error("a broken plan.json is not an error")
	}
}
