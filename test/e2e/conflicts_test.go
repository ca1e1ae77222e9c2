package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

const userIngressSecret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cloud-credentials\n  namespace: openshift-ingress-operator\nstringData:\n  credentials: the user's\n"

// The user's manifests that prepare's would replace or contradict stop the
// run, every one listed, the dir untouched; --force replaces them, says so
// and keeps each in the state dir; a re-run after it has nothing to say.
func TestManifestConflicts(t *testing.T) {
	t.Parallel()
	dir := exampleDir(t, nil)
	crs := testdata("credentialsrequests", "4.16")
	if res := run(t, true, offlineArgs(dir, crs)...); res.code != 0 {
		t.Fatal(res.stderr)
	}
	if res := run(t, true, offlineArgs(dir, crs)...); res.code != 0 {
		t.Fatalf("a re-run conflicts with its own files: %s", res.stderr)
	}
	auth := filepath.Join(dir, "manifests", "cluster-authentication-02-config.yaml")
	ours, _ := os.ReadFile(auth)
	userAuth := "apiVersion: config.openshift.io/v1\nkind: Authentication\nmetadata:\n  name: cluster\nspec:\n  serviceAccountIssuer: https://issuer.example\n"
	writeFile(t, auth, userAuth)
	writeFile(t, filepath.Join(dir, "manifests", "99-ingress-secret.yaml"), userIngressSecret)
	writeFile(t, filepath.Join(dir, "openshift", "99-auth.yaml"), "# the user's\n"+userAuth)
	mixed := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: y}\n---\n" + userIngressSecret
	writeFile(t, filepath.Join(dir, "openshift", "99-mixed.yaml"), mixed)
	unrelated := "apiVersion: v1\nkind: Secret\nmetadata: {name: other, namespace: openshift-ingress-operator}\n"
	writeFile(t, filepath.Join(dir, "manifests", "99-unrelated.yaml"), unrelated)
	before := snapshot(t, dir)

	for _, force := range []bool{false, true} {
		args := offlineArgs(dir, crs)
		if force {
			args = append(args, "--force")
		}
		res := run(t, true, args...)
		if res.code == 0 {
			t.Fatalf("force=%v: conflicts accepted:\n%s", force, res.stderr)
		}
		for _, want := range []string{
			"4 manifests in " + dir + " conflict",
			"manifests/cluster-authentication-02-config.yaml: exists with other content",
			"manifests/99-ingress-secret.yaml: declares Secret openshift-ingress-operator/cloud-credentials, which oc sts writes as manifests/openshift-ingress-operator-cloud-credentials-credentials.yaml",
			`openshift/99-auth.yaml: declares Authentication cluster with serviceAccountIssuer "https://issuer.example"`,
			"openshift/99-mixed.yaml: declares Secret openshift-ingress-operator/cloud-credentials",
		} {
			if !strings.Contains(res.stderr, want) {
				t.Errorf("force=%v: error does not say %q:\n%s", force, want, res.stderr)
			}
		}
		if strings.Contains(res.stderr, "99-unrelated") {
			t.Errorf("an unrelated Secret is reported:\n%s", res.stderr)
		}
		if !strings.Contains(res.stderr, "cloud-credentials-credentials.yaml (it holds other objects too: edit it by hand") {
			t.Errorf("force=%v: the file holding other objects too is not singled out:\n%s", force, res.stderr)
		}
		sameTree(t, before, snapshot(t, dir))
	}

	os.Remove(filepath.Join(dir, "openshift", "99-mixed.yaml"))
	res := run(t, true, append(offlineArgs(dir, crs), "--force")...)
	if res.code != 0 {
		t.Fatalf("--force: %s", res.stderr)
	}
	if got, _ := os.ReadFile(auth); string(got) != string(ours) {
		t.Errorf("--force: the Authentication is not ours:\n%s", got)
	}
	for _, gone := range []string{"manifests/99-ingress-secret.yaml", "openshift/99-auth.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Errorf("--force left %s: %v", gone, err)
		}
		if !strings.Contains(res.stderr, "--force: replaced "+gone) {
			t.Errorf("--force does not say it replaced %s:\n%s", gone, res.stderr)
		}
	}
	kept, _ := filepath.Glob(filepath.Join(dir, ".oc-sts", "replaced", "*", "manifests", "99-ingress-secret.yaml"))
	if len(kept) != 1 {
		t.Fatalf("the replaced Secret is not kept: %v", kept)
	}
	if got, _ := os.ReadFile(kept[0]); string(got) != userIngressSecret {
		t.Errorf("kept copy differs: %q", got)
	}
	if st, _ := os.Stat(kept[0]); st.Mode().Perm() != 0o600 {
		t.Errorf("kept Secret has mode %v", st.Mode().Perm())
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "manifests", "99-unrelated.yaml")); string(got) != unrelated {
		t.Error("an unrelated manifest changed")
	}
	if res := run(t, true, offlineArgs(dir, crs)...); res.code != 0 || strings.Contains(res.stderr, "replaced") {
		t.Errorf("re-run after --force: exit %d\n%s", res.code, res.stderr)
	}
}

