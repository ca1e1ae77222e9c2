package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oc-sts/oc-sts/pkg/upgrade"
	"github.com/oc-sts/oc-sts/test/registry"
)

// The ingress request that 4.12 runs without a capability needs Ingress in
// the target (as 4.16's needs CloudCredential+Ingress), with a renamed
// service account. The cluster, baseline None plus Storage, has not
// enabled Ingress: the CVO keeps the request and enables Ingress
// implicitly, so the renamed account breaks the role's trust.
func TestUpgradeCheckImplicitlyEnabledCapability(t *testing.T) {
	t.Parallel()
	c := newSTSCluster(t, "4.12")
	srv := registry.Start(t, "puller", "s3cret")
	c.pullSecret(t, srv)
	current := srv.Push(t, "ocp-release:4.12.9", registry.Release(t, testdata("credentialsrequests", "4.12"), "4.12.9", nil))
	targetDir := copyRelease(t, map[string]func(string) string{"ingress-operator": renameIngressSA("capability.openshift.io/name: Ingress")},
		testdata("credentialsrequests", "4.12"))
	target := srv.Push(t, "ocp-release:4.13.0", registry.Release(t, targetDir, "4.13.0", nil))
	updates := map[string]string{"4.13.0": target}
	c.setClusterVersion(t, "4.12.9", current, `{baselineCapabilitySet: None, additionalEnabledCapabilities: [Storage]}`, []string{"Storage"}, updates)

	check := func(t *testing.T, wantFrom string, extra ...string) {
		t.Helper()
		r, res := c.upgradeCheck(t, append([]string{"--to", "4.13.0", "--insecure", "--explain"}, extra...)...)
		if res.code != 1 || strings.Join(blocking(r), "\n") != "openshift-ingress trust-broken" {
			t.Fatalf("exit %d, blocking %v\n%s", res.code, blocking(r), res.stderr)
		}
		if f := finding(r, "openshift-ingress", upgrade.RemovedRequest); f != nil {
			t.Errorf("reported as removed: %+v", f)
		}
		f := finding(r, "openshift-ingress", upgrade.ImplicitlyEnabled)
		want := "included because capability Ingress will be implicitly enabled: it covers CredentialsRequest/openshift-cloud-credential-operator/openshift-ingress that 4.12.9 already runs"
		if f == nil || f.Detail != want || f.Blocking {
			t.Errorf("explanation %+v, want %q", f, want)
		}
		if !strings.Contains(res.stderr, "What the current release runs: from "+wantFrom+".") || !containsRow(res.stderr, "capability", "Ingress", "yes", "capability Ingress will be implicitly enabled") {
			t.Errorf("-v does not say what decided:\n%s", res.stderr)
		}
	}
	t.Run("the cluster's objects tell", func(t *testing.T) {
		check(t, "the cluster's own objects")
	})
	t.Run("the current release image tells", func(t *testing.T) {
		// An object the CVO did not apply (no release annotations) is no evidence.
		c.kubectl(t, "annotate", "credentialsrequest", "-n", "openshift-cloud-credential-operator", "openshift-ingress", "include.release.openshift.io/self-managed-high-availability-")
		defer c.kubectl(t, "apply", "-f", testdata("credentialsrequests", "4.12", "0000_50_cluster-ingress-operator_00-ingress-credentials-request.yaml"))
		check(t, "the current release image "+current)

		// Nothing can tell: exit 2 and how to give the answer.
		c.setClusterVersion(t, "4.12.9", srv.Host+"/ocp-release:no-such-tag", `{baselineCapabilitySet: None, additionalEnabledCapabilities: [Storage]}`, []string{"Storage"}, updates)
		defer c.setClusterVersion(t, "4.12.9", current, `{baselineCapabilitySet: None, additionalEnabledCapabilities: [Storage]}`, []string{"Storage"}, updates)
		res := c.w.ocSTS(t, "upgrade-check", "--kubeconfig", c.kube.Kubeconfig, "--region", "us-east-2", "--to", "4.13.0", "--insecure", "--apply", "--yes")
		if res.code != 2 || !strings.Contains(res.stderr, "without the release annotations") || !strings.Contains(res.stderr, "--current-credentials-requests-dir") || c.annotation(t) != "" {
			t.Errorf("exit %d, annotation %q\n%s", res.code, c.annotation(t), res.stderr)
		}
		check(t, "--current-credentials-requests-dir "+testdata("credentialsrequests", "4.12"), "--current-credentials-requests-dir", testdata("credentialsrequests", "4.12"))
	})

	if _, res := c.upgradeCheck(t, "--to", "4.13.0", "--insecure", "--apply", "--yes"); res.code != 0 || c.annotation(t) != "4.13.0" {
		t.Fatalf("--apply: exit %d, annotation %q\n%s", res.code, c.annotation(t), res.stderr)
	}
	if got := c.ccoUpgradeable(t); got != "" {
		t.Errorf("the operator blocks after --apply: %s", got)
	}

	// The upgrade, as the CVO makes it: the target's requests applied,
	// Ingress enabled, the renamed service account created.
	c.kubectl(t, "apply", "-f", filepath.Join(targetDir, "0000_50_cluster-ingress-operator_00-ingress-credentials-request.yaml"))
	c.apply(t, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ingress-operator-v2, namespace: openshift-ingress-operator}")
	c.setClusterVersion(t, "4.13.0", target, `{baselineCapabilitySet: None, additionalEnabledCapabilities: [Storage]}`, []string{"Ingress", "Storage"}, nil)
	report, res := c.verify(t)
	if res.code != 0 || report.Failed != 0 {
		t.Errorf("verify after the upgrade: exit %d, FAILs %+v", res.code, failed(report))
	}
}

