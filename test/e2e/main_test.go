// Package e2e runs the built oc-sts binary the way a user does.
package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

var binary string

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Every test here runs the built binary, most against the AWS test
		// world (moto), a registry or a kube-apiserver: the fast tier has none.
		fmt.Println("test/e2e: skipped under -short (the binary against the test worlds)")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "oc-sts-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "oc-sts")
	build := exec.Command("go", "build", "-o", binary, "./cmd/oc-sts")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building oc-sts: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	stopMoto()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// run executes oc-sts; with isolated set it runs in a network namespace of
// its own, where any network call fails.
func run(t testing.TB, isolated bool, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	if isolated {
		cmd = exec.Command("unshare", append([]string{"-n", binary}, args...)...)
	}
	return runCmd(t, cmd)
}

func runCmd(t testing.TB, cmd *exec.Cmd) result {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errOut.String(), code}
}

func testdata(parts ...string) string {
	return filepath.Join(append([]string{repoRoot(), "test", "testdata"}, parts...)...)
}

// exampleDir copies the bundled example install dir, optionally replacing
// its install-config.yaml.
func exampleDir(t testing.TB, installConfig []byte) string {
	t.Helper()
	dir := t.TempDir()
	if installConfig == nil {
		var err error
		installConfig, err = os.ReadFile(filepath.Join(repoRoot(), "examples", "install-dir", "install-config.yaml"))
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "install-config.yaml"), installConfig, 0o640); err != nil {
		t.Fatal(err)
	}
	return dir
}

// snapshot maps every path under dir to its mode and content hash.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := d.Info()
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel+"/"] = info.Mode().String()
			return nil
		}
		if !info.Mode().IsRegular() { // a link (never followed: /dev/zero), a FIFO
			target, _ := os.Readlink(p)
			out[rel] = info.Mode().String() + " -> " + target
			return nil
		}
		data, err := os.ReadFile(p)
		sum := sha256.Sum256(data)
		out[rel] = info.Mode().String() + " " + hex.EncodeToString(sum[:])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed: %q -> %q", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s appeared", k)
		}
	}
}
