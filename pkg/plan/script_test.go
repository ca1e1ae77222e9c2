package plan

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"

	"github.com/oc-sts/oc-sts/pkg/credreq"
)

// stubAWS is an `aws` that records each call's arguments (NUL after each,
// \x01 after each call: an argument may hold a newline) and does nothing else.
const stubAWS = "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done >> \"$AWS_CALLS\"\nprintf '\\001' >> \"$AWS_CALLS\"\n"

// runScript writes the script's files into a fresh dir and runs it with the
// stub aws first on PATH; it returns each aws call's argv.
func runScript(t *testing.T, files map[string][]byte) [][]string {
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
	cmd := exec.Command("bash", filepath.Join(dir, ScriptName))
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "AWS_CALLS=" + calls}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apply.sh: %v\n%s\n%s", err, out, files[ScriptName])
	}
	raw, _ := os.ReadFile(calls)
	var out [][]string
	for _, l := range bytes.Split(bytes.TrimSuffix(raw, []byte("\x01")), []byte("\x01")) {
		out = append(out, strings.Split(strings.TrimSuffix(string(l), "\x00"), "\x00"))
	}
	return out
}

// Whatever text reaches the plan (names, paths, policy resources and
// conditions, tags), the script runs exactly the aws calls of the plan, each
// with the value as one argument, and nothing else: no command of a hostile
// value runs, in an argument or in a comment.
func TestScriptRunsNothingButAWS(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "pwned")
	hostile := []string{
		"a\ntouch " + mark + "\n#",
		"'; touch " + mark + "; '",
		"$(touch " + mark + ")",
		"`touch " + mark + "`",
		"${IFS}\"\\ \t--debug",
	}
	for i, h := range hostile {
		entry := ccov1.StatementEntry{Effect: "Allow", Action: []string{"s3:GetObject"}, Resource: "arn:aws:s3:::" + h,
			PolicyCondition: ccov1.IAMPolicyCondition{"StringEquals": {"aws:SourceVpc": h}}}
		in := input([]credreq.Request{request("cr", "ns", "s", []string{"sa"}, entry)})
		p, err := Build(in)
		if err != nil {
			t.Fatal(err)
		}
		// Past every validation, as if a bug let a value through.
		p.Name, p.Region, p.Issuer.URL, p.Bucket.Name, p.Bucket.LocationConstraint = h, h, "https://"+h, h, h
		p.OIDCProvider.URL, p.OIDCProvider.ClientIDs = h, []string{h}
		p.Bucket.Tags = append(p.Bucket.Tags, Tag{Key: h, Value: h})
		r := &p.Roles[0]
		r.Name, r.Path, r.PolicyName, r.PermissionsBoundary = "role"+string(rune('a'+i)), h, h, h
		r.CredentialsRequest.Name, r.CredentialsRequest.SecretNamespace = h, h
		files := AWSCLIScript(p)
		calls := runScript(t, files)
		if _, err := os.Stat(mark); err == nil {
			t.Fatalf("%q: the script ran a command of the value:\n%s", h, files[ScriptName])
		}
		var ops []string
		for _, c := range calls {
			ops = append(ops, c[0]+" "+c[1])
		}
		want := []string{"s3api create-bucket", "s3api put-bucket-tagging", "s3api put-public-access-block", "s3api put-bucket-policy",
			"s3api put-object", "s3api put-object", "iam create-open-id-connect-provider", "iam create-role", "iam put-role-policy"}
		if !slices.Equal(ops, want) {
			t.Fatalf("%q: calls %v, want %v", h, ops, want)
		}
		for _, c := range [][]string{calls[0], calls[6], calls[7], calls[8]} {
			for _, flag := range []string{"--bucket", "--url", "--path", "--policy-name", "--permissions-boundary"} {
				if i := slices.Index(c, flag); i >= 0 && c[i+1] != h {
					t.Errorf("%q: %s got %q", h, flag, c[i+1])
				}
			}
		}
		if !bytes.Contains(files["roles/"+r.Name+"-policy.json"], []byte(`"arn:aws:s3:::`)) {
			t.Errorf("the policy file lost its resource: %s", files["roles/"+r.Name+"-policy.json"])
		}
	}
}
