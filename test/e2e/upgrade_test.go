package e2e

import (
	"encoding/json"
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
