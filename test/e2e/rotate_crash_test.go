package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/rotation"
	"github.com/oc-sts/oc-sts/pkg/statedir"
)

// rotate-key killed (kill -9) after every AWS call of each step, after its
// cluster write and at every step of the roll's key swap in the state dir:
// the re-run continues to the same end, and no valid token is rejected at
// any point in between. The issuer is a private one behind CloudFront: its
// calls are a public issuer's and the invalidation of the edge's stale
// copy, which every put-back leaves there.
func TestRotateKeyKilledAtEveryPoint(t *testing.T) {
	t.Parallel()
	c := newRotationCluster(t, true)
	state := statedir.Default(c.dir)
	old := c.tokens(t)
	oldKID := signedWith(t, old)

	// stage: killed after each AWS call; AWS and the state dir put back
	// before each (stage does not touch the cluster). The new key is made
	// once and left in rotation/next.key, where rotate-key takes it (RSA
	// 4096 takes seconds to make; TestRotateKey has rotate-key make one).
	next, err := oidckeys.LoadOrGenerate(filepath.Join(state, rotation.NextKey))
	if err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(state, rotation.Dir), 0o700)
	if err := os.WriteFile(filepath.Join(state, rotation.NextKey), next.PrivatePEM, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	before, keys := backupDir(t, state), c.storedBody(t)
	c.cacheServed(t)
	c.w.gate.ResetLog()
	if res := c.rotateKey(t, "stage"); res.code != 0 {
		t.Fatalf("stage: %s", res.stderr)
	}
	stageCalls := len(c.w.gate.Calls())
	c.invalidated(t, "stage")
	isStaged := func(k int) {
		st := readRotation(t, c.dir)
		if want := []string{oldKID, st.Next.KID}; st.Phase != rotation.Staged || !slices.Equal(c.storedKIDs(t), want) || !slices.Equal(c.servedKIDs(t), want) {
			t.Fatalf("stage killed after call %d, then re-run: phase %s, keys.json %v, served %v", k, st.Phase, c.storedKIDs(t), c.servedKIDs(t))
		}
	}
	for k := 1; k < stageCalls; k++ {
		restoreDir(t, state, before)
		c.putKeys(t, keys)
		c.cacheServed(t)
		if !c.killedAfterCall(t, k, "stage") {
			break // it ended before a (k+1)-th call
		}
		c.accepted(t, fmt.Sprintf("stage killed after call %d", k), old)
		c.rerun(t, "stage")
		isStaged(k)
	}
	if len(c.gate.Writes()) != 0 {
		t.Fatalf("stage wrote to the cluster: %v", c.gate.Writes())
	}

	t.Logf("stage: %s", time.Since(start))
	start = time.Now()
	// roll: killed after each AWS call (its reads; the state dir may have
	// recorded the roll), and right after its one cluster write, the first
	// of them to come; each run goes on from where the last one stopped.
	st := readRotation(t, c.dir)
	beforeRoll := backupDir(t, state)
	rollCalls := 0
	for k := 1; len(c.gate.Writes()) == 0; k++ {
		cmd := c.rotateKeyCmd("roll")
		c.w.gate.ResetLog()
		c.w.gate.AbortAfter(k, func() { cmd.Process.Kill() })
		c.gate.KillAfterWrite(1, func() { cmd.Process.Kill() })
		res := runCmd(t, cmd)
		c.w.gate.ResetLog()
		c.gate.KillAfterWrite(0, nil)
		if res.code != -1 {
			t.Fatalf("roll not killed after %d AWS calls or at its write: exit %d\n%s", k, res.code, res.stderr)
		}
		// Whichever key the cluster signs with now, its tokens are accepted.
		c.accepted(t, fmt.Sprintf("roll killed after %d AWS calls or its cluster write", k), old, c.tokensDuringRollout(t))
		rollCalls = k - 1
	}
	c.rerun(t, "roll")
	fresh := c.tokens(t)
	if kid := signedWith(t, fresh); kid != st.Next.KID || readRotation(t, c.dir).Phase != rotation.Rolled {
		t.Fatalf("after the re-run the cluster signs with %s, want %s", kid, st.Next.KID)
	}
	c.accepted(t, "rolled", old, fresh)
	if w := c.gate.Writes(); len(w) != 1 {
		t.Errorf("the re-runs wrote to the cluster again: %v", w)
	}

	t.Logf("roll: %s", time.Since(start))
	start = time.Now()
	// roll: killed at every step of the state dir's key swap (the cluster
	// already signs with the new key): the next run finishes it.
	rolled := backupDir(t, state)
	steps := 0
	for n := 1; ; n++ {
		restoreDir(t, state, beforeRoll)
		cmd := c.rotateKeyCmd("roll")
		cmd.Env = append(cmd.Env, atomicfs.FailpointEnv+"="+fmt.Sprint(n)+":kill")
		res := runCmd(t, cmd)
		if res.code == 0 {
			steps = n - 1
			break
		}
		if res.code != -1 {
			t.Fatalf("roll with a kill at step %d of its writes failed instead: exit %d\n%s", n, res.code, res.stderr)
		}
		c.accepted(t, fmt.Sprintf("roll killed at step %d of its writes", n), old, fresh)
		c.rerun(t, "roll")
		c.sameKeys(t, rolled, fmt.Sprintf("after a kill at step %d of the roll's writes", n))
	}
	if steps < 10 {
		t.Errorf("the roll's writes had only %d steps", steps)
	}

	t.Logf("roll writes: %s", time.Since(start))
	start = time.Now()
	// retire: killed after each AWS call, AWS and the state dir put back.
	waitedFor(t, c.dir, maxTokenExpiration+rotation.ClockSkew+time.Minute)
	beforeRetire, keys := backupDir(t, state), c.storedBody(t)
	c.cacheServed(t)
	c.w.gate.ResetLog()
	if res := c.rotateKey(t, "retire"); res.code != 0 {
		t.Fatalf("retire: %s", res.stderr)
	}
	retireCalls := len(c.w.gate.Calls())
	c.invalidated(t, "retire")
	for k := 1; k < retireCalls; k++ {
		restoreDir(t, state, beforeRetire)
		c.putKeys(t, keys)
		c.cacheServed(t)
		if !c.killedAfterCall(t, k, "retire") {
			break
		}
		c.accepted(t, fmt.Sprintf("retire killed after call %d", k), fresh)
		c.rerun(t, "retire")
		if st := readRotation(t, c.dir); st.Phase != rotation.Retired || !slices.Equal(c.storedKIDs(t), []string{st.Next.KID}) || !slices.Equal(c.servedKIDs(t), []string{st.Next.KID}) {
			t.Fatalf("retire killed after call %d, then re-run: phase %s, keys.json %v, served %v", k, st.Phase, c.storedKIDs(t), c.servedKIDs(t))
		}
	}
	t.Logf("retire: %s", time.Since(start))
	c.accepted(t, "retired", fresh)
	if left := staged(t, state); len(left) > 0 {
		t.Errorf("staged files or a journal left: %v", left)
	}
	t.Logf("killed after each of %d AWS calls of stage, %d AWS calls of roll before its cluster write and after that write, %d of retire, and at each of %d steps of the roll's writes", stageCalls-1, rollCalls, retireCalls-1, steps)
}

