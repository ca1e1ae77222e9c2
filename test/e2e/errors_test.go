package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func runBashSyntaxCheck(script string) ([]byte, error) {
	return exec.Command("bash", "-n", script).CombinedOutput()
}

// Bad input: one clear error naming the file or field, a non-zero exit,
// and the install dir exactly as it was.
func TestBadInputLeavesDirUntouched(t *testing.T) {
	t.Parallel()
	example, _ := os.ReadFile(filepath.Join(repoRoot(), "examples", "install-dir", "install-config.yaml"))
	good := testdata("credentialsrequests", "4.16")
	badCRs := t.TempDir()
	os.WriteFile(filepath.Join(badCRs, "0000_50_broken.yaml"), []byte("apiVersion: cloudcredential.openshift.io/v1\nkind: CredentialsRequest\nmetadata: [\n"), 0o644)

	for name, tt := range map[string]struct {
		installConfig string
		crDir         string
		extra         []string
		want          string
	}{
		"malformed install-config": {"apiVersion: v1\nplatform: {aws: [\n", good, nil, "install-config.yaml"},
		"gcp platform":             {strings.Replace(string(example), "  aws:\n    region: us-east-2", "  gcp:\n    region: us-east1", 1), good, nil, "platform: is \"gcp\""},
		"Mint mode":                {string(example) + "credentialsMode: Mint\n", good, nil, "credentialsMode: is \"Mint\""},
		"short account id":         {"", good, []string{"--account-id", "12345"}, "--account-id \"12345\""},
		"name too long for bucket": {"", good, []string{"--name", strings.Repeat("a", 60)}, "63-character limit"},
		"malformed CR":             {"", badCRs, nil, "0000_50_broken.yaml"},
		"missing CR dir":           {"", filepath.Join(badCRs, "nope"), nil, "no such file"},
		"other region":             {"", good, []string{"--region", "eu-west-1"}, "platform.aws.region"},
		"bad output":               {"", good, []string{"-o", "xml"}, "--output"},
	} {
		t.Run(name, func(t *testing.T) {
			var ic []byte
			if tt.installConfig != "" {
				ic = []byte(tt.installConfig)
			}
			dir := exampleDir(t, ic)
			before := snapshot(t, dir)
			args := offlineArgs(dir, tt.crDir)
			if len(tt.extra) > 0 && tt.extra[0] == "--account-id" {
				args[len(args)-1] = tt.extra[1]
				tt.extra = nil
			}
			res := run(t, true, append(args, tt.extra...)...)
			if res.code == 0 || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q, want it to mention %q", res.code, res.stderr, tt.want)
			}
			if strings.Count(strings.TrimSpace(res.stderr), "\n") > 3 {
				t.Errorf("error is not concise:\n%s", res.stderr)
			}
			sameTree(t, before, snapshot(t, dir))
		})
	}
	res := run(t, true, offlineArgs(filepath.Join(badCRs, "no-such-dir"), good)...)
	if res.code == 0 || !strings.Contains(res.stderr, "no-such-dir") {
		t.Errorf("missing install dir: exit %d, %s", res.code, res.stderr)
	}
}

// An existing signer key is reused; a different one beside it is refused.
func TestSignerKeyIsNeverReplaced(t *testing.T) {
	t.Parallel()
	dir := exampleDir(t, nil)
	crs := testdata("credentialsrequests", "4.16")
	if res := run(t, true, offlineArgs(dir, crs)...); res.code != 0 {
		t.Fatal(res.stderr)
	}
	key, _ := os.ReadFile(filepath.Join(dir, "tls", "bound-service-account-signing-key.key"))
	// The installer consumes tls/; the state dir still has the key.
	os.RemoveAll(filepath.Join(dir, "tls"))
	if res := run(t, true, offlineArgs(dir, crs)...); res.code != 0 {
		t.Fatal(res.stderr)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "tls", "bound-service-account-signing-key.key")); string(again) != string(key) {
		t.Fatal("the signer key was replaced")
	}
	other := exampleDir(t, nil)
	run(t, true, offlineArgs(other, crs)...)
	otherKey, _ := os.ReadFile(filepath.Join(other, "tls", "bound-service-account-signing-key.key"))
	os.WriteFile(filepath.Join(dir, "tls", "bound-service-account-signing-key.key"), otherKey, 0o600)
	before := snapshot(t, dir)
	res := run(t, true, offlineArgs(dir, crs)...)
	if res.code == 0 || !strings.Contains(res.stderr, "different signer keys") {
		t.Errorf("exit %d: %s", res.code, res.stderr)
	}
	sameTree(t, before, snapshot(t, dir))
}

func TestHelpVersionCompletion(t *testing.T) {
	t.Parallel()
	if res := run(t, false, "prepare", "--help"); res.code != 0 || !strings.Contains(res.stdout, "--offline") || !strings.Contains(res.stdout, "Examples:") {
		t.Errorf("prepare --help: %d %s", res.code, res.stdout)
	}
	if res := run(t, false, "verify", "--help"); !strings.Contains(res.stdout, "--kubeconfig") || !strings.Contains(res.stdout, "--context") {
		t.Errorf("verify lacks kube flags: %s", res.stdout)
	}
	if res := run(t, false, "version", "-o", "json"); res.code != 0 || !strings.Contains(res.stdout, `"version"`) {
		t.Errorf("version: %d %s", res.code, res.stdout)
	}
	if res := run(t, false, "completion", "bash"); res.code != 0 || !strings.Contains(res.stdout, "oc-sts") {
		t.Errorf("completion: %d", res.code)
	}
}

// Without AWS credentials, an online prepare fails before changing anything
// and says how to provide them.
func TestPrepareWithoutCredentials(t *testing.T) {
	t.Parallel()
	dir := exampleDir(t, nil)
	before := snapshot(t, dir)
	cmd := exec.Command("unshare", "-n", binary, "prepare", "--no-installer", "--dir", dir, "--credentials-requests-dir", testdata("credentialsrequests", "4.16"), "--yes")
	cmd.Env = []string{"HOME=" + t.TempDir(), "AWS_EC2_METADATA_DISABLED=true", "PATH=" + os.Getenv("PATH")}
	res := runCmd(t, cmd)
	if res.code != 1 || !strings.Contains(res.stderr, "no usable AWS credentials") || !strings.Contains(res.stderr, "AWS_PROFILE") {
		t.Errorf("exit %d: %s", res.code, res.stderr)
	}
	sameTree(t, before, snapshot(t, dir))
}

// Without a kubeconfig, verify says how to point it at a cluster.
func TestVerifyWithoutCluster(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(binary, "verify")
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	if res := runCmd(t, cmd); res.code != 1 || !strings.Contains(res.stderr, "--kubeconfig") {
		t.Errorf("exit %d: %s", res.code, res.stderr)
	}
}