// A prepared dir re-run with another name, account or region stops with
// old and new and the destroy command; --retarget goes on and the state
// dir then holds only the new rendering.
func TestRetargetRefused(t *testing.T) {
	t.Parallel()
	dir := exampleDir(t, nil)
	crs := testdata("credentialsrequests", "4.16")
	if res := run(t, true, offlineArgs(dir, crs)...); res.code != 0 {
		t.Fatal(res.stderr)
	}
	before := snapshot(t, dir)
	for name, tt := range map[string]struct {
		args []string
		want []string
	}{
		"name":    {[]string{"--name", "other"}, []string{"name: demo -> other", "issuer: https://demo-oidc.s3.us-east-2.amazonaws.com -> https://other-oidc.s3.us-east-2.amazonaws.com"}},
		"account": {[]string{"--account-id", "210987654321"}, []string{"account: 123456789012 -> 210987654321"}},
	} {
		args := offlineArgs(dir, crs, tt.args...)
		if tt.args[0] == "--account-id" {
			args = append(offlineArgs(dir, crs)[:len(offlineArgs(dir, crs))-1], tt.args[1])
		}
		res := run(t, true, args...)
		want := append(tt.want, "oc sts destroy --dir "+dir+"` (with account 123456789012's credentials)", "--retarget", "oc sts destroy --name demo --region us-east-2")
		for _, w := range want {
			if res.code == 0 || !strings.Contains(res.stderr, w) {
				t.Errorf("%s: exit %d, want %q in:\n%s", name, res.code, w, res.stderr)
			}
		}
		sameTree(t, before, snapshot(t, dir))
	}
	oldRoles, _ := filepath.Glob(filepath.Join(dir, ".oc-sts", "aws", "roles", "demo-*"))
	if len(oldRoles) == 0 {
		t.Fatal("no role files rendered")
	}
	res := run(t, true, offlineArgs(dir, crs, "--name", "other", "--retarget")...)
	if res.code != 0 || !strings.Contains(res.stderr, "warning: --retarget") || !strings.Contains(res.stderr, "oc sts destroy --name demo --region us-east-2") {
		t.Fatalf("--retarget: exit %d\n%s", res.code, res.stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".oc-sts", "aws", "roles", "demo-*")); len(left) > 0 {
		t.Errorf("stale role files of the first target: %v", left)
	}
	if now, _ := filepath.Glob(filepath.Join(dir, ".oc-sts", "aws", "roles", "other-*")); len(now) != len(oldRoles) {
		t.Errorf("role files of the new target: %v", now)
	}
	secret, _ := os.ReadFile(filepath.Join(dir, "manifests", "openshift-ingress-operator-cloud-credentials-credentials.yaml"))
	if !strings.Contains(string(secret), ":role/other-") {
		t.Errorf("Secret not re-pointed:\n%s", secret)
	}
	if res := run(t, true, offlineArgs(dir, crs, "--name", "other")...); res.code != 0 {
		t.Errorf("re-run on the new target: %s", res.stderr)
	}
}

// --state-dir inside what the installer reads is refused, nothing created.
func TestStateDirInsideManifestsRefused(t *testing.T) {
	t.Parallel()
	crs := testdata("credentialsrequests", "4.16")
	for _, sub := range []string{"manifests/state", "openshift", "tls/x"} {
		dir := exampleDir(t, nil)
		before := snapshot(t, dir)
		res := run(t, true, offlineArgs(dir, crs, "--state-dir", filepath.Join(dir, sub))...)
		if res.code == 0 || !strings.Contains(res.stderr, "which openshift-install reads") {
			t.Errorf("%s: exit %d\n%s", sub, res.code, res.stderr)
		}
		sameTree(t, before, snapshot(t, dir))
	}
}

// The install-config edit changes only the credentialsMode bytes, in a
// JSON file (which stays JSON) and with an empty or null mode.
func TestInstallConfigEditByteExact(t *testing.T) {
	t.Parallel()
	crs := testdata("credentialsrequests", "4.16")
	example, _ := os.ReadFile(filepath.Join(repoRoot(), "examples", "install-dir", "install-config.yaml"))
	json := "{\n  \"apiVersion\": \"v1\",\n  \"metadata\": {\"name\": \"demo\"},\n  \"baseDomain\": \"example.com\",\n  \"platform\": {\"aws\": {\"region\": \"us-east-2\"}},\n  \"pullSecret\": \"{\\\"auths\\\":{}}\"\n}\n"
	for name, tt := range map[string]struct{ in, want string }{
		"JSON":          {json, strings.Replace(json, "{\n", "{\n  \"credentialsMode\": \"Manual\",\n", 1)},
		"JSON null":     {strings.Replace(json, "\"baseDomain\"", "\"credentialsMode\": null,\n  \"baseDomain\"", 1), strings.Replace(json, "\"baseDomain\"", "\"credentialsMode\": \"Manual\",\n  \"baseDomain\"", 1)},
		"empty mode":    {string(example) + "credentialsMode:\n# the end\n", string(example) + "credentialsMode: Manual\n# the end\n"},
		"null, comment": {string(example) + "credentialsMode: null # later\n", string(example) + "credentialsMode: Manual # later\n"},
		"quoted empty":  {string(example) + "credentialsMode: \"\"\n", string(example) + "credentialsMode: Manual\n"},
	} {
		dir := exampleDir(t, []byte(tt.in))
		if res := run(t, true, offlineArgs(dir, crs)...); res.code != 0 {
			t.Fatalf("%s: %s", name, res.stderr)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "install-config.yaml")); string(got) != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", name, got, tt.want)
		}
	}
}