func (c *rotationCluster) rotateKeyCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(binary, append([]string{"rotate-key", "--dir", c.dir, "--kubeconfig", c.gate.Kubeconfig, "--yes"}, args...)...)
	cmd.Env = slices.Clone(c.w.env)
	return cmd
}

// killedAfterCall runs rotate-key killed as its (k+1)-th AWS call comes; it
// says whether the kill came (the run may end first).
func (c *rotationCluster) killedAfterCall(t *testing.T, k int, args ...string) bool {
	t.Helper()
	c.w.gate.ResetLog()
	cmd := c.rotateKeyCmd(args...)
	c.w.gate.AbortAfter(k, func() { cmd.Process.Kill() })
	res := runCmd(t, cmd)
	c.w.gate.ResetLog() // the network is back
	if res.code == 0 {
		return false
	}
	if res.code != -1 {
		t.Fatalf("%v after %d calls: not killed but failed (exit %d)\n%s", args, k, res.code, res.stderr)
	}
	return true
}

func (c *rotationCluster) rerun(t *testing.T, args ...string) {
	t.Helper()
	c.w.gate.ResetLog()
	if res := c.rotateKey(t, args...); res.code != 0 {
		t.Fatalf("re-run of %v: exit %d\n%s%s", args, res.code, res.stdout, res.stderr)
	}
}

// sameKeys: the state dir's signer key, the archived old key and the
// rotation state are as in want.
func (c *rotationCluster) sameKeys(t *testing.T, want map[string]fileCopy, when string) {
	t.Helper()
	got := backupDir(t, statedir.Default(c.dir))
	for rel, f := range want {
		if !strings.HasSuffix(rel, ".key") && !strings.HasSuffix(rel, ".pub") {
			continue
		}
		if g, ok := got[rel]; !ok || !bytes.Equal(g.data, f.data) || g.mode != f.mode {
			t.Fatalf("%s: %s differs from an uninterrupted roll", when, rel)
		}
	}
	for rel := range got {
		if _, ok := want[rel]; !ok && rel != rotation.StateFile {
			t.Fatalf("%s: %s is left", when, rel)
		}
	}
	if st := readRotation(t, c.dir); st.Phase != rotation.Rolled {
		t.Fatalf("%s: phase %s", when, st.Phase)
	}
}

// invalidated: the run just made invalidated CloudFront's stale copy.
func (c *rotationCluster) invalidated(t *testing.T, step string) {
	t.Helper()
	for _, call := range c.w.gate.Calls() {
		if strings.HasPrefix(call.Operation, "POST ") && strings.HasSuffix(call.Operation, "/invalidation") {
			return
		}
	}
	t.Fatalf("%s did not invalidate the edge's stale copy", step)
}

// cacheServed makes CloudFront's edge hold what the bucket holds now, as
// it does once anyone fetched it (AWS STS on a token exchange).
func (c *rotationCluster) cacheServed(t *testing.T) {
	t.Helper()
	c.w.gate.ForgetCloudFrontCache()
	c.servedKIDs(t)
}

func (c *rotationCluster) storedBody(t *testing.T) []byte {
	t.Helper()
	out, err := c.w.s3().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &c.plan.Bucket.Name, Key: aws.String(oidckeys.JWKSPath)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return b
}

func (c *rotationCluster) putKeys(t *testing.T, body []byte) {
	t.Helper()
	c.putObject(t, oidckeys.JWKSPath, string(body))
}

type fileCopy struct {
	data []byte
	mode fs.FileMode
}

// backupDir copies the files of dir (relative path -> content and mode).
func backupDir(t *testing.T, dir string) map[string]fileCopy {
	t.Helper()
	out := map[string]fileCopy{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		info, _ := d.Info()
		rel, _ := filepath.Rel(dir, p)
		out[rel] = fileCopy{b, info.Mode().Perm()}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// restoreDir makes dir hold exactly the files of a backup.
func restoreDir(t *testing.T, dir string, files map[string]fileCopy) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for rel, f := range files {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
	}
}
