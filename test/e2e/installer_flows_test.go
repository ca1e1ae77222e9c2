package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/oc-sts/oc-sts/test/installerworld"
	"github.com/oc-sts/oc-sts/test/registry"
)

// readmeBlock is the first ```sh block after heading in README.md.
func readmeBlock(t *testing.T, heading string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := bytes.Cut(data, []byte("\n"+heading+"\n"))
	if !ok {
		t.Fatalf("README.md has no %q", heading)
	}
	_, block, ok := bytes.Cut(after, []byte("```sh\n"))
	block, _, ok2 := bytes.Cut(block, []byte("```"))
	if !ok || !ok2 {
		t.Fatalf("README.md: no ```sh block under %q", heading)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(block))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines
}

// The README's real-cluster flow, command by command, as a user runs it:
// openshift-install (a release's installer: its release baked in, as `oc adm
// release extract --command` makes it) and oc sts on PATH, AWS credentials
// from the environment. Two commands cannot run here and are stood in for:
// the interactive `create install-config` by the file it writes, and
// `create cluster` by `create ignition-configs`, the part of it that reads
// the install dir (what follows creates the infrastructure). verify needs a
// live cluster: the verify tests run it against a real kube-apiserver.
func TestREADMERealClusterFlow(t *testing.T) {
	t.Parallel()
	s := newInstallerSetup(t)
	work := t.TempDir()
	bin := filepath.Join(work, "bin")
	os.Mkdir(bin, 0o755)
	installer, env := s.iw.WithRelease(t, work, s.release)
	if err := os.Symlink(installer, filepath.Join(bin, "openshift-install")); err != nil {
		t.Fatal(err)
	}
	env = append(env, "PATH="+bin+":"+os.Getenv("PATH"))
	steps := readmeBlock(t, "## The real-cluster flow")
	var ran []string
	for _, line := range steps {
		args := strings.Fields(line)
		if strings.ContainsAny(line, `'"$|;&<>`) {
			t.Fatalf("README line %q needs a shell; keep the flow to plain commands", line)
		}
		dir := ""
		for i, a := range args {
			if a == "--dir" && i+1 < len(args) {
				dir = filepath.Join(work, args[i+1])
			}
		}
		switch {
		case strings.HasPrefix(line, "openshift-install create install-config"):
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, "install-config.yaml"), s.iw.InstallConfig(clusterName, fakePullSecret), 0o640)
		case strings.HasPrefix(line, "openshift-install create cluster"):
			out, err := s.iw.RunBinary(t, filepath.Join(bin, "openshift-install"), append(s.env, env...), "create", "ignition-configs", "--dir", dir)
			if err != nil {
				t.Fatalf("%s (as create ignition-configs): %v\n%s", line, err, out)
			}
			assertBootstrap(t, dir, s.fromAWS(t, filepath.Join(dir, ".oc-sts")))
		case strings.HasPrefix(line, "oc sts verify"):
			continue
		case strings.HasPrefix(line, "oc sts "):
			cmd := exec.Command(binary, args[2:]...)
			cmd.Dir, cmd.Env = work, append(append([]string{}, s.env...), env...)
			if res := runCmd(t, cmd); res.code != 0 {
				t.Fatalf("%s: exit %d\n%s\n%s", line, res.code, res.stdout, res.stderr)
			} else if args[2] == "prepare" && !strings.Contains(line, "--dry-run") && !strings.Contains(res.stdout, "Checked as openshift-install will read") {
				t.Errorf("%s: no check of the result:\n%s", line, res.stdout)
			}
		default:
			t.Fatalf("README line %q: the test does not know how to run it", line)
		}
		ran = append(ran, line)
	}
	if len(ran) < 4 {
		t.Fatalf("ran only %q", ran)
	}
	roles, err := s.iam().ListRoles(context.Background(), &iam.ListRolesInput{})
	if err != nil || len(roles.Roles) != 0 {
		t.Errorf("after destroy: %d roles, %v", len(roles.Roles), err)
	}
}

