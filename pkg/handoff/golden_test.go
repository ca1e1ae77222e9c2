package handoff

import (
	"testing"

	"github.com/oc-sts/oc-sts/test/golden"
)

// The scripts of the 4.16 plan with a role path, a boundary and user tags
// are testdata/apply.sh and testdata/delete.sh: reviewed line by line (every
// plan value single-quoted, the account and partition checked first, one
// guarded step per resource) and run with the real AWS CLI against the AWS
// test world by test/e2e (TestApplyAndDeleteScripts).
func TestScriptsGolden(t *testing.T) {
	files, err := Files(fixturePlan(t, withEverything))
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "apply.sh", files[ApplyScript])
	golden.Check(t, "delete.sh", files[DeleteScript])
}
