package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"

	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/upgrade"
	"github.com/oc-sts/oc-sts/test/awsworld"
	"github.com/oc-sts/oc-sts/test/registry"
)

type upgradeReport struct {
	Safe     bool
	Findings []upgrade.Finding
}

func (c *stsCluster) upgradeCheck(t *testing.T, args ...string) (upgradeReport, result) {
	t.Helper()
	res := c.w.ocSTS(t, append([]string{"upgrade-check", "--kubeconfig", c.kube.Kubeconfig, "--region", "us-east-2", "-o", "json"}, args...)...)
	var r upgradeReport
	if err := json.Unmarshal([]byte(res.stdout), &r); err != nil {
		t.Fatalf("upgrade-check -o json: %v\nstdout %s\nstderr %s", err, res.stdout, res.stderr)
	}
	return r, res
}

// targetRelease is 4.14 with two changes the fixtures lack between releases:
// a new CredentialsRequest in a new namespace, and a renamed service
// account; plus another cloud's requests, which must never show up.
func targetRelease(t *testing.T) string {
	dir := t.TempDir()
	for _, src := range []string{testdata("credentialsrequests", "4.14"), testdata("credentialsrequests", "other-clouds")} {
		entries, _ := os.ReadDir(src)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(src, e.Name()))
			if strings.Contains(e.Name(), "ingress-operator") {
				b = []byte(strings.Replace(string(b), "- ingress-operator", "- ingress-operator-v2", 1))
			}
			os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
		}
	}
	os.WriteFile(filepath.Join(dir, "0000_90_new-operator_credentialsrequest.yaml"), []byte(`apiVersion: cloudcredential.openshift.io/v1
kind: CredentialsRequest
metadata:
  name: openshift-new-operator
  namespace: openshift-cloud-credential-operator
spec:
  serviceAccountNames: [new-operator]
  secretRef: {name: new-operator-credentials, namespace: openshift-new-operator}
  providerSpec:
    apiVersion: cloudcredential.openshift.io/v1
    kind: AWSProviderSpec
    statementEntries:
    - {effect: Allow, action: ["ec2:DescribeRegions"], resource: "*"}
`), 0o644)
	return dir
}

// expectedFindings is the oracle: set differences of the two sets of files.
func expectedFindings(t *testing.T, liveDir, targetDir string) []string {
	live := includedRequests(t, liveDir, credreq.ClusterSettings{})
	target := includedRequests(t, targetDir, credreq.ClusterSettings{})
	var out []string
	for name, r := range target {
		old, ok := live[name]
		if !ok {
			var actions []string
			for _, e := range r.AWS.StatementEntries {
				actions = append(actions, e.Action...)
			}
			sort.Strings(actions)
			out = append(out, name+" "+upgrade.NewRequest+" "+strings.Join(actions, ","))
			continue
		}
		var added []string
		for _, e := range r.AWS.StatementEntries {
			for _, a := range e.Action {
				if !slices.ContainsFunc(old.AWS.StatementEntries, func(o ccov1.StatementEntry) bool { return slices.Contains(o.Action, a) }) {
					added = append(added, a)
				}
			}
		}
		if len(added) > 0 {
			sort.Strings(added)
			out = append(out, name+" "+upgrade.MissingActions+" "+strings.Join(added, ","))
		}
		if !slices.Equal(old.CR.Spec.ServiceAccountNames, r.CR.Spec.ServiceAccountNames) {
			out = append(out, name+" "+upgrade.TrustBroken)
		}
	}
	sort.Strings(out)
	return out
}

