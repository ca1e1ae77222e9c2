package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/test/registry"
)

// hostileRequest is a CredentialsRequest with the given name and a policy
// whose resource and condition hold shell text.
func hostileRequest(name, resource, condition string) string {
	return fmt.Sprintf(`apiVersion: cloudcredential.openshift.io/v1
kind: CredentialsRequest
metadata:
  name: %s
  namespace: openshift-cloud-credential-operator
spec:
  serviceAccountNames: [sa]
  secretRef: {name: creds, namespace: evil}
  providerSpec:
    apiVersion: cloudcredential.openshift.io/v1
    kind: AWSProviderSpec
    statementEntries:
    - effect: Allow
      action: ["s3:GetObject"]
      resource: %s
      policyCondition:
        StringEquals:
          aws:SourceVpc: %s
`, name, resource, condition)
}

func crDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A CredentialsRequest whose name holds a newline and a command is refused
// with the file and field; one whose policy resource and condition hold
// shell text gives an apply.sh that, run with a stub aws, runs nothing but
// aws, and the policy file aws reads holds the text verbatim.
func TestHostileCredentialsRequest(t *testing.T) {
	t.Parallel()
	mark := filepath.Join(t.TempDir(), "pwned")
	dir := exampleDir(t, nil)
	before := snapshot(t, dir)
	bad := crDir(t, map[string]string{"0000_50_evil.yaml": hostileRequest(`"x\ntouch `+mark+`"`, "'*'", "vpc-1")})
	res := run(t, true, offlineArgs(dir, bad)...)
	if res.code != 1 || !strings.Contains(res.stderr, "0000_50_evil.yaml") || !strings.Contains(res.stderr, "metadata.name") {
		t.Errorf("hostile name: exit %d\n%s", res.code, res.stderr)
	}
	sameTree(t, before, snapshot(t, dir))

	resource := "arn:aws:s3:::b/$(touch " + mark + ")`touch " + mark + "`"
	condition := "a'; touch " + mark + "; echo '"
	good := crDir(t, map[string]string{"0000_50_evil.yaml": hostileRequest("evil", fmt.Sprintf("%q", resource), fmt.Sprintf("%q", condition))})
	if res := run(t, true, offlineArgs(dir, good)...); res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	script := filepath.Join(dir, ".oc-sts", "aws", "apply.sh")
	calls := runWithStubAWS(t, script)
	if _, err := os.Stat(mark); err == nil {
		t.Fatal("apply.sh ran a command from the CredentialsRequest")
	}
	var ops []string
	for _, c := range calls {
		ops = append(ops, c[0]+" "+c[1])
	}
	// Who the caller is and five reads, then nine changes (see freshApply in pkg/handoff).
	if len(ops) != 14 || ops[len(ops)-1] != "iam put-role-policy" {
		t.Errorf("aws calls: %v", ops)
	}
	last := calls[len(calls)-1]
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(script), strings.TrimPrefix(last[slices.Index(last, "--policy-document")+1], "file://")))
	if err != nil || !strings.Contains(string(doc), `"Resource":"arn:aws:s3:::b/$(touch `) || !strings.Contains(string(doc), `a'; touch `) {
		t.Errorf("the policy aws reads: %v\n%s", err, doc)
	}
}

// stubAWS records its arguments and answers as an empty account 123456789012 would.
const stubAWS = `#!/bin/sh
for a in "$@"; do printf '%s\0' "$a"; done >> "$AWS_CALLS"
printf '\001' >> "$AWS_CALLS"
fail() { printf '\nAn error occurred (%s) when calling the %s operation: stub\n' "$1" "$2" >&2; exit 255; }
case "$1 $2" in
"sts get-caller-identity") printf '123456789012\tarn:aws:iam::123456789012:user/admin\n' ;;
"s3control get-public-access-block") fail NoSuchPublicAccessBlockConfiguration GetPublicAccessBlock ;;
"s3api get-bucket-tagging") fail NoSuchBucket GetBucketTagging ;;
"iam get-open-id-connect-provider" | "iam get-role") fail NoSuchEntity "$2" ;;
esac
`

