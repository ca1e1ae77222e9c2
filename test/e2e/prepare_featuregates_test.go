package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/test/registry"
)

// prepare uses the same inclusion as upgrade-check, fed the install-config:
// a TechPreviewNoUpgrade install gets the gates of the release it installs,
// from the release image's real FeatureGate manifests.
func TestPrepareFeatureGatesFromTheReleaseImage(t *testing.T) {
	t.Parallel()
	const gate = "AWSEFSDriverVolumeMetrics" // in the 2025-03 payload's TechPreviewNoUpgrade set, not in the compiled-in one
	crDir := copyRelease(t, nil, testdata("credentialsrequests", "4.16"))
	os.WriteFile(filepath.Join(crDir, "0000_90_new-operator_credentialsrequest.yaml"), []byte(fmt.Sprintf(newOperatorRequest, fmt.Sprintf(gatedRequest, gate))), 0o644)
	extra := map[string]string{}
	payload := testdata("featuregates", "2025-03")
	entries, _ := os.ReadDir(payload)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			b, _ := os.ReadFile(filepath.Join(payload, e.Name()))
			extra["release-manifests/"+e.Name()] = string(b)
		}
	}
	srv := registry.Start(t, "", "")
	spec := srv.Push(t, "ocp-release:4.19.0", registry.Release(t, crDir, "4.19.0", extra))
	example, _ := os.ReadFile(filepath.Join(repoRoot(), "examples", "install-dir", "install-config.yaml"))
	ic := []byte(strings.Replace(string(example), "publish: External\n", "publish: External\nfeatureSet: TechPreviewNoUpgrade\n", 1))

	hasRole := func(stdout string) bool {
		var p plan.Plan
		if err := json.Unmarshal([]byte(stdout), &p); err != nil {
			t.Fatalf("%v\n%s", err, stdout)
		}
		for _, r := range p.Roles {
			if r.CredentialsRequest.Name == "openshift-new-operator" {
				return true
			}
		}
		return false
	}
	res := run(t, false, "prepare", "--no-installer", "--dir", exampleDir(t, ic), "--release-image", spec, "--insecure", "--offline", "--account-id", "123456789012", "-o", "json", "--explain")
	if res.code != 0 || !hasRole(res.stdout) {
		t.Fatalf("from the image: exit %d, role for the gated request %v\n%s", res.code, res.code == 0 && hasRole(res.stdout), res.stderr)
	}
	if !containsRow(res.stderr, "feature-gate", gate, "yes", "the release image FeatureGate manifest 0000_50_cluster-config-api_featureGate-SelfManagedHA-TechPreviewNoUpgrade.yaml") ||
		!containsRow(res.stderr, "feature-set", "TechPreviewNoUpgrade", "yes", "install-config.yaml featureSet") || strings.Contains(res.stderr, "assumed") {
		t.Errorf("-v does not say what decided:\n%s", res.stderr)
	}

	// From a directory the gates are openshift/api's, and prepare says so.
	res = run(t, true, "prepare", "--no-installer", "--dir", exampleDir(t, ic), "--credentials-requests-dir", crDir, "--offline", "--account-id", "123456789012", "-o", "json")
	if res.code != 0 || hasRole(res.stdout) || !strings.Contains(res.stderr, "warning: the TechPreviewNoUpgrade feature gates are assumed") {
		t.Errorf("from a directory: exit %d\n%s", res.code, res.stderr)
	}
}