// The docs' order: credentialsMode: Manual, `openshift-install create
// manifests`, then prepare writes into the consumed dir, reading the
// install-config and the release image from the installer's real state file.
func TestDocsOrderConsumedDir(t *testing.T) {
	t.Parallel()
	s := newInstallerSetup(t)
	dir := s.installDir(t, "credentialsMode: Manual\n")
	s.installer(t, "create", "manifests", "--dir", dir)
	// The state file records no release image before `create ignition-configs`:
	// the one the installer will install is still the override's.
	res := s.ocSTSWith(t, []string{"OPENSHIFT_INSTALL_RELEASE_IMAGE_OVERRIDE=" + s.release}, "prepare", "--dir", dir, "--offline", "--account-id", "123456789012")
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, s.release+" (from $OPENSHIFT_INSTALL_RELEASE_IMAGE_OVERRIDE)") {
		t.Errorf("the release image is not the one the installer will install:\n%s", res.stderr)
	}
	if !strings.Contains(res.stdout, "Checked as openshift-install will read") {
		t.Errorf("no check line:\n%s", res.stdout)
	}
	if check := s.ocSTSWith(t, nil, "prepare", "--check", "--dir", dir); check.code != 0 {
		t.Errorf("prepare --check: exit %d\n%s", check.code, check.stderr)
	}
	s.installer(t, "create", "ignition-configs", "--dir", dir)
	assertBootstrap(t, dir, fromPlan(t, s.crDir, filepath.Join(dir, ".oc-sts")))
}

// Manifests created without Manual hold the root credentials: prepare
// refuses the dir and changes nothing.
func TestConsumedWithoutManual(t *testing.T) {
	t.Parallel()
	s := newInstallerSetup(t)
	dir := s.installDir(t, "")
	s.installer(t, "create", "manifests", "--dir", dir)
	before := snapshot(t, dir)
	res := s.ocSTSWith(t, nil, "prepare", "--dir", dir, "--offline", "--account-id", "123456789012", "--credentials-requests-dir", s.crDir)
	if res.code == 0 || !strings.Contains(res.stderr, "without credentialsMode: Manual") {
		t.Errorf("exit %d\n%s", res.code, res.stderr)
	}
	sameTree(t, before, snapshot(t, dir))
}