// runWithStubAWS runs a script with an aws that only records its arguments
// and answers as an empty account.
func runWithStubAWS(t *testing.T, script string) [][]string {
	t.Helper()
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "aws"), []byte(stubAWS), 0o755)
	log := filepath.Join(t.TempDir(), "calls")
	cmd := exec.Command("bash", script)
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "AWS_CALLS=" + log}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	raw, _ := os.ReadFile(log)
	var out [][]string
	for _, c := range bytes.Split(bytes.TrimSuffix(raw, []byte{1}), []byte{1}) {
		out = append(out, strings.Split(strings.TrimSuffix(string(c), "\x00"), "\x00"))
	}
	return out
}

// maxRSS is the peak resident memory of a finished command, in MiB.
func maxRSS(cmd *exec.Cmd) int64 {
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss >> 10 // KiB on Linux
	}
	return -1
}

// A release image with a 256 MiB manifest (a layer of a few hundred KiB:
// the decompression bomb of the review, which took 2.7 GB) is read in
// bounded memory; the same size in a file that mentions CredentialsRequest
// is refused, naming the file and the limit.
//
// Not t.Parallel: a child's peak RSS (wait4) starts at the peak of the
// process that forked it (Go's exec shares its memory until the exec), so
// it is measured while no parallel test has grown the test process.
func TestCraftedLayerBoundedMemory(t *testing.T) {
	srv := registry.Start(t, "", "")
	base := registry.Release(t, testdata("credentialsrequests", "4.16"), "4.16.0", nil)
	for name, tc := range map[string]struct {
		file, tail, want string
		code             int
	}{
		"huge unrelated manifest": {"release-manifests/0000_99_huge.yaml", "kind: ConfigMap\n", "Release 4.16.0", 0},
		"huge CredentialsRequest": {"release-manifests/0000_50_huge.yaml", "kind: CredentialsRequest\n",
			"release-manifests/0000_50_huge.yaml is 256 MiB, over the release-manifest file limit (4 MiB)", 1},
	} {
		t.Run(name, func(t *testing.T) {
			img, err := registry.HugeFileLayer(base, tc.file, 256<<20, []byte(tc.tail))
			if err != nil {
				t.Fatal(err)
			}
			spec := srv.Push(t, "ocp-release:huge", img)
			dir := exampleDir(t, nil)
			cmd := exec.Command(binary, "prepare", "--no-installer", "--dir", dir, "--release-image", spec, "--insecure", "--offline", "--account-id", "123456789012")
			res := runCmd(t, cmd)
			if res.code != tc.code || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, want %d and %q:\n%s", res.code, tc.code, tc.want, res.stderr)
			}
			rss := maxRSS(cmd)
			if rss > 200 {
				t.Errorf("peak RSS %d MiB reading a 256 MiB manifest", rss)
			}
			t.Logf("peak RSS %d MiB", rss)
		})
	}
}