func blocking(r upgradeReport) []string {
	var out []string
	for _, f := range r.Findings {
		if !f.Blocking {
			continue
		}
		line := f.CredentialsRequest + " " + f.Kind
		if len(f.Actions) > 0 {
			a := append([]string(nil), f.Actions...)
			sort.Strings(a)
			line += " " + strings.Join(a, ",")
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

func TestUpgradeCheck(t *testing.T) {
	c := newSTSCluster(t, "4.12")
	annotation := func() string {
		return c.kubectl(t, "get", "cloudcredential", "cluster", "-o", `jsonpath={.metadata.annotations.cloudcredential\.openshift\.io/upgradeable-to}`)
	}

	// The same release: safe.
	if r, res := c.upgradeCheck(t, "--credentials-requests-dir", testdata("credentialsrequests", "4.12")); res.code != 0 || !r.Safe {
		t.Errorf("4.12 -> 4.12: exit %d, %+v\n%s", res.code, r.Findings, res.stderr)
	}

	target := targetRelease(t)
	want := expectedFindings(t, testdata("credentialsrequests", "4.12"), target)
	r, res := c.upgradeCheck(t, "--credentials-requests-dir", target)
	if res.code != 1 || r.Safe {
		t.Errorf("4.12 -> 4.14: exit %d, safe %v", res.code, r.Safe)
	}
	if got := blocking(r); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant (the differences between the files):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, f := range r.Findings {
		if strings.Contains(f.CredentialsRequest, "azure") || strings.Contains(f.CredentialsRequest, "gcp") {
			t.Errorf("another cloud's request shows up: %+v", f)
		}
	}

	// A failure during --apply leaves the annotation unset.
	c.w.gate.FailOperation("PutRolePolicy", awsworld.AccessDenied)
	if _, res := c.upgradeCheck(t, "--credentials-requests-dir", target, "--target-version", "4.14.0", "--apply", "--yes"); res.code != 1 || !strings.Contains(res.stderr, "annotation was not set") {
		t.Errorf("--apply with PutRolePolicy denied: exit %d\n%s", res.code, res.stderr)
	}
	if a := annotation(); a != "" {
		t.Errorf("annotation set after a failed --apply: %q", a)
	}
	c.w.gate.ResetLog()

	_, res = c.upgradeCheck(t, "--credentials-requests-dir", target, "--target-version", "4.14.0", "--apply", "--dry-run")
	if len(c.w.mutating()) != 0 || annotation() != "" || !strings.Contains(res.stderr, "iam-role demo-openshift-new-operator-new-operator-credentials") {
		t.Errorf("--dry-run changed something or hid the changes: %v\n%s", c.w.mutating(), res.stderr)
	}
	if _, res := c.upgradeCheck(t, "--credentials-requests-dir", target, "--target-version", "4.14.0", "--apply", "--yes"); res.code != 0 {
		t.Fatalf("--apply: exit %d\n%s", res.code, res.stderr)
	}
	if a := annotation(); a != "4.14.0" {
		t.Errorf("upgradeable-to annotation %q, want 4.14.0", a)
	}
	c.kubectl(t, "get", "secret", "-n", "openshift-new-operator", "new-operator-credentials")
	if r, res := c.upgradeCheck(t, "--credentials-requests-dir", target); res.code != 0 || !r.Safe {
		t.Errorf("after --apply: exit %d, %+v", res.code, blocking(r))
	}
}

// --to a version: resolved from ClusterVersion's available updates, pulled
// with the cluster's own pull secret, filtered with its capabilities.
func TestUpgradeCheckToAnAvailableUpdate(t *testing.T) {
	c := newSTSCluster(t, "4.12")
	srv := registry.Start(t, "puller", "s3cret")
	spec := srv.Push(t, "ocp-release:4.14.0", registry.Release(t, testdata("credentialsrequests", "4.14"), "4.14.0", nil))
	c.kubectl(t, "create", "namespace", "openshift-config")
	f := filepath.Join(t.TempDir(), "pull-secret.json")
	os.WriteFile(f, []byte(srv.PullSecret()), 0o600)
	c.kubectl(t, "create", "secret", "generic", "-n", "openshift-config", "pull-secret", "--type=kubernetes.io/dockerconfigjson", "--from-file=.dockerconfigjson="+f)
	c.apply(t, "apiVersion: config.openshift.io/v1\nkind: ClusterVersion\nmetadata: {name: version}\nspec: {clusterID: 5d1b6d2b-0d8f-4f4a-9a3c-2b1a1c0e9f00}")
	// Without the Storage capability the EBS CSI driver's request is not in the target.
	status := fmt.Sprintf(`{"status":{"desired":{"version":"4.12.9","image":"x"},"observedGeneration":1,"versionHash":"h","availableUpdates":[{"version":"4.14.0","image":%q}],
		"capabilities":{"enabledCapabilities":["CloudCredential","Ingress","MachineAPI","ImageRegistry","CloudControllerManager"],"knownCapabilities":[]}}}`, spec)
	c.kubectl(t, "patch", "clusterversion", "version", "--subresource=status", "--type=merge", "-p", status)

	r, res := c.upgradeCheck(t, "--to", "4.14.0", "--insecure")
	if res.code != 1 || !strings.Contains(res.stderr, spec) {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	got := strings.Join(blocking(r), "\n")
	if got != "openshift-ingress missing-actions sts:AssumeRole" {
		t.Errorf("findings for 4.12.9 -> 4.14.0 without Storage:\n%s", got)
	}
	if res := c.w.ocSTS(t, "upgrade-check", "--kubeconfig", c.kube.Kubeconfig, "--region", "us-east-2", "--to", "4.15.0"); res.code != 2 || !strings.Contains(res.stderr, "not among the cluster's available or conditional updates") {
		t.Errorf("unknown version: exit %d\n%s", res.code, res.stderr)
	}
}