// --no-installer writes the files for a user who runs `create manifests`
// next; the check says the dir is not ready until then. Run `create
// cluster` (here its ignition part) first, and the installer drops them.
func TestNoInstallerThenCreateManifests(t *testing.T) {
	t.Parallel()
	s := newInstallerSetup(t)
	dir := s.installDir(t, "")
	args := []string{"prepare", "--dir", dir, "--no-installer", "--offline", "--account-id", "123456789012", "--release-image", s.release}
	res := s.ocSTSWith(t, nil, args...)
	if res.code != 0 || !strings.Contains(res.stdout, "3. openshift-install create manifests --dir "+dir) || !strings.Contains(res.stdout, "5. openshift-install create cluster --dir "+dir) {
		t.Fatalf("exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if check := s.ocSTSWith(t, nil, "prepare", "--check", "--dir", dir); check.code == 0 || !strings.Contains(check.stderr, "ignores manifests/ until") {
		t.Errorf("--check before create manifests: exit %d\n%s", check.code, check.stderr)
	}

	skipped := t.TempDir()
	if err := exec.Command("cp", "-a", dir+"/.", skipped).Run(); err != nil {
		t.Fatal(err)
	}
	s.installer(t, "create", "ignition-configs", "--dir", skipped)
	files, err := installerworld.Bootstrap(filepath.Join(skipped, "bootstrap.ign"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files[bootstrapManifests+"cluster-authentication-02-config.yaml"]; ok {
		t.Error("the installer read manifests/ before create manifests: the reason for running it is gone, revisit prepare's rule")
	}

	s.installer(t, "create", "manifests", "--dir", dir)
	if check := s.ocSTSWith(t, nil, "prepare", "--check", "--dir", dir); check.code != 0 || !strings.Contains(check.stdout, "Checked as openshift-install will read") {
		t.Errorf("--check after create manifests: exit %d\n%s", check.code, check.stderr)
	}
	s.installer(t, "create", "ignition-configs", "--dir", dir)
	assertBootstrap(t, dir, fromPlan(t, s.crDir, filepath.Join(dir, ".oc-sts")))
}

// prepare runs `create manifests` itself offline with a --release-image
// and --installer, and online behind a private CloudFront issuer with
// $OPENSHIFT_INSTALL; both end in a bootstrap that holds what AWS has.
func TestPrepareRunsTheInstaller(t *testing.T) {
	t.Parallel()
	t.Run("offline", func(t *testing.T) {
		s := newInstallerSetup(t)
		dir := s.installDir(t, "")
		res := s.ocSTSWith(t, []string{"OPENSHIFT_INSTALL_RELEASE_IMAGE_OVERRIDE=" + s.release},
			"prepare", "--dir", dir, "--offline", "--account-id", "123456789012", "--release-image", s.release, "--installer", s.iw.Installer)
		if res.code != 0 || !strings.Contains(res.stderr, "create manifests") {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "install-config.yaml")); !os.IsNotExist(err) {
			t.Errorf("install-config.yaml not consumed: %v", err)
		}
		kept, _ := os.ReadFile(filepath.Join(dir, ".oc-sts", "install-config.yaml"))
		if !strings.Contains(string(kept), "credentialsMode: Manual") || !strings.Contains(string(kept), "serviceEndpoints") {
			t.Errorf("the consumed install-config is not kept in the state dir:\n%s", kept)
		}
		again := s.ocSTSWith(t, []string{"OPENSHIFT_INSTALL_RELEASE_IMAGE_OVERRIDE=" + s.release},
			"prepare", "--dir", dir, "--offline", "--account-id", "123456789012", "--release-image", s.release)
		if again.code != 0 || !strings.Contains(again.stdout, "0 files changed") {
			t.Errorf("re-run on the consumed dir: exit %d\n%s\n%s", again.code, again.stdout, again.stderr)
		}
		s.installer(t, "create", "ignition-configs", "--dir", dir)
		assertBootstrap(t, dir, fromPlan(t, s.crDir, filepath.Join(dir, ".oc-sts")))
	})
	t.Run("private-bucket", func(t *testing.T) {
		s := newInstallerSetup(t)
		dir := s.installDir(t, "")
		res := s.ocSTSWith(t, []string{"OPENSHIFT_INSTALL=" + s.iw.Installer, "OPENSHIFT_INSTALL_RELEASE_IMAGE_OVERRIDE=" + s.release},
			"prepare", "--dir", dir, "--private-bucket", "--yes")
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		want := s.fromAWS(t, filepath.Join(dir, ".oc-sts"))
		if !strings.HasSuffix(want.issuer, ".cloudfront.net") {
			// the provider is for the distribution's domain
			t.Errorf("issuer %s", want.issuer)
		}
		s.installer(t, "create", "ignition-configs", "--dir", dir)
		assertBootstrap(t, dir, want)
	})
}

// The installer must install the release the CredentialsRequests came from.
func TestInstallerOfAnotherRelease(t *testing.T) {
	t.Parallel()
	s := newInstallerSetup(t)
	srv := registry.Start(t, "", "")
	other := srv.Push(t, "ocp-release:4.14.0", registry.Release(t, testdata("credentialsrequests", "4.14"), "4.14.0", nil))
	sameContent := srv.Push(t, "mirror/release:4.16.0", registry.Release(t, s.crDir, "4.16.0", nil))
	bin, env := s.iw.WithRelease(t, t.TempDir(), s.release)
	dir := s.installDir(t, "")
	before := snapshot(t, dir)
	res := s.ocSTSWith(t, env, "prepare", "--dir", dir, "--offline", "--account-id", "123456789012", "--release-image", other, "--installer", bin)
	if res.code == 0 || !strings.Contains(res.stderr, "the installer will install "+s.release) || !strings.Contains(res.stderr, "--release-image "+s.release) {
		t.Errorf("mismatch: exit %d\n%s", res.code, res.stderr)
	}
	sameTree(t, before, snapshot(t, dir))
	if res := s.ocSTSWith(t, env, "prepare", "--dir", dir, "--offline", "--account-id", "123456789012", "--release-image", sameContent, "--installer", bin); res.code != 0 {
		t.Errorf("the same release under another name: exit %d\n%s", res.code, res.stderr)
	}
}

// prepare runs the installer before it changes AWS: when the installer
// fails, or prepare is interrupted while it runs, neither AWS nor the
// install dir has changed; a re-run finishes.
func TestInstallerFailureLeavesDirUntouched(t *testing.T) {
	t.Parallel()
	s := newInstallerSetup(t)
	dir := s.installDir(t, "")
	ic, _ := os.ReadFile(filepath.Join(dir, "install-config.yaml"))
	os.WriteFile(filepath.Join(dir, "install-config.yaml"), bytes.Replace(ic, []byte("baseDomain: example.com"), []byte("baseDomain: nozone.example"), 1), 0o640)
	before := snapshot(t, dir)
	env := []string{"OPENSHIFT_INSTALL=" + s.iw.Installer, "OPENSHIFT_INSTALL_RELEASE_IMAGE_OVERRIDE=" + s.release}
	res := s.ocSTSWith(t, env, "prepare", "--dir", dir, "--yes")
	if res.code == 0 || !strings.Contains(res.stderr, "create manifests") || !strings.Contains(res.stderr, "nothing was changed, in AWS or in") {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if m := s.awsChanges(); len(m) != 0 {
		t.Errorf("AWS changed before the installer ran: %v", m)
	}
	after := snapshot(t, dir)
	for path := range after {
		if strings.HasPrefix(path, ".oc-sts") {
			delete(after, path) // the signer key is kept before it is published
		}
	}
	sameTree(t, before, after)
	if _, err := os.Stat(filepath.Join(dir, ".oc-sts", "create-manifests")); !os.IsNotExist(err) {
		t.Errorf("the installer's scratch copy is left: %v", err)
	}

	cmd := exec.Command(binary, "prepare", "--dir", dir, "--yes")
	cmd.Env = append(append([]string{}, s.env...), env...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &stderr, "create manifests (found by")
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err == nil {
		t.Fatalf("interrupted prepare exited 0\n%s", stderr.String())
	}
	after = snapshot(t, dir)
	for path := range after {
		if strings.HasPrefix(path, ".oc-sts") {
			delete(after, path)
		}
	}
	sameTree(t, before, after)

	if m := s.awsChanges(); len(m) != 0 {
		t.Errorf("AWS changed by an interrupted run: %v", m)
	}

	if err := installerworld.CreatePublicZone(s.moto, "nozone.example"); err != nil {
		t.Fatal(err)
	}
	if res := s.ocSTSWith(t, env, "prepare", "--dir", dir, "--yes"); res.code != 0 || !strings.Contains(res.stdout, "Checked as openshift-install will read") {
		t.Fatalf("re-run: exit %d\n%s", res.code, res.stderr)
	}
}

// syncBuffer is a buffer a running command writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls buf (written by a running command) for s.
func waitFor(t *testing.T, buf *syncBuffer, s string) {
	t.Helper()
	for i := 0; i < 1200; i++ {
		if strings.Contains(buf.String(), s) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("never printed %q:\n%s", s, buf.String())
}

// What prepare --hive emits is what Hive's install manager hands the
// installer: it runs `create manifests`, writes the signing key Secret's key
// to tls/ and the manifests Secret's files into manifests/, then `create
// ignition-configs` (openshift/hive pkg/installmanager, generateAssets).
func TestHiveObjectsAsHiveInstalls(t *testing.T) {
	t.Parallel()
	s := newInstallerSetup(t)
	state := filepath.Join(t.TempDir(), "state")
	res := s.ocSTSWith(t, nil, "prepare", "--hive", "--offline", "--account-id", "123456789012", "--name", clusterName, "--region", "us-east-2",
		"--release-image", s.release, "--state-dir", state, "--hive-namespace", "fleet")
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	raw, err := os.ReadFile(filepath.Join(state, "hive", "objects.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Items []corev1.Secret }
	if err := sigsyaml.Unmarshal(raw, &list); err != nil || len(list.Items) != 2 {
		t.Fatalf("objects.yaml: %v", err)
	}
	dir := s.installDir(t, "credentialsMode: Manual\n") // the install-config Secret, as --apply-to-hub edits it
	s.installer(t, "create", "manifests", "--dir", dir)
	for _, item := range list.Items {
		switch item.Name {
		case clusterName + "-bound-service-account-signing-key":
			os.MkdirAll(filepath.Join(dir, "tls"), 0o700)
			os.WriteFile(filepath.Join(dir, "tls", "bound-service-account-signing-key.key"), item.Data["bound-service-account-signing-key.key"], 0o600)
		case clusterName + "-sts-manifests":
			for name, data := range item.StringData {
				os.WriteFile(filepath.Join(dir, "manifests", name), []byte(data), 0o644)
			}
		default:
			t.Errorf("unexpected hub object %s", item.Name)
		}
	}
	s.installer(t, "create", "ignition-configs", "--dir", dir)
	assertBootstrap(t, dir, fromPlan(t, s.crDir, state))
}