// install-config.yaml as a link to /dev/zero, as a FIFO, or as a link to
// a real file: each refused at once, naming what to do; the link is kept.
func TestInstallConfigMustBeARegularFile(t *testing.T) {
	t.Parallel()
	real := filepath.Join(t.TempDir(), "install-config.yaml")
	example, _ := os.ReadFile(filepath.Join(repoRoot(), "examples", "install-dir", "install-config.yaml"))
	os.WriteFile(real, example, 0o600)
	for name, tc := range map[string]struct {
		make func(path string)
		want string
	}{
		"link to /dev/zero": {func(p string) { os.Symlink("/dev/zero", p) }, "is a symbolic link to /dev/zero"},
		"FIFO":              {func(p string) { syscall.Mkfifo(p, 0o600) }, "not a regular file (it is a FIFO)"},
		"link to a file":    {func(p string) { os.Symlink(real, p) }, "cp --remove-destination " + real},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tc.make(filepath.Join(dir, "install-config.yaml"))
			before := snapshot(t, dir)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res := runCmd(t, exec.CommandContext(ctx, "unshare", append([]string{"-n", binary}, offlineArgs(dir, testdata("credentialsrequests", "4.16"))...)...))
			if res.code != 1 || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, want %q:\n%s", res.code, tc.want, res.stderr)
			}
			sameTree(t, before, snapshot(t, dir))
		})
	}
	if got, _ := os.ReadFile(real); !bytes.Equal(got, example) {
		t.Error("the link's target was changed")
	}
}

// tls/, manifests/, the state dir and a key file as symbolic links are
// refused before anything is written, there or where they point.
func TestSymlinksAreRefused(t *testing.T) {
	t.Parallel()
	crs := testdata("credentialsrequests", "4.16")
	for name, tc := range map[string]struct {
		link func(dir, elsewhere string) []string // extra args
		want string
	}{
		"tls/": {func(dir, elsewhere string) []string { os.Symlink(elsewhere, filepath.Join(dir, "tls")); return nil }, "tls is a symbolic link"},
		"manifests/": {func(dir, elsewhere string) []string {
			os.Symlink(elsewhere, filepath.Join(dir, "manifests"))
			return nil
		}, "manifests is a symbolic link"},
		"state dir": {func(dir, elsewhere string) []string { os.Symlink(elsewhere, filepath.Join(dir, ".oc-sts")); return nil }, "is a symbolic link to "},
		"--state-dir": {func(dir, elsewhere string) []string {
			link := filepath.Join(filepath.Dir(elsewhere), "state-link")
			os.Symlink(elsewhere, link)
			return []string{"--state-dir", link}
		}, "state-link is a symbolic link to"},
		"signer key": {func(dir, elsewhere string) []string {
			key := filepath.Join(elsewhere, "key")
			os.WriteFile(key, pemKey(t, 4096), 0o600)
			os.MkdirAll(filepath.Join(dir, "tls"), 0o755)
			os.Symlink(key, filepath.Join(dir, "tls", "bound-service-account-signing-key.key"))
			return nil
		}, "bound-service-account-signing-key.key is a symbolic link to"},
	} {
		t.Run(name, func(t *testing.T) {
			dir, elsewhere := exampleDir(t, nil), filepath.Join(t.TempDir(), "elsewhere")
			os.Mkdir(elsewhere, 0o700)
			extra := tc.link(dir, elsewhere)
			before, beforeElsewhere := snapshot(t, dir), snapshot(t, elsewhere)
			res := run(t, true, offlineArgs(dir, crs, extra...)...)
			if res.code != 1 || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, want %q:\n%s", res.code, tc.want, res.stderr)
			}
			sameTree(t, before, snapshot(t, dir))
			sameTree(t, beforeElsewhere, snapshot(t, elsewhere))
		})
	}
}

