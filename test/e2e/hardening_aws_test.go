package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/go-jose/go-jose/v4"

	"github.com/oc-sts/oc-sts/pkg/oidckeys"
)

// Every local problem is found before the first AWS write: `manifests` as
// a file, or a tls/ that is a link, ends the run with no mutating call.
func TestLocalChecksBeforeAWS(t *testing.T) {
	t.Parallel()
	for name, spoil := range map[string]func(dir string) string{
		"manifests is a file": func(dir string) string {
			os.WriteFile(filepath.Join(dir, "manifests"), []byte("not a dir"), 0o644)
			return "manifests is a file where oc sts needs a directory"
		},
		"tls is a link": func(dir string) string {
			os.Symlink(t.TempDir(), filepath.Join(dir, "tls"))
			return "tls is a symbolic link"
		},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			dir := exampleDir(t, nil)
			want := spoil(dir)
			before := snapshot(t, dir)
			res := w.prepare(t, dir, testdata("credentialsrequests", "4.16"))
			if res.code != 1 || !strings.Contains(res.stderr, want) || !strings.Contains(res.stderr, "nothing was changed") {
				t.Errorf("exit %d, want %q:\n%s", res.code, want, res.stderr)
			}
			if m := w.mutating(); len(m) != 0 {
				t.Errorf("%d mutating AWS calls before the local check: %v", len(m), m)
			}
			sameTree(t, before, snapshot(t, dir))
		})
	}
}

// Two prepares of one install dir at once: the second fails at once,
// naming the first's pid, and changes nothing; the first (resumed after
// being killed mid-way, as a crash would) publishes exactly the key of
// the install dir.
func TestConcurrentPrepares(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := exampleDir(t, nil)
	crs := testdata("credentialsrequests", "4.16")
	first := exec.Command(binary, "prepare", "--no-installer", "--dir", dir, "--credentials-requests-dir", crs, "--yes")
	first.Env = w.env
	var second result
	w.gate.AbortAfter(10, func() {
		// The first run is inside its AWS phase, blocked in this call.
		cmd := exec.Command(binary, "prepare", "--no-installer", "--dir", dir, "--credentials-requests-dir", crs, "--yes")
		cmd.Env = w.env
		second = runCmd(t, cmd)
		first.Process.Kill()
	})
	runCmd(t, first)
	want := fmt.Sprintf("another oc sts is running on the install dir %s (pid %d)", dir, first.Process.Pid)
	if second.code != 1 || !strings.Contains(second.stderr, want) {
		t.Errorf("second run: exit %d, want %q:\n%s", second.code, want, second.stderr)
	}
	w.gate.ResetLog()
	if res := w.prepare(t, dir, crs); res.code != 0 {
		t.Fatalf("resume: %s", res.stderr)
	}
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "tls", "bound-service-account-signing-key.key"))
	key, err := oidckeys.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := oidckeys.KeyID(&key.PublicKey)
	p := readPlan(t, dir)
	obj, err := w.s3().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &p.Bucket.Name, Key: aws.String("keys.json")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(obj.Body)
	var published jose.JSONWebKeySet
	json.Unmarshal(body, &published)
	if len(published.Keys) != 1 || published.Keys[0].KeyID != kid {
		t.Errorf("published %s, the install dir's key is %s", body, kid)
	}
}
