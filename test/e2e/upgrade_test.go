package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
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
	Safe          bool
	Findings      []upgrade.Finding
	UpgradeableTo struct {
		Value            string
		Needed, Unblocks bool
	}
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

func (c *stsCluster) annotation(t *testing.T) string {
	return c.kubectl(t, "get", "cloudcredential", "cluster", "-o", `jsonpath={.metadata.annotations.cloudcredential\.openshift\.io/upgradeable-to}`)
}

// setClusterVersion makes ClusterVersion version say what the CVO says of a
// cluster that completed version from image: spec.capabilities as given
// (JSON, "" for none: vCurrent), the enabled capabilities, the updates.
func (c *stsCluster) setClusterVersion(t *testing.T, version, image, capsSpec string, enabled []string, updates map[string]string) {
	t.Helper()
	spec := "spec: {clusterID: 5d1b6d2b-0d8f-4f4a-9a3c-2b1a1c0e9f00}"
	if capsSpec != "" {
		spec = fmt.Sprintf("spec: {clusterID: 5d1b6d2b-0d8f-4f4a-9a3c-2b1a1c0e9f00, capabilities: %s}", capsSpec)
	}
	c.apply(t, "apiVersion: config.openshift.io/v1\nkind: ClusterVersion\nmetadata: {name: version}\n"+spec)
	available := []map[string]string{}
	for v, img := range updates {
		available = append(available, map[string]string{"version": v, "image": img})
	}
	if enabled == nil {
		enabled = []string{}
	}
	status := map[string]any{"status": map[string]any{
		"desired": map[string]string{"version": version, "image": image}, "observedGeneration": 1, "versionHash": "h", "availableUpdates": available,
		"history": []map[string]any{{"state": "Completed", "version": version, "image": image, "verified": false,
			"startedTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T01:00:00Z"}},
		"capabilities": map[string]any{"enabledCapabilities": enabled, "knownCapabilities": enabled},
	}}
	b, _ := json.Marshal(status)
	c.kubectl(t, "patch", "clusterversion", "version", "--subresource=status", "--type=merge", "-p", string(b))
}

// pullSecret gives the cluster a pull secret for the registry, as
// openshift-config/pull-secret.
func (c *stsCluster) pullSecret(t *testing.T, srv *registry.Server) {
	c.kubectl(t, "create", "namespace", "openshift-config")
	f := filepath.Join(t.TempDir(), "pull-secret.json")
	os.WriteFile(f, []byte(srv.PullSecret()), 0o600)
	c.kubectl(t, "create", "secret", "generic", "-n", "openshift-config", "pull-secret", "--type=kubernetes.io/dockerconfigjson", "--from-file=.dockerconfigjson="+f)
}

// ccoUpgradeable runs the cloud-credential-operator's own Upgradeable
// check (bin/tools/cco-upgradeable, built from its module by make
// test-tools) against the cluster: "" when it does not block a minor
// upgrade, else the condition's reason.
func (c *stsCluster) ccoUpgradeable(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(repoRoot(), "bin", "tools", "cco-upgradeable")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run `make test-tools`", bin)
	}
	res := runCmd(t, exec.Command(bin, "--kubeconfig", c.kube.Kubeconfig))
	if res.code != 0 {
		t.Fatalf("cco-upgradeable: exit %d\n%s", res.code, res.stderr)
	}
	var cond *struct{ Status, Reason string }
	if err := json.Unmarshal([]byte(res.stdout), &cond); err != nil {
		t.Fatalf("cco-upgradeable: %v: %s", err, res.stdout)
	}
	if cond == nil {
		return ""
	}
	return cond.Status + " " + cond.Reason
}

// copyRelease copies release dirs into a new directory, editing the files
// whose name contains a key of edits.
func copyRelease(t *testing.T, edits map[string]func(string) string, dirs ...string) string {
	dir := t.TempDir()
	for _, src := range dirs {
		entries, _ := os.ReadDir(src)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(src, e.Name()))
			for k, edit := range edits {
				if strings.Contains(e.Name(), k) {
					b = []byte(edit(string(b)))
				}
			}
			os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
		}
	}
	return dir
}

// renameIngressSA renames the AWS ingress request's service account (the
// first document of the file) and adds an annotation to it.
func renameIngressSA(annotation string) func(string) string {
	return func(s string) string {
		s = strings.Replace(s, "- ingress-operator\n", "- ingress-operator-v2\n", 1)
		if annotation != "" {
			s = strings.Replace(s, "    include.release.openshift.io/single-node-developer: \"true\"\n", "    include.release.openshift.io/single-node-developer: \"true\"\n    "+annotation+"\n", 1)
		}
		return s
	}
}

const newOperatorRequest = `apiVersion: cloudcredential.openshift.io/v1
kind: CredentialsRequest
metadata:
  name: openshift-new-operator
  namespace: openshift-cloud-credential-operator
  annotations:
    include.release.openshift.io/self-managed-high-availability: "true"%s
spec:
  serviceAccountNames: [new-operator]
  secretRef: {name: new-operator-credentials, namespace: openshift-new-operator}
  providerSpec:
    apiVersion: cloudcredential.openshift.io/v1
    kind: AWSProviderSpec
    statementEntries:
    - {effect: Allow, action: ["ec2:DescribeRegions"], resource: "*"}
`

