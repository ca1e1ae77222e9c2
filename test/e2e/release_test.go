package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	ggcrv1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/test/registry"
)

var pullSecretLine = regexp.MustCompile(`(?m)^pullSecret: .*$`)

func rolesOf(t *testing.T, stdout string) string {
	t.Helper()
	var p plan.Plan
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	b, _ := json.Marshal(p.Roles)
	return string(b)
}

// With the pull secret only in install-config.yaml, prepare reads the
// release image from a registry that requires auth and gets exactly what
// the directory-based run gets.
func TestPrepareFromReleaseImage(t *testing.T) {
	t.Parallel()
	srv := registry.Start(t, "puller", "s3cret")
	for _, release := range []string{"4.14", "4.16"} {
		spec := srv.Push(t, "ocp-release:"+release, registry.Release(t, testdata("credentialsrequests", release), release+".0", nil))
		example, _ := os.ReadFile(filepath.Join(repoRoot(), "examples", "install-dir", "install-config.yaml"))
		ic := pullSecretLine.ReplaceAll(example, []byte("pullSecret: '"+srv.PullSecret()+"'"))

		imageDir, dirDir := exampleDir(t, ic), exampleDir(t, ic)
		fromImage := run(t, false, "prepare", "--no-installer", "--dir", imageDir, "--release-image", spec, "--offline", "--account-id", "123456789012", "-o", "json")
		fromDir := run(t, true, offlineArgs(dirDir, testdata("credentialsrequests", release), "-o", "json")...)
		if fromImage.code != 0 || fromDir.code != 0 {
			t.Fatalf("%s: image exit %d (%s), dir exit %d (%s)", release, fromImage.code, fromImage.stderr, fromDir.code, fromDir.stderr)
		}
		if rolesOf(t, fromImage.stdout) != rolesOf(t, fromDir.stdout) {
			t.Errorf("%s: the image and the directory give different roles", release)
		}
		if !strings.Contains(fromImage.stderr, spec) || !strings.Contains(fromImage.stderr, "--release-image") || !strings.Contains(fromImage.stderr, release+".0") {
			t.Errorf("%s: progress does not name the image, its source and version:\n%s", release, fromImage.stderr)
		}
		if strings.Contains(fromImage.stderr+fromImage.stdout, "s3cret") || strings.Contains(fromImage.stderr+fromImage.stdout, "cHVsbGVyOnMzY3JldA") {
			t.Error("the pull secret was printed")
		}
		manifests := func(dir string) map[string]string { return snapshot(t, filepath.Join(dir, "manifests")) }
		a, b := manifests(imageDir), manifests(dirDir)
		delete(a, "cluster-authentication-02-config.yaml") // same issuer; compared through roles
		delete(b, "cluster-authentication-02-config.yaml")
		sameTree(t, b, a)
	}
}

func TestReleaseImageErrorsLeaveDirUntouched(t *testing.T) {
	t.Parallel()
	srv := registry.Start(t, "puller", "s3cret")
	spec := srv.Push(t, "ocp-release:4.16", registry.Release(t, testdata("credentialsrequests", "4.16"), "4.16.0", nil))
	example, _ := os.ReadFile(filepath.Join(repoRoot(), "examples", "install-dir", "install-config.yaml"))
	withSecret := pullSecretLine.ReplaceAll(example, []byte("pullSecret: '"+srv.PullSecret()+"'"))
	for name, tt := range map[string]struct {
		installConfig []byte
		spec, want    string
	}{
		"unauthorized":  {nil, spec, "registry " + srv.Host + " refused"},
		"unknown":       {withSecret, srv.Host + "/ocp-release:4.99", "manifest unknown"},
		"unreachable":   {withSecret, "127.0.0.1:1/ocp-release:4.16", "unreachable"},
		"bad pull spec": {withSecret, "UPPER/case:x", "not a valid pull spec"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := exampleDir(t, tt.installConfig)
			before := snapshot(t, dir)
			res := run(t, false, "prepare", "--no-installer", "--dir", dir, "--release-image", tt.spec, "--offline", "--account-id", "123456789012")
			if res.code == 0 || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("exit %d: %s", res.code, res.stderr)
			}
			sameTree(t, before, snapshot(t, dir))
		})
	}
}

// Pull secrets from -a and $REGISTRY_AUTH_FILE; a manifest list resolves to
// controlPlane.architecture.
func TestRegistryConfigAndArchitecture(t *testing.T) {
	srv := registry.Start(t, "puller", "s3cret")
	spec := srv.Push(t, "ocp-release:multi", registry.Index(t, map[string]v1Image{
		"amd64": registry.Release(t, testdata("credentialsrequests", "4.14"), "4.14.9", nil),
		"arm64": registry.Release(t, testdata("credentialsrequests", "4.16"), "4.16.9", nil),
	}))
	secret := filepath.Join(t.TempDir(), "auth.json")
	os.WriteFile(secret, []byte(srv.PullSecret()), 0o600)
	args := func(dir string) []string {
		return []string{"prepare", "--no-installer", "--dir", dir, "--release-image", spec, "--offline", "--account-id", "123456789012"}
	}
	if res := run(t, false, append(args(exampleDir(t, nil)), "-a", secret)...); res.code != 0 || !strings.Contains(res.stderr, "Release 4.14.9") {
		t.Errorf("-a, default amd64: exit %d: %s", res.code, res.stderr)
	}
	example, _ := os.ReadFile(filepath.Join(repoRoot(), "examples", "install-dir", "install-config.yaml"))
	arm := strings.Replace(string(example), "controlPlane:\n", "controlPlane:\n  architecture: arm64\n", 1)
	t.Setenv("REGISTRY_AUTH_FILE", secret)
	if res := run(t, false, args(exampleDir(t, []byte(arm)))...); res.code != 0 || !strings.Contains(res.stderr, "Release 4.16.9") {
		t.Errorf("REGISTRY_AUTH_FILE, arm64: exit %d: %s", res.code, res.stderr)
	}
}

type v1Image = ggcrv1.Image