// containsRow finds an --explain table row with these cells, in order.
func containsRow(out string, cells ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := line, true
		for _, c := range cells {
			i := strings.Index(rest, c)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(c):]
		}
		if ok {
			return true
		}
	}
	return false
}

const gatedRequest = `
    release.openshift.io/feature-gate: %s`

// Feature gates as the CVO will have them after the upgrade: a
// CustomNoUpgrade cluster's own choices; a TechPreviewNoUpgrade target's
// gates from the target release's FeatureGate manifests, else the
// cluster's status for the target version, else openshift/api's (said so).
func TestUpgradeCheckFeatureGates(t *testing.T) {
	t.Parallel()
	c := newSTSCluster(t, "4.12")
	c.setClusterVersion(t, "4.12.9", "x", "", []string{"Storage", "MachineAPI", "ImageRegistry", "Ingress", "CloudCredential"}, nil)

	t.Run("CustomNoUpgrade", func(t *testing.T) {
		// The running ingress request and a new one, both behind a gate the cluster enables.
		dir := copyRelease(t, map[string]func(string) string{"ingress-operator": renameIngressSA("release.openshift.io/feature-gate: ExampleGate")},
			testdata("credentialsrequests", "4.12"))
		os.WriteFile(filepath.Join(dir, "0000_90_new-operator_credentialsrequest.yaml"), []byte(fmt.Sprintf(newOperatorRequest, fmt.Sprintf(gatedRequest, "ExampleGate"))), 0o644)
		c.apply(t, `apiVersion: config.openshift.io/v1
kind: FeatureGate
metadata: {name: cluster}
spec:
  featureSet: CustomNoUpgrade
  customNoUpgrade: {enabled: [ExampleGate], disabled: [AWSDedicatedHosts]}`)
		c.kubectl(t, "patch", "featuregate", "cluster", "--subresource=status", "--type=merge", "-p",
			`{"status":{"featureGates":[{"version":"4.12.9","enabled":[{"name":"ExampleGate"}],"disabled":[{"name":"AWSDedicatedHosts"}]}]}}`)
		r, res := c.upgradeCheck(t, "--credentials-requests-dir", dir, "--target-version", "4.13.0", "--explain")
		if got := strings.Join(blocking(r), "\n"); res.code != 1 || got != "openshift-ingress trust-broken\nopenshift-new-operator new-request ec2:DescribeRegions" {
			t.Errorf("exit %d, blocking:\n%s\n%s", res.code, got, res.stderr)
		}
		if !containsRow(res.stderr, "feature-gate", "ExampleGate", "yes", "FeatureGate cluster spec.featureGates (CustomNoUpgrade)") {
			t.Errorf("-v does not say what decided ExampleGate:\n%s", res.stderr)
		}
		c.kubectl(t, "delete", "featuregate", "cluster") // CustomNoUpgrade cannot be changed back
	})

	// AWSEFSDriverVolumeMetrics is in the TechPreviewNoUpgrade set of the
	// 2025-03 payload, not in that of the openshift/api oc sts is built with.
	const gate = "AWSEFSDriverVolumeMetrics"
	dir := copyRelease(t, nil, testdata("credentialsrequests", "4.12"))
	os.WriteFile(filepath.Join(dir, "0000_90_new-operator_credentialsrequest.yaml"), []byte(fmt.Sprintf(newOperatorRequest, fmt.Sprintf(gatedRequest, gate))), 0o644)
	c.apply(t, "apiVersion: config.openshift.io/v1\nkind: FeatureGate\nmetadata: {name: cluster}\nspec: {featureSet: TechPreviewNoUpgrade}")
	wantBlocking := "openshift-cluster-api-aws new-request" // TechPreviewNoUpgrade adds the cluster-api request
	newOperator := "openshift-new-operator new-request ec2:DescribeRegions"
	blockingKinds := func(r upgradeReport) string {
		var out []string
		for _, b := range blocking(r) {
			if strings.HasPrefix(b, "openshift-cluster-api-aws ") {
				b = wantBlocking
			}
			out = append(out, b)
		}
		return strings.Join(out, "\n")
	}

	t.Run("TechPreviewNoUpgrade from the target release image", func(t *testing.T) {
		srv := registry.Start(t, "", "")
		extra := map[string]string{}
		payload := testdata("featuregates", "2025-03")
		entries, _ := os.ReadDir(payload)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".yaml") {
				b, _ := os.ReadFile(filepath.Join(payload, e.Name()))
				extra["release-manifests/"+e.Name()] = string(b)
			}
		}
		spec := srv.Push(t, "ocp-release:4.13.0", registry.Release(t, dir, "4.13.0", extra))
		r, res := c.upgradeCheck(t, "--to", spec, "--insecure", "--explain")
		if got := blockingKinds(r); res.code != 1 || got != wantBlocking+"\n"+newOperator {
			t.Errorf("exit %d, blocking:\n%s\n%s", res.code, got, res.stderr)
		}
		if !containsRow(res.stderr, "feature-gate", gate, "yes", "release 4.13.0 FeatureGate manifest 0000_50_cluster-config-api_featureGate-SelfManagedHA-TechPreviewNoUpgrade.yaml") ||
			strings.Contains(res.stderr, "Hypershift") || strings.Contains(res.stderr, "assumed") {
			t.Errorf("-v does not say the self-managed TechPreviewNoUpgrade manifest decided:\n%s", res.stderr)
		}
	})
	t.Run("from the cluster's status for the target version", func(t *testing.T) {
		c.kubectl(t, "patch", "featuregate", "cluster", "--subresource=status", "--type=merge", "-p",
			fmt.Sprintf(`{"status":{"featureGates":[{"version":"4.12.9","enabled":[],"disabled":[{"name":%q}]},{"version":"4.13.0","enabled":[{"name":%q}],"disabled":[]}]}}`, gate, gate))
		defer c.kubectl(t, "patch", "featuregate", "cluster", "--subresource=status", "--type=merge", "-p", `{"status":{"featureGates":[]}}`)
		r, res := c.upgradeCheck(t, "--credentials-requests-dir", dir, "--target-version", "4.13.0", "--explain")
		if got := blockingKinds(r); res.code != 1 || got != wantBlocking+"\n"+newOperator || !containsRow(res.stderr, "feature-gate", gate, "yes", "FeatureGate cluster status.featureGates for 4.13.0") {
			t.Errorf("exit %d, blocking:\n%s\n%s", res.code, got, res.stderr)
		}
	})
	t.Run("assumed from openshift/api, and said so", func(t *testing.T) {
		r, res := c.upgradeCheck(t, "--credentials-requests-dir", dir, "--target-version", "4.13.0")
		if got := blockingKinds(r); res.code != 1 || got != wantBlocking {
			t.Errorf("exit %d, blocking:\n%s", res.code, got)
		}
		if !strings.Contains(res.stderr, "warning: the TechPreviewNoUpgrade feature gates are assumed to be those openshift/api v0.0.0-20260709102940-580f1c1ba691 defines") {
			t.Errorf("no warning naming the assumption:\n%s", res.stderr)
		}
	})
}