// targetRelease is 4.14 with two changes the fixtures lack between releases:
// a new CredentialsRequest in a new namespace, and a renamed service
// account; plus another cloud's requests, which must never show up.
func targetRelease(t *testing.T) string {
	dir := copyRelease(t, map[string]func(string) string{"ingress-operator": renameIngressSA("")},
		testdata("credentialsrequests", "4.14"), testdata("credentialsrequests", "other-clouds"))
	os.WriteFile(filepath.Join(dir, "0000_90_new-operator_credentialsrequest.yaml"), []byte(fmt.Sprintf(newOperatorRequest, "")), 0o644)
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

func finding(r upgradeReport, request, kind string) *upgrade.Finding {
	for i, f := range r.Findings {
		if f.CredentialsRequest == request && f.Kind == kind {
			return &r.Findings[i]
		}
	}
	return nil
}

func TestUpgradeCheck(t *testing.T) {
	t.Parallel()
	c := newSTSCluster(t, "4.12")
	target := targetRelease(t)

	// Answers it cannot give: exit 2, the reason, and the annotation untouched.
	couldNotTell := func(t *testing.T, want string, args ...string) {
		t.Helper()
		res := c.w.ocSTS(t, append([]string{"upgrade-check", "--region", "us-east-2"}, args...)...)
		if res.code != 2 || !strings.Contains(res.stderr, want) {
			t.Errorf("%v: exit %d, want 2 saying %q\n%s", args, res.code, want, res.stderr)
		}
		if a := c.annotation(t); a != "" {
			t.Fatalf("%v set the annotation to %q", args, a)
		}
	}
	kc := []string{"--kubeconfig", c.kube.Kubeconfig}
	apply := []string{"--apply", "--yes", "--target-version", "4.14.0"}
	couldNotTell(t, "no ClusterVersion", slices.Concat(kc, []string{"--credentials-requests-dir", target}, apply)...)
	c.setClusterVersion(t, "4.12.9", "quay.io/openshift-release-dev/ocp-release@sha256:0", "", []string{"Storage", "MachineAPI", "ImageRegistry", "Ingress", "CloudCredential"}, nil)
	empty := t.TempDir()
	unreachable := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(unreachable, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\n"+
		"users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"), 0o600)
	for _, tc := range []struct {
		want string
		args []string
	}{
		{"holds no AWS CredentialsRequest", slices.Concat(kc, []string{"--credentials-requests-dir", testdata("credentialsrequests", "other-clouds")}, apply)},
		{"holds no .yaml", slices.Concat(kc, []string{"--credentials-requests-dir", empty}, apply)},
		{"no such file or directory", slices.Concat(kc, []string{"--credentials-requests-dir", filepath.Join(empty, "typo")}, apply)},
		{"kubeconfig", slices.Concat([]string{"--kubeconfig", filepath.Join(empty, "kubeconfig"), "--credentials-requests-dir", target}, apply)},
		{"connection refused", slices.Concat([]string{"--kubeconfig", unreachable, "--credentials-requests-dir", target}, apply)},
		{"unknown flag: --bogus", slices.Concat(kc, []string{"--credentials-requests-dir", target, "--bogus"})},
		{"unknown command", slices.Concat(kc, []string{"--credentials-requests-dir", target, "stray"})},
		{"--dry-run and --prune go with --apply", slices.Concat(kc, []string{"--credentials-requests-dir", target, "--dry-run"})},
		{"needs --target-version", slices.Concat(kc, []string{"--credentials-requests-dir", target, "--apply", "--yes"})},
		{`target version "latest"`, slices.Concat(kc, []string{"--credentials-requests-dir", target, "--apply", "--yes", "--target-version", "latest"})},
		{"give the target", kc},
	} {
		couldNotTell(t, tc.want, tc.args...)
	}

	// The same release: safe.
	if r, res := c.upgradeCheck(t, "--credentials-requests-dir", testdata("credentialsrequests", "4.12")); res.code != 0 || !r.Safe {
		t.Errorf("4.12 -> 4.12: exit %d, %+v\n%s", res.code, r.Findings, res.stderr)
	}

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

	// Before any --apply the cloud credential operator blocks the minor upgrade.
	if got := c.ccoUpgradeable(t); got != "False MissingUpgradeableAnnotation" {
		t.Errorf("the operator's Upgradeable without the annotation: %q", got)
	}

	// A failure during --apply leaves the annotation unset.
	c.w.gate.FailOperation("PutRolePolicy", awsworld.AccessDenied)
	if _, res := c.upgradeCheck(t, "--credentials-requests-dir", target, "--target-version", "4.14.0", "--apply", "--yes"); res.code != 1 || !strings.Contains(res.stderr, "annotation was not set") {
		t.Errorf("--apply with PutRolePolicy denied: exit %d\n%s", res.code, res.stderr)
	}
	if a := c.annotation(t); a != "" {
		t.Errorf("annotation set after a failed --apply: %q", a)
	}
	c.w.gate.ResetLog()

	_, res = c.upgradeCheck(t, "--credentials-requests-dir", target, "--target-version", "4.14.0", "--apply", "--dry-run")
	if res.code != 1 || len(c.w.mutating()) != 0 || c.annotation(t) != "" || !strings.Contains(res.stderr, "iam-role demo-openshift-new-operator-new-operator-credentials") {
		t.Errorf("--dry-run: exit %d, changed %v, or hid the changes:\n%s", res.code, c.w.mutating(), res.stderr)
	}
	r, res = c.upgradeCheck(t, "--credentials-requests-dir", target, "--target-version", "4.14.0", "--apply", "--yes")
	if res.code != 0 || !r.Safe || !strings.Contains(res.stderr, "Checking again") {
		t.Fatalf("--apply: exit %d\n%s", res.code, res.stderr)
	}
	if a := c.annotation(t); a != "4.14.0" || r.UpgradeableTo.Value != "4.14.0" || !r.UpgradeableTo.Needed || !r.UpgradeableTo.Unblocks {
		t.Errorf("upgradeable-to annotation %q, report %+v, want 4.14.0", a, r.UpgradeableTo)
	}
	// What we wrote is what the cloud credential operator needs.
	if got := c.ccoUpgradeable(t); got != "" {
		t.Errorf("the operator still blocks after --apply: %s", got)
	}
	c.kubectl(t, "get", "secret", "-n", "openshift-new-operator", "new-operator-credentials")
	rv := c.kubectl(t, "get", "cloudcredential", "cluster", "-o", "jsonpath={.metadata.resourceVersion}")
	c.w.gate.ResetLog()
	if r, res := c.upgradeCheck(t, "--credentials-requests-dir", target, "--target-version", "4.14.0", "--apply", "--yes"); res.code != 0 || !r.Safe {
		t.Errorf("after --apply: exit %d, %+v", res.code, blocking(r))
	}
	if m := c.w.mutating(); len(m) != 0 || c.kubectl(t, "get", "cloudcredential", "cluster", "-o", "jsonpath={.metadata.resourceVersion}") != rv {
		t.Errorf("a converged re-run changed something: AWS %v, CloudCredential rewritten", m)
	}

	human := c.w.ocSTS(t, "upgrade-check", "--kubeconfig", c.kube.Kubeconfig, "--region", "us-east-2", "--credentials-requests-dir", target, "--target-version", "4.14.0")
	if human.code != 0 || !strings.Contains(human.stdout, "Safe to upgrade from 4.12.9 to 4.14.0") || !strings.Contains(human.stdout, "upgradeable-to=4.14.0 lets the cloud credential operator allow it") {
		t.Errorf("human summary: exit %d\n%s", human.code, human.stdout)
	}

	// A stale annotation (the minor the cluster already runs) does not
	// unblock; the operator's own code judges each value, and upgrade-check
	// must read them the same way.
	for _, value := range []string{"4.12", "4.12.99", "v4.13", "4.13", "4.13.0-rc.1", "4.14.0", "5", "latest", "4.13-rc.1", "04.13", "v4.12.9"} {
		c.kubectl(t, "annotate", "--overwrite", "cloudcredential", "cluster", upgrade.UpgradeableToAnnotation+"="+value)
		cco := c.ccoUpgradeable(t)
		r, _ := c.upgradeCheck(t, "--credentials-requests-dir", target, "--target-version", "4.14.0")
		if r.UpgradeableTo.Unblocks != (cco == "") {
			t.Errorf("%s=%s: the operator says %q, upgrade-check says unblocks=%v", upgrade.UpgradeableToAnnotation, value, cco, r.UpgradeableTo.Unblocks)
		}
		if stale := value == "4.12" || value == "4.12.99"; stale && cco == "" {
			t.Errorf("stale %s unblocks the operator", value)
		}
	}
}

// --to a version: resolved from ClusterVersion's available updates, pulled
// with the cluster's own pull secret, filtered with its capabilities.
func TestUpgradeCheckToAnAvailableUpdate(t *testing.T) {
	t.Parallel()
	c := newSTSCluster(t, "4.12")
	srv := registry.Start(t, "puller", "s3cret")
	spec := srv.Push(t, "ocp-release:4.14.0", registry.Release(t, testdata("credentialsrequests", "4.14"), "4.14.0", nil))
	c.pullSecret(t, srv)
	// Without the Storage capability the EBS CSI driver's request is not in
	// the target, and the CVO never created it in 4.12.
	enabled := []string{"CloudCredential", "Ingress", "MachineAPI", "ImageRegistry", "CloudControllerManager"}
	c.setClusterVersion(t, "4.12.9", "x", `{baselineCapabilitySet: None, additionalEnabledCapabilities: [`+strings.Join(enabled, ", ")+`]}`, enabled, map[string]string{"4.14.0": spec})
	c.kubectl(t, "delete", "credentialsrequest", "-n", "openshift-cloud-credential-operator", "aws-ebs-csi-driver-operator")

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
