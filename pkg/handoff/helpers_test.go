package handoff

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

func testdata(parts ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "..", "..", "test", "testdata"}, parts...)...)
}

// fixturePlan is the plan of the 4.16 CredentialsRequests, changed by edit.
func fixturePlan(t *testing.T, edit func(*plan.Input)) *plan.Plan {
	t.Helper()
	files, err := credreq.ReadDir(testdata("credentialsrequests", "4.16"))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := credreq.NewInclusion(credreq.ClusterSettings{})
	sel, err := credreq.Select(files, in)
	if err != nil {
		t.Fatal(err)
	}
	input := plan.Input{Name: "mycluster", AccountID: "123456789012", Region: "us-east-2", Requests: sel.Requests, JWKS: []byte(`{"keys":[]}`),
		BucketHost: "mycluster-oidc.s3.us-east-2.amazonaws.com"}
	if edit != nil {
		edit(&input)
	}
	p, err := plan.Build(input)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func request(name, ns, secret string, sas []string, entries ...ccov1.StatementEntry) credreq.Request {
	return credreq.Request{File: name + ".yaml",
		CR: &ccov1.CredentialsRequest{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: ccov1.CredentialsRequestSpec{SecretRef: corev1.ObjectReference{Namespace: ns, Name: secret}, ServiceAccountNames: sas}},
		AWS: &ccov1.AWSProviderSpec{StatementEntries: entries}}
}

// stubAWS is an `aws` that records each call's arguments (NUL after each,
// \x01 after each call: an argument may hold a newline) and answers from
// STUB_<service>_<operation> (dashes as underscores): unset, success with no
// output; "ok:TEXT", success printing TEXT; "err:CODE", the CLI's error.
const stubAWS = `#!/usr/bin/env bash
for a in "$@"; do printf '%s\0' "$a"; done >>"$AWS_CALLS"
printf '\001' >>"$AWS_CALLS"
var=STUB_${1//-/_}_${2//-/_}
resp=${!var-}
case $resp in
ok:*) printf '%s\n' "${resp#ok:}" ;;
err:*) printf '\nAn error occurred (%s) when calling the %s operation: stub\n' "${resp#err:}" "$2" >&2; exit 255 ;;
esac
`

// stubWorld answers as a fresh account 123456789012: nothing exists yet.
var stubWorld = map[string]string{
	"sts_get_caller_identity":           "ok:123456789012\tarn:aws:iam::123456789012:user/admin",
	"s3control_get_public_access_block": "err:NoSuchPublicAccessBlockConfiguration",
	"s3api_get_bucket_tagging":          "err:NoSuchBucket",
	"iam_get_open_id_connect_provider":  "err:NoSuchEntity",
	"iam_get_role":                      "err:NoSuchEntity",
}

type stubRun struct {
	out, err string
	code     int
	calls    [][]string
}

// ops are the calls as "service operation".
func (r stubRun) ops() []string {
	var out []string
	for _, c := range r.calls {
		out = append(out, c[0]+" "+c[1])
	}
	return out
}

// runStub writes files into a fresh dir and runs script there with the stub
// aws first on PATH, answering from world.
func runStub(t *testing.T, files map[string][]byte, script string, world map[string]string, args ...string) stubRun {
	t.Helper()
	dir, bin := t.TempDir(), t.TempDir()
	for rel, data := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, rel), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(bin, "aws"), []byte(stubAWS), 0o755)
	calls := filepath.Join(t.TempDir(), "calls")
	cmd := exec.Command("bash", append([]string{filepath.Join(dir, script)}, args...)...)
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "AWS_CALLS=" + calls, "TMPDIR=" + t.TempDir()}
	for k, v := range world {
		cmd.Env = append(cmd.Env, "STUB_"+k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := stubRun{out: stdout.String(), err: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(calls)
	for _, l := range bytes.Split(bytes.TrimSuffix(raw, []byte("\x01")), []byte("\x01")) {
		if len(l) > 0 {
			r.calls = append(r.calls, strings.Split(strings.TrimSuffix(string(l), "\x00"), "\x00"))
		}
	}
	return r
}

func with(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// flag is the value after name in call c, and whether it is there.
func flag(c []string, name string) (string, bool) {
	for i := range c[:len(c)-1] {
		if c[i] == name {
			return c[i+1], true
		}
	}
	return "", false
}
