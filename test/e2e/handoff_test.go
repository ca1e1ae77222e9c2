package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
	"github.com/oc-sts/oc-sts/pkg/statedir"
	"github.com/oc-sts/oc-sts/test/awsworld"
)

// The offline handoff run as an AWS admin runs it: the real AWS CLI (v1, the
// machine image's) against the AWS test world, through the CLI's own
// endpoint override (AWS_ENDPOINT_URL, read by CLI v1 >= 1.29 and v2 >= 2.13).

var (
	awsCLIOnce sync.Once
	awsCLIDir  string
	awsCLIErr  error
)

const (
	registryCR = "0000_50_cluster-image-registry-operator_01-registry-credentials-request.yaml"
	ingressCR  = "0000_50_cluster-ingress-operator_00-ingress-credentials-request.yaml"
)

// crSubset is a CredentialsRequests dir with only the named 4.16 files: each
// AWS CLI call costs a Python start, so the script tests use few roles.
func crSubset(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		b, err := os.ReadFile(testdata("credentialsrequests", "4.16", n))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, n), b, 0o644)
	}
	return dir
}

// script is a command running one of the handoff scripts with the real aws
// CLI first on PATH, no region in the environment (the script gives it),
// in a process group of its own (a test may kill it, aws child included).
func (w *world) script(t *testing.T, path string, args ...string) *exec.Cmd {
	t.Helper()
	awsCLIOnce.Do(func() {
		bin, err := awsworld.FindPythonTool("aws", "the AWS CLI (pip package awscli)")
		awsCLIDir, awsCLIErr = filepath.Dir(bin), err
	})
	if awsCLIErr != nil {
		t.Fatal(awsCLIErr)
	}
	cmd := exec.Command(path, args...)
	for _, e := range w.env {
		if strings.HasPrefix(e, "PATH=") {
			e = "PATH=" + awsCLIDir + ":" + strings.TrimPrefix(e, "PATH=")
		}
		cmd.Env = append(cmd.Env, e)
	}
	cmd.Env = append(cmd.Env, "TMPDIR="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// matchesPlan runs the OpenShift admin's confirmation, online prepare
// --dry-run, and fails unless it finds nothing to change.
func (w *world) matchesPlan(t *testing.T, dir, crDir string, flags ...string) {
	t.Helper()
	res := w.ocSTS(t, append([]string{"prepare", "--no-installer", "--dir", dir, "--credentials-requests-dir", crDir, "--account-id", "123456789012", "--dry-run", "-o", "json"}, flags...)...)
	var p struct { // the plan, and the changes found
		plan.Plan
		Changes []provision.Change `json:"changes"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &p); res.code != 0 || err != nil || len(p.Changes) != 0 {
		t.Fatalf("prepare --dry-run after the script: exit %d, changes %v\n%s", res.code, p.Changes, res.stderr)
	}
}

func (w *world) managedPolicy(t *testing.T, name string) string {
	t.Helper()
	out, err := w.iam().CreatePolicy(context.Background(), &iam.CreatePolicyInput{PolicyName: aws.String(name),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Policy.Arn)
}

// apply.sh makes exactly the plan, riding out IAM's eventual consistency:
// prepare --dry-run then finds nothing to change and the cluster's tokens
// are exchanged for the roles' credentials; a second run changes nothing; a
// changed plan (tags, boundary) is converged; delete.sh leaves nothing owned.
func TestApplyAndDeleteScripts(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	foreign := w.foreign(t)
	boundary := w.managedPolicy(t, "openshift-boundary")
	dir := exampleDir(t, nil)
	crDir := crSubset(t, registryCR, ingressCR)
	flags := []string{"--role-path", "/openshift/", "--permissions-boundary", boundary, "--tag", "team=platform"}
	if res := run(t, true, offlineArgs(dir, crDir, flags...)...); res.code != 0 {
		t.Fatal(res.stderr)
	}
	awsDir := filepath.Join(statedir.Default(dir), "aws")
	apply := filepath.Join(awsDir, "apply.sh")

	// Windows longer than one aws CLI call takes on a loaded machine, so the
	// call after a creation always falls in them.
	w.gate.SetIAMPropagation(8*time.Second, 8*time.Second)
	res := runCmd(t, w.script(t, apply))
	if res.code != 0 || !strings.Contains(res.stdout, "AWS account 123456789012 matches the plan") {
		t.Fatalf("apply.sh: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	refused := strings.Join(w.refused(), " ")
	for _, want := range []string{"CreateRole=MalformedPolicyDocument", "PutRolePolicy=NoSuchEntity"} {
		if !strings.Contains(refused, want) || !strings.Contains(res.stderr, "IAM has not propagated") {
			t.Errorf("IAM's consistency window was not ridden out: refused %s\n%s", refused, res.stderr)
		}
	}
	for _, c := range w.gate.Calls() {
		if c.Service != "https" && c.Region != "us-east-2" {
			t.Errorf("%s %s signed for %q, not the plan's region", c.Service, c.Operation, c.Region)
		}
	}
	w.gate.ResetLog()
	w.matchesPlan(t, dir, crDir, flags...)
	p := readPlan(t, dir)
	var made []string
	for _, line := range strings.Split(w.state(t), "\n") {
		if !strings.Contains(foreign, line) {
			made = append(made, strings.Fields(line)[0]+" "+strings.Fields(line)[1])
		}
	}
	want := []string{"bucket demo-oidc", "provider " + p.OIDCProvider.ARN, "role " + p.Roles[0].ARN, "role " + p.Roles[1].ARN}
	slices.Sort(want)
	if !slices.Equal(made, want) {
		t.Errorf("apply.sh made %v, want exactly %v", made, want)
	}
	r := p.Roles[0]
	if err := w.assumeAs(t, dir, p, r.ARN, "system:serviceaccount:"+r.CredentialsRequest.SecretNamespace+":"+r.CredentialsRequest.ServiceAccounts[0]); err != nil {
		t.Errorf("token exchange for a role apply.sh made: %v", err)
	}

	w.gate.ResetLog()
	if again := runCmd(t, w.script(t, apply)); again.code != 0 || len(w.mutating()) != 0 || !strings.Contains(again.stdout, "nothing to change") {
		t.Errorf("second run: exit %d, mutating %v\n%s%s", again.code, w.mutating(), again.stdout, again.stderr)
	}

	changed := []string{"--role-path", "/openshift/", "--tag", "team=storage", "--tag", "cost-center=4711"}
	if res := run(t, true, offlineArgs(dir, crDir, changed...)...); res.code != 0 {
		t.Fatal(res.stderr)
	}
	if res := runCmd(t, w.script(t, apply)); res.code != 0 || !strings.Contains(res.stderr, "(permissions-boundary, tags)") {
		t.Fatalf("apply.sh of the changed plan: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	w.matchesPlan(t, dir, crDir, changed...)

	del := filepath.Join(awsDir, "delete.sh")
	if res := runCmd(t, w.script(t, del, "--yes")); res.code != 0 || !strings.Contains(res.stdout, "Deleted 4 resources") {
		t.Fatalf("delete.sh: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if got := w.state(t); got != foreign {
		t.Errorf("after delete.sh:\n%s\nwant what was there before:\n%s", got, foreign)
	}
}

// A run killed right after any change it made is finished by the next: each
// run here is cut after its first change, so every step is a cut point, and
// each re-run makes exactly the one change still missing.
func TestApplyScriptResumesAfterEveryStep(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := exampleDir(t, nil)
	crDir := crSubset(t, ingressCR)
	if res := run(t, true, offlineArgs(dir, crDir)...); res.code != 0 {
		t.Fatal(res.stderr)
	}
	apply := filepath.Join(statedir.Default(dir), "aws", "apply.sh")
	// The bucket, its tags, access block and policy, two objects, the
	// provider, the role and its policy.
	const steps = 9
	var runs []string
	for len(runs) <= steps {
		cmd := w.script(t, apply)
		w.gate.AbortAfterMutating(1, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
		res := runCmd(t, cmd)
		runs = append(runs, res.stderr)
		if res.code == 0 {
			break
		}
	}
	if len(runs) != steps {
		t.Errorf("%d runs made the %d changes, want one change per run:\n%s", len(runs), steps, strings.Join(runs, "\n"))
	}
	w.gate.ResetLog()
	w.matchesPlan(t, dir, crDir)
}

// Credentials of another account stop both scripts at their first call.
func TestHandoffScriptsRefuseAnotherAccount(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := exampleDir(t, nil)
	args := offlineArgs(dir, crSubset(t, ingressCR))
	args[len(args)-1] = "210987654321"
	if res := run(t, true, args...); res.code != 0 {
		t.Fatal(res.stderr)
	}
	awsDir := filepath.Join(statedir.Default(dir), "aws")
	for _, s := range [][]string{{"apply.sh"}, {"delete.sh", "--yes"}} {
		w.gate.ResetLog()
		res := runCmd(t, w.script(t, filepath.Join(awsDir, s[0]), s[1:]...))
		var ops []string
		for _, c := range w.gate.Calls() {
			ops = append(ops, c.Operation)
		}
		if res.code != 1 || !slices.Equal(ops, []string{"GetCallerIdentity"}) ||
			!strings.Contains(res.stderr, "the AWS credentials are for account 123456789012 (arn:aws:sts::123456789012:user/moto), but this plan is for account 210987654321") {
			t.Errorf("%s: exit %d, calls %v\n%s", s[0], res.code, ops, res.stderr)
		}
	}
}

// A private issuer offline takes two stages: the first renders only the
// stack of the distribution (the install dir waits for its domain, the
// issuer), the second, given the stack's outputs, everything.
func TestPrivateIssuerOffline(t *testing.T) {
	t.Parallel()
	dir := exampleDir(t, nil)
	crDir := testdata("credentialsrequests", "4.16")
	state := statedir.Default(dir)
	template := filepath.Join(state, "aws", "cloudformation.yaml")
	if res := run(t, true, offlineArgs(dir, crDir)...); res.code != 0 {
		t.Fatal(res.stderr)
	}
	before := snapshot(t, dir)

	res := run(t, true, offlineArgs(dir, crDir, "--private-bucket")...)
	for _, want := range []string{"stage 1 of 2", "aws cloudformation deploy --stack-name oc-sts-demo --template-file " + template,
		"aws cloudformation describe-stacks --stack-name oc-sts-demo --region us-east-2 --query 'Stacks[0].Outputs'",
		"--private-bucket --offline --account-id 123456789012 --cloudfront-domain CLOUDFRONT_DOMAIN --distribution-arn DISTRIBUTION_ARN"} {
		if res.code != 0 || !strings.Contains(res.stdout, want) {
			t.Errorf("stage 1: exit %d, the summary lacks %q:\n%s%s", res.code, want, res.stdout, res.stderr)
		}
	}
	after := snapshot(t, dir)
	for path, sum := range before {
		if strings.HasPrefix(path, filepath.Join(statedir.DirName, "aws")) {
			continue
		}
		if after[path] != sum {
			t.Errorf("stage 1 changed %s: the install dir must wait for the issuer", path)
		}
	}
	tmpl, _ := os.ReadFile(template)
	if !strings.Contains(string(tmpl), "AWS::CloudFront::Distribution") || strings.Contains(string(tmpl), "AWS::IAM::Role") {
		t.Errorf("stage 1 template:\n%s", tmpl)
	}
	if _, err := os.Stat(filepath.Join(state, "aws", "apply.sh")); err == nil {
		t.Error("apply.sh of the earlier public rendering is still there")
	}

	domain, arn := "d111111abcdef8.cloudfront.net", "arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE"
	for _, bad := range [][]string{
		{"--private-bucket", "-o", "json"},
		{"--private-bucket", "--cloudfront-domain", domain},
		{"--private-bucket", "--cloudfront-domain", "issuer.example.com", "--distribution-arn", arn},
		{"--cloudfront-domain", domain, "--distribution-arn", arn},
		{"--private-bucket", "--cloudfront-domain", domain, "--distribution-arn", "arn:aws:cloudfront::210987654321:distribution/E1"},
	} {
		if res := run(t, true, offlineArgs(dir, crDir, bad...)...); res.code == 0 || !strings.Contains(res.stderr, "--") {
			t.Errorf("%v: exit %d\n%s", bad, res.code, res.stderr)
		}
	}

	// The dir was rendered for the public issuer first: its issuer changes.
	stage2 := offlineArgs(dir, crDir, "--private-bucket", "--cloudfront-domain", domain, "--distribution-arn", arn)
	if res := run(t, true, stage2...); res.code == 0 || !strings.Contains(res.stderr, "issuer: https://demo-oidc.s3.us-east-2.amazonaws.com -> https://"+domain) {
		t.Errorf("re-targeted from the public issuer without --retarget: exit %d\n%s", res.code, res.stderr)
	}
	res = run(t, true, append(stage2, "--retarget")...)
	if res.code != 0 || !strings.Contains(res.stdout, "updates the stage-1 stack") || strings.Contains(res.stdout, "apply.sh") {
		t.Fatalf("stage 2: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	p := readPlan(t, dir)
	auth, _ := os.ReadFile(filepath.Join(dir, "manifests", "cluster-authentication-02-config.yaml"))
	if p.Issuer.URL != "https://"+domain || !p.Bucket.Private || !strings.Contains(string(auth), "serviceAccountIssuer: https://"+domain) {
		t.Errorf("issuer %s, Authentication:\n%s", p.Issuer.URL, auth)
	}
	tmpl, _ = os.ReadFile(template)
	if !strings.Contains(string(tmpl), "AWS::CloudFront::Distribution") || strings.Count(string(tmpl), "Type: AWS::IAM::Role") != len(p.Roles) || !strings.Contains(string(tmpl), arn) {
		t.Errorf("stage 2 template:\n%s", tmpl)
	}
}
