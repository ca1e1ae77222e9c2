package installer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeInstaller consumes install-config.yaml as `create manifests` does;
// the real one runs in test/e2e.
const fakeInstaller = `#!/bin/sh
set -e
[ "$1 $2 $3" = "create manifests --dir" ] || exit 2
d=$4
grep -q 'credentialsMode: Manual' "$d/install-config.yaml"
[ ! -e "$d/.oc-sts" ] || { echo "state dir copied" >&2; exit 3; }
mkdir -p "$d/manifests" "$d/openshift"
echo cluster-config > "$d/manifests/cluster-config.yaml"
echo kubeadmin > "$d/openshift/99_kubeadmin-password-secret.yaml"
echo '{"*installconfig.InstallConfig":{}}' > "$d/.openshift_install_state.json"
echo 'level=info msg=Manifests created' | tee -a "$d/.openshift_install.log" >&2
rm "$d/install-config.yaml"
`

func writeScript(t *testing.T, body string) *Binary {
	t.Helper()
	p := filepath.Join(t.TempDir(), "openshift-install")
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Binary{Path: p, Source: "test"}
}

func TestCreateManifestsOnACopy(t *testing.T) {
	d := dir(t, map[string]string{
		InstallConfigFile:                           "apiVersion: v1\n",
		".openshift_install.log":                    "earlier\n",
		"manifests/mine.yaml":                       "kept as it is\n",
		".oc-sts/signer.key":                        "not copied",
		"tls/bound-service-account-signing-key.key": "KEY",
	})
	before := snapshot(t, d)
	var log bytes.Buffer
	scratch := filepath.Join(d, ".oc-sts", "create-manifests")
	files, err := writeScript(t, fakeInstaller).CreateManifests(context.Background(), d, scratch, filepath.Join(d, ".oc-sts"), []byte("apiVersion: v1\ncredentialsMode: Manual\n"), &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if got := snapshot(t, d); got != before {
		t.Errorf("the install dir changed:\n%s\nwas:\n%s", got, before)
	}
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("scratch dir left: %v", err)
	}
	var got []string
	for _, f := range files {
		rel, _ := filepath.Rel(d, f.Path)
		if f.Remove {
			rel = "-" + rel
		}
		got = append(got, rel)
	}
	// Written: the new files and the longer log; then the consumed install-config, last.
	want := ".openshift_install.log .openshift_install_state.json manifests/cluster-config.yaml openshift/99_kubeadmin-password-secret.yaml -install-config.yaml"
	if strings.Join(got, " ") != want {
		t.Errorf("changes %v, want %s", got, want)
	}
	if !strings.Contains(log.String(), "Manifests created") {
		t.Errorf("installer log not passed on: %q", log.String())
	}
}

func TestCreateManifestsFailsCleanly(t *testing.T) {
	d := dir(t, map[string]string{InstallConfigFile: "apiVersion: v1\n"})
	before := snapshot(t, d)
	bin := writeScript(t, "#!/bin/sh\necho 'level=fatal msg=failed to fetch Master Machines: no public route53 zone' >&2\nexit 1\n")
	_, err := bin.CreateManifests(context.Background(), d, filepath.Join(t.TempDir(), "s"), "", []byte("x"), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no public route53 zone") {
		t.Fatalf("error does not carry the installer's reason: %v", err)
	}
	if snapshot(t, d) != before {
		t.Error("a failed run changed the install dir")
	}
}

func TestCreateManifestsRefusesSymlinks(t *testing.T) {
	d := dir(t, map[string]string{InstallConfigFile: "apiVersion: v1\n"})
	os.Symlink("/etc/passwd", filepath.Join(d, "manifests.yaml"))
	_, err := writeScript(t, fakeInstaller).CreateManifests(context.Background(), d, filepath.Join(t.TempDir(), "s"), "", []byte("x"), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatal(err)
	}
}

func snapshot(t *testing.T, d string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		b.WriteString(p + "=" + string(data) + "\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
