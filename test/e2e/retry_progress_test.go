package e2e

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/oc-sts/oc-sts/test/awsworld"
)

// A call AWS keeps failing is retried with backoff for about 110 s: past
// a few seconds every retry says so on stderr; Ctrl-C then stops the run
// at once with exit 130, AWS unchanged.
func TestRetryProgressAndInterrupt(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.gate.FailOperation("GetCallerIdentity", awsworld.InternalError)
	cmd := exec.Command(binary, "prepare", "--no-installer", "--dir", exampleDir(t, nil), "--credentials-requests-dir", testdata("credentialsrequests", "4.16"), "--yes")
	cmd.Env = w.env
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &stderr, "retrying sts:GetCallerIdentity ")
	line := stderr.String()[strings.Index(stderr.String(), "retrying sts:GetCallerIdentity "):]
	if line = line[:strings.Index(line, "\n")]; !strings.HasSuffix(line, "/10: 500 InternalError") {
		t.Errorf("retry line %q, want the attempt, of 10, and the AWS answer", line)
	}
	cmd.Process.Signal(os.Interrupt)
	start := time.Now()
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("interrupted online run: %v\n%s", err, stderr.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to stop after Ctrl-C", d)
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("does not say it was interrupted:\n%s", stderr.String())
	}
	if m := w.mutating(); len(m) != 0 {
		t.Errorf("AWS changed: %v", m)
	}
}

// -v 2 says every retry at once, -v 6 every call with its outcome.
func TestVerbosityLogsAWSCalls(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.gate.FailCall(1, awsworld.InternalError)
	dir, crs := exampleDir(t, nil), testdata("credentialsrequests", "4.16")
	res := w.prepare(t, dir, crs, "--dry-run", "-v", "2")
	if res.code != 0 || !strings.Contains(res.stderr, "  retrying sts:GetCallerIdentity 2/10: 500 InternalError\n") {
		t.Fatalf("-v 2: exit %d\n%s", res.code, res.stderr)
	}
	if strings.Contains(res.stderr, "attempt 1: ") {
		t.Errorf("-v 2 logs every call:\n%s", res.stderr)
	}
	res = w.prepare(t, dir, crs, "--dry-run", "-v=6")
	if res.code != 0 || !strings.Contains(res.stderr, "  aws sts:GetCallerIdentity attempt 1: ok in ") || !strings.Contains(res.stderr, "aws iam:GetOpenIDConnectProvider attempt 1: ") {
		t.Fatalf("-v 6: exit %d\n%s", res.code, res.stderr)
	}
	if res := w.prepare(t, dir, crs, "--dry-run"); strings.Contains(res.stderr, "aws sts:") || strings.Contains(res.stderr, "retrying") {
		t.Errorf("the default level logs calls:\n%s", res.stderr)
	}
}
