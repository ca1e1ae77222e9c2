package atomicfs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const helperEnv = "ATOMICFS_CRASH_HELPER_DIR"

// crashSet is one commit over dir: two files changed, three created (one
// in a new directory), one removed.
func crashSet(dir string) []File {
	return []File{
		{Path: filepath.Join(dir, "manifests/a.yaml"), Data: []byte("new a"), Mode: 0o600},
		{Path: filepath.Join(dir, "manifests/b.yaml"), Data: []byte("new b"), Mode: 0o600},
		{Path: filepath.Join(dir, "manifests/stale.yaml"), Remove: true},
		{Path: filepath.Join(dir, "tls/key"), Data: []byte("key"), Mode: 0o600},
		{Path: filepath.Join(dir, "state/plan.json"), Data: []byte("{}"), Mode: 0o644},
		{Path: filepath.Join(dir, "install-config.yaml"), Data: []byte("credentialsMode: Manual\n"), Mode: 0o640},
	}
}

func crashOriginals(t *testing.T, dir string) {
	os.MkdirAll(filepath.Join(dir, "manifests"), 0o755)
	os.WriteFile(filepath.Join(dir, "manifests/a.yaml"), []byte("old a"), 0o600)
	os.WriteFile(filepath.Join(dir, "manifests/stale.yaml"), []byte("stale"), 0o600)
	os.WriteFile(filepath.Join(dir, "install-config.yaml"), []byte("old\n"), 0o640)
}

// TestCrashHelper is the process the crash test kills: one Write.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("run by TestKillAtEveryStep")
	}
	if _, err := Write(context.Background(), filepath.Join(dir, "state"), crashSet(dir)); err != nil {
		t.Fatal(err)
	}
}

// kill -9 at every step of a commit (each staging, the journal, each
// rename, the journal's removal): before the journal the targets are all
// as they were; after it, Recover completes them all; either way the next
// Write gives exactly the uninterrupted result, with no staged file left.
func TestKillAtEveryStep(t *testing.T) {
	want := t.TempDir()
	crashOriginals(t, want)
	if _, err := Write(context.Background(), filepath.Join(want, "state"), crashSet(want)); err != nil {
		t.Fatal(err)
	}
	wantTree := snapshot(t, want)
	var original map[string]string
	steps := 0
	for k := 1; ; k++ {
		dir := t.TempDir()
		crashOriginals(t, dir)
		if original == nil {
			original = snapshot(t, dir)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
		cmd.Env = append(os.Environ(), helperEnv+"="+dir, FailpointEnv+"="+fmt.Sprint(k)+":kill")
		out, err := cmd.CombinedOutput()
		if err == nil {
			steps = k - 1
			if got := snapshot(t, dir); !same(got, wantTree) {
				t.Fatalf("uncrashed run differs:\n%v", got)
			}
			break
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("step %d: not killed: %v\n%s", k, err, out)
		}
		// What a re-run does first: the whole tree is then exactly as it
		// was or exactly as the write makes it, staged files and created
		// directories included.
		if _, err := Recover(filepath.Join(dir, "state")); err != nil {
			t.Fatalf("step %d: recover: %v", k, err)
		}
		if err := Clean(dir, filepath.Join(dir, "manifests"), filepath.Join(dir, "tls"), filepath.Join(dir, "state")); err != nil {
			t.Fatal(err)
		}
		if got := snapshot(t, dir); !same(got, original) && !same(got, wantTree) {
			t.Fatalf("step %d: recovered to a mix:\n%v\nbefore\n%v\nafter\n%v", k, got, original, wantTree)
		}
		if _, err := Write(context.Background(), filepath.Join(dir, "state"), crashSet(dir)); err != nil {
			t.Fatalf("step %d: re-run: %v", k, err)
		}
		if got := snapshot(t, dir); !same(got, wantTree) {
			t.Fatalf("step %d: after the re-run\n%v\nwant\n%v", k, got, wantTree)
		}
	}
	if steps < len(crashSet(""))*2 {
		t.Fatalf("only %d steps", steps)
	}
	t.Logf("killed at each of %d steps", steps)
}

func same(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Ctrl-C while staging: nothing is renamed, no staged file or directory is
// left, and the error says nothing changed.
func TestInterruptBeforeCommit(t *testing.T) {
	dir := t.TempDir()
	crashOriginals(t, dir)
	before := snapshot(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Write(ctx, filepath.Join(dir, "state"), crashSet(dir)); err != ErrInterrupted {
		t.Fatalf("got %v", err)
	}
	if after := snapshot(t, dir); !same(after, before) {
		t.Errorf("before %v\nafter %v", before, after)
	}
}

// A journal naming files oc sts never stages is refused, not followed.
func TestForgedJournalIsRefused(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, JournalFile), []byte(`{"version":1,"state":"commit","entries":[{"target":"/etc/passwd","staged":"`+dir+`/x"}]}`), 0o600)
	if _, err := Recover(dir); err == nil || !strings.Contains(err.Error(), "never stages") {
		t.Errorf("got %v", err)
	}
}

// Symlinks and files in the way are found before anything is written.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	os.Symlink(other, filepath.Join(dir, "tls"))
	os.WriteFile(filepath.Join(dir, "manifests"), []byte("a file"), 0o644)
	os.WriteFile(filepath.Join(other, "real"), []byte("x"), 0o644)
	os.Symlink(filepath.Join(other, "real"), filepath.Join(dir, "install-config.yaml"))
	for path, want := range map[string]string{
		filepath.Join(dir, "tls", "key"):               "tls is a symbolic link",
		filepath.Join(dir, "manifests", "a.yaml"):      "manifests is a file where oc sts needs a directory",
		filepath.Join(dir, "install-config.yaml"):      "install-config.yaml is a symbolic link",
		filepath.Join(dir, "manifests", "x", "y.yaml"): "manifests is a file",
	} {
		if err := Check([]File{{Path: path}}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", path, err, want)
		}
	}
	if err := Check([]File{{Path: filepath.Join(dir, "new", "deep", "f")}}); err != nil {
		t.Errorf("new dirs: %v", err)
	}
}