func pemKey(t testing.TB, bits int) []byte {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// A key planted world-readable is refused, not adopted or re-moded; a safe
// 2048-bit key is adopted and the run says which and from where.
func TestPlantedKeyIsNotAdopted(t *testing.T) {
	t.Parallel()
	dir := exampleDir(t, nil)
	state := filepath.Join(dir, ".oc-sts")
	os.MkdirAll(state, 0o700)
	key := filepath.Join(state, "signer.key")
	os.WriteFile(key, pemKey(t, 2048), 0o600)
	os.Chmod(key, 0o644)
	before := snapshot(t, dir)
	res := run(t, true, offlineArgs(dir, testdata("credentialsrequests", "4.16"))...)
	if res.code != 1 || !strings.Contains(res.stderr, key+" has mode 0644, readable by others") {
		t.Errorf("exit %d:\n%s", res.code, res.stderr)
	}
	sameTree(t, before, snapshot(t, dir))
	os.Chmod(key, 0o600)
	res = run(t, true, offlineArgs(dir, testdata("credentialsrequests", "4.16"))...)
	if want := "reused the RSA 2048 signer key " + key; res.code != 0 || !strings.Contains(res.stderr, want) || !strings.Contains(res.stdout, want) {
		t.Errorf("exit %d, want %q:\n%s\n%s", res.code, want, res.stderr, res.stdout)
	}
}

// A key set twice is refused as the installer refuses it, at file:line.
func TestDuplicateKeysAreRefused(t *testing.T) {
	t.Parallel()
	example, _ := os.ReadFile(filepath.Join(repoRoot(), "examples", "install-dir", "install-config.yaml"))
	twice := strings.Replace(string(example), "    region: us-east-2\n", "    region: us-east-2\n    region: eu-west-1\n", 1)
	dir := exampleDir(t, []byte(twice))
	before := snapshot(t, dir)
	res := run(t, true, offlineArgs(dir, testdata("credentialsrequests", "4.16"))...)
	if want := `install-config.yaml:24: platform.aws.region: key "region" is already set at line 23`; res.code != 1 || !strings.Contains(res.stderr, want) {
		t.Errorf("exit %d, want %q:\n%s", res.code, want, res.stderr)
	}
	sameTree(t, before, snapshot(t, dir))

	dir = exampleDir(t, nil)
	before = snapshot(t, dir)
	cr := hostileRequest("dup", "'*'", "vpc-1")
	cr = strings.Replace(cr, "  name: dup\n", "  name: dup\n  name: other\n", 1)
	res = run(t, true, offlineArgs(dir, crDir(t, map[string]string{"0000_50_dup.yaml": cr}))...)
	if want := `0000_50_dup.yaml:5: metadata.name: key "name" is already set at line 4`; res.code != 1 || !strings.Contains(res.stderr, want) {
		t.Errorf("exit %d, want %q:\n%s", res.code, want, res.stderr)
	}
	sameTree(t, before, snapshot(t, dir))
}

// staged lists the staged files and journals left under dir.
func staged(t *testing.T, dir string) []string {
	var out []string
	for path := range snapshot(t, dir) {
		if strings.Contains(filepath.Base(path), ".oc-sts-") || filepath.Base(path) == atomicfs.JournalFile {
			out = append(out, path)
		}
	}
	return out
}

// kill -9 at every step of the final write (each staged file, the journal,
// each rename, the journal's removal): the re-run first finishes or drops
// the interrupted write, then gives exactly the uninterrupted result, with
// no staged file or journal left. The kill point is injected, not timed.
func TestKillAtEveryStepOfTheWrite(t *testing.T) {
	t.Parallel()
	crs := testdata("credentialsrequests", "4.16")
	key := pemKey(t, 4096)
	fresh := func() string {
		dir := exampleDir(t, nil)
		os.MkdirAll(filepath.Join(dir, "tls"), 0o755)
		os.WriteFile(filepath.Join(dir, "tls", "bound-service-account-signing-key.key"), key, 0o600)
		return dir
	}
	ref := fresh()
	if res := run(t, true, offlineArgs(ref, crs)...); res.code != 0 {
		t.Fatal(res.stderr)
	}
	want := snapshot(t, ref)
	steps := 0
	for k := 1; ; k++ {
		dir := fresh()
		before := snapshot(t, dir)
		cmd := exec.Command("unshare", append([]string{"-n", binary}, offlineArgs(dir, crs)...)...)
		cmd.Env = append(os.Environ(), atomicfs.FailpointEnv+"="+fmt.Sprint(k)+":kill")
		if res := runCmd(t, cmd); res.code == 0 {
			steps = k - 1
			break
		} else if !strings.Contains(res.stderr, "Signer key") || strings.Contains(res.stderr, "error:") {
			t.Fatalf("step %d: not killed at the write: exit %d\n%s", k, res.code, res.stderr)
		}
		// Any re-run first makes the dir whole: here one that then fails
		// on a bad flag leaves it exactly as before or as after the write
		// (and at most the empty state dir the killed run locked).
		if res := run(t, true, offlineArgs(dir, crs, "-o", "xml")...); res.code != 1 || !strings.Contains(res.stderr, "--output") {
			t.Fatalf("step %d: %s", k, res.stderr)
		}
		whole := snapshot(t, dir)
		if whole[".oc-sts/"] != "" && len(whole) == len(before)+1 {
			delete(whole, ".oc-sts/")
		}
		if !maps.Equal(whole, before) && !maps.Equal(whole, want) {
			t.Fatalf("step %d: the re-run found a mix of old and new files:\n%v", k, whole)
		}
		res := run(t, true, offlineArgs(dir, crs)...)
		if res.code != 0 {
			t.Fatalf("step %d: re-run: %s", k, res.stderr)
		}
		if left := staged(t, dir); len(left) > 0 {
			t.Fatalf("step %d: left %v", k, left)
		}
		got := snapshot(t, dir)
		for path := range want {
			if got[path] != want[path] {
				t.Fatalf("step %d: %s is %q, want %q", k, path, got[path], want[path])
			}
		}
		sameTree(t, want, got)
	}
	if steps < 20 {
		t.Fatalf("the write had only %d steps", steps)
	}
	t.Logf("killed at each of %d steps and re-run", steps)
}

// Ctrl-C (SIGINT) or SIGTERM during an offline run: exit 130, the install
// dir exactly as it was.
func TestOfflineInterrupt(t *testing.T) {
	t.Parallel()
	for _, sig := range []string{"int", "term"} {
		dir := exampleDir(t, nil)
		before := snapshot(t, dir)
		cmd := exec.Command("unshare", append([]string{"-n", binary}, offlineArgs(dir, testdata("credentialsrequests", "4.16"))...)...)
		cmd.Env = append(os.Environ(), atomicfs.FailpointEnv+"=2:"+sig)
		res := runCmd(t, cmd)
		if res.code != 130 || !strings.Contains(res.stderr, "interrupted") || !strings.Contains(res.stderr, "nothing was changed") {
			t.Errorf("SIG%s: exit %d\n%s", strings.ToUpper(sig), res.code, res.stderr)
		}
		sameTree(t, before, snapshot(t, dir))
	}
}

// --hive keeps its state (the signer key) per user, not in the current
// directory.
func TestHiveStateDirIsPerUser(t *testing.T) {
	t.Parallel()
	cwd, xdg := t.TempDir(), t.TempDir()
	args := slices.DeleteFunc(hiveArgs(""), func(s string) bool { return s == "" || s == "--state-dir" })
	cmd := exec.Command("unshare", append([]string{"-n", binary}, args...)...)
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+xdg)
	if res := runCmd(t, cmd); res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if entries, _ := os.ReadDir(cwd); len(entries) != 0 {
		t.Errorf("--hive wrote into the current directory: %v", entries)
	}
	if st, err := os.Stat(filepath.Join(xdg, "oc-sts", "demo", "signer.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("per-user state dir: %v", err)
	}
	// The state an earlier version kept in the current directory is not
	// silently left for a second key.
	os.Mkdir(filepath.Join(cwd, ".oc-sts-demo"), 0o700)
	cmd = exec.Command("unshare", append([]string{"-n", binary}, args...)...)
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+xdg)
	if res := runCmd(t, cmd); res.code != 1 || !strings.Contains(res.stderr, "pass --state-dir .oc-sts-demo to keep using it") {
		t.Errorf("legacy state dir: exit %d\n%s", res.code, res.stderr)
	}
}
