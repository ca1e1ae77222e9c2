package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
	"github.com/oc-sts/oc-sts/pkg/statedir"
	"github.com/oc-sts/oc-sts/test/awsworld"
)

func readPlan(t testing.TB, dir string) *plan.Plan {
	t.Helper()
	p, err := statedir.ReadPlan(statedir.Default(dir))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// assumeAs signs a token for sub with the key prepare put in the install
// dir, as the cluster will, and exchanges it at STS (through the gate,
// which verifies it against the published issuer as AWS does).
func (w *world) assumeAs(t *testing.T, dir string, p *plan.Plan, roleARN, sub string) error {
	t.Helper()
	keyPEM, err := os.ReadFile(filepath.Join(dir, "tls", "bound-service-account-signing-key.key"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var jwks jose.JSONWebKeySet
	json.Unmarshal(p.Bucket.Objects[1].Body, &jwks)
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", jwks.Keys[0].KeyID))
	tok, _ := jwt.Signed(signer).Claims(jwt.Claims{Issuer: p.Issuer.URL, Subject: sub, Audience: jwt.Audience{"openshift"}, Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}).Serialize()
	return w.exchange(roleARN, tok)
}

// exchange trades a web identity token for roleARN at STS, through the gate.
func (w *world) exchange(roleARN, tok string) error {
	cfg := w.direct.Copy()
	cfg.BaseEndpoint = aws.String(strings.TrimPrefix(w.env[0], "AWS_ENDPOINT_URL="))
	_, err := sts.NewFromConfig(cfg).AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: &roleARN, RoleSessionName: aws.String("e2e"), WebIdentityToken: &tok})
	return err
}

func TestPrepareCreatesAWSResourcesEachRelease(t *testing.T) {
	t.Parallel()
	for _, release := range []string{"4.12", "4.14", "4.16"} {
		t.Run(release, func(t *testing.T) {
			w := newWorld(t)
			dir := exampleDir(t, nil)
			crDir := testdata("credentialsrequests", release)
			res := w.prepare(t, dir, crDir)
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			p := readPlan(t, dir)
			if !strings.Contains(res.stdout, "openshift-install create cluster --dir "+dir) || !strings.Contains(res.stdout, p.OIDCProvider.ARN) {
				t.Errorf("summary lacks the provider or the next step:\n%s", res.stdout)
			}
			// Each role's Secret names it, and its service account can assume it with a cluster token.
			for _, r := range p.Roles {
				secret, err := os.ReadFile(filepath.Join(dir, "manifests", r.CredentialsRequest.SecretNamespace+"-"+r.CredentialsRequest.SecretName+"-credentials.yaml"))
				if err != nil || !strings.Contains(string(secret), "role_arn = "+r.ARN) {
					t.Errorf("Secret for %s: %v", r.Name, err)
				}
				sa := "system:serviceaccount:" + r.CredentialsRequest.SecretNamespace + ":" + r.CredentialsRequest.ServiceAccounts[0]
				if err := w.assumeAs(t, dir, p, r.ARN, sa); err != nil {
					t.Errorf("%s cannot assume %s: %v", sa, r.Name, err)
				}
				if err := w.assumeAs(t, dir, p, r.ARN, "system:serviceaccount:default:default"); err == nil {
					t.Errorf("default:default assumed %s: the trust is too broad", r.Name)
				}
			}
			// The bucket is not listable; the discovery document is public.
			if got := w.state(t); !strings.Contains(got, "block=true,true,false,false") {
				t.Errorf("public access block of the issuer bucket:\n%s", got)
			}

			w.gate.ResetLog()
			again := w.prepare(t, dir, crDir)
			if again.code != 0 || len(w.mutating()) != 0 {
				t.Errorf("converged re-run: exit %d, mutating calls %v\n%s", again.code, w.mutating(), again.stderr)
			}
			if reads := len(w.gate.Calls()); reads > 2+len(p.Roles) {
				t.Logf("converged re-run made %d read calls for %d roles", reads, len(p.Roles))
			}
			if !strings.Contains(again.stderr, "nothing to change") {
				t.Errorf("re-run should say nothing changes:\n%s", again.stderr)
			}
		})
	}
}

func TestPrepareRepairsDrift(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	dir := exampleDir(t, nil)
	crDir := testdata("credentialsrequests", "4.16")
	if res := w.prepare(t, dir, crDir, "--tag", "team=platform"); res.code != 0 {
		t.Fatal(res.stderr)
	}
	want := w.state(t)
	p := readPlan(t, dir)
	role := p.Roles[0]
	// A trust edited to any service account, a tag removed, the bucket
	// policy deleted, an action removed from a role, a policy added.
	broad := strings.Replace(string(role.TrustPolicy), `"StringEquals"`, `"StringLike"`, 1)
	broad = strings.Replace(broad, role.CredentialsRequest.ServiceAccounts[0], "*", 1)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.iam().UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: &role.Name, PolicyDocument: &broad}))
	must(w.iam().UntagRole(ctx, &iam.UntagRoleInput{RoleName: &p.Roles[1].Name, TagKeys: []string{"team"}}))
	must(w.s3().DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: &p.Bucket.Name}))
	var doc map[string]any
	json.Unmarshal(p.Roles[2].Policy, &doc)
	st := doc["Statement"].([]any)[0].(map[string]any)
	if actions, ok := st["Action"].([]any); ok && len(actions) > 1 {
		st["Action"] = actions[1:]
	} else {
		st["Action"] = "ec2:DescribeRegions"
	}
	cut, _ := json.Marshal(doc)
	must(w.iam().PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: &p.Roles[2].Name, PolicyName: &p.Roles[2].PolicyName, PolicyDocument: aws.String(string(cut))}))
	must(w.iam().PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: &p.Roles[3].Name, PolicyName: aws.String("extra"), PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`)}))

	dry := w.prepare(t, dir, crDir, "--tag", "team=platform", "--dry-run", "-o", "json")
	var shown struct { // the plan, and the changes found
		plan.Plan
		Changes []provision.Change `json:"changes"`
	}
	if err := json.Unmarshal([]byte(dry.stdout), &shown); err != nil || len(shown.Changes) != 5 {
		t.Fatalf("dry run should list 5 changes: %v %+v\n%s", err, shown.Changes, dry.stderr)
	}
	for _, want := range []string{"~ iam-role " + role.Name + " (trust-policy)", "~ iam-role " + p.Roles[1].Name + " (tags)", "(bucket-policy)", "~ iam-role " + p.Roles[2].Name + " (policy)", "(extra-policies)"} {
		if !strings.Contains(dry.stderr, want) {
			t.Errorf("drift %q not shown:\n%s", want, dry.stderr)
		}
	}
	// A human dry run: the plan on stdout, what changes in each field, and
	// exit 2 with --detailed-exitcode: changes are pending.
	human := w.prepare(t, dir, crDir, "--tag", "team=platform", "--dry-run", "--detailed-exitcode")
	ref := role.CredentialsRequest
	for _, want := range []string{
		"~ iam-role " + role.Name + " (trust-policy)",
		"trust-policy: + Statement[0].Condition.StringEquals." + p.Issuer.HostPath + ":sub: system:serviceaccount:" + ref.SecretNamespace + ":" + ref.ServiceAccounts[0],
		"trust-policy: - Statement[0].Condition.StringLike." + p.Issuer.HostPath + ":sub: " + strings.Replace("system:serviceaccount:"+ref.SecretNamespace+":"+ref.ServiceAccounts[0], ref.ServiceAccounts[0], "*", 1),
		"~ iam-role " + p.Roles[1].Name + " (tags)\n      tags: team: (none) → platform",
		"~ iam-role " + p.Roles[2].Name + " (policy)\n      policy: ",
		"Plan: 0 to create, 5 to update, 0 to delete.",
	} {
		if !strings.Contains(human.stdout, want) {
			t.Errorf("dry run stdout lacks %q:\n%s", want, human.stdout)
		}
	}
	if human.code != 2 || strings.Contains(human.stderr, "Plan:") || strings.Contains(human.stderr, "error") {
		t.Errorf("--dry-run --detailed-exitcode with changes: exit %d, want 2, the plan on stdout only\n%s", human.code, human.stderr)
	}
	w.gate.ResetLog()
	if res := w.prepare(t, dir, crDir, "--tag", "team=platform"); res.code != 0 {
		t.Fatal(res.stderr)
	}
	if got := w.state(t); got != want {
		t.Errorf("after repair:\n%s\nwant:\n%s", got, want)
	}
	if n := len(w.mutating()); n != 5 {
		t.Errorf("repair made %d mutating calls %v, want 5: one per drift", n, w.mutating())
	}
	if res := w.prepare(t, dir, crDir, "--tag", "team=platform", "--dry-run", "--detailed-exitcode"); res.code != 0 || !strings.Contains(res.stdout, "nothing to change") {
		t.Errorf("--dry-run --detailed-exitcode once converged: exit %d, want 0\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// A run killed after its k-th AWS call, for every k, converges on re-run
// to exactly what an uninterrupted run makes.
func TestPrepareCrashAtEveryCall(t *testing.T) {
	t.Parallel()
	crDir := testdata("credentialsrequests", "4.12")
	ref := newWorld(t)
	refDir := exampleDir(t, nil)
	if res := ref.prepare(t, refDir, crDir); res.code != 0 {
		t.Fatal(res.stderr)
	}
	want := ref.state(t)
	total := len(ref.gate.Calls())
	key, _ := os.ReadFile(filepath.Join(refDir, "tls", "bound-service-account-signing-key.key"))

	for k := 1; k < total; k++ {
		w := newWorld(t)
		dir := exampleDir(t, nil)
		os.MkdirAll(filepath.Join(dir, "tls"), 0o755)
		os.WriteFile(filepath.Join(dir, "tls", "bound-service-account-signing-key.key"), key, 0o600)
		cmd := exec.Command(binary, "prepare", "--no-installer", "--dir", dir, "--credentials-requests-dir", crDir, "--yes")
		cmd.Env = w.env
		w.gate.AbortAfter(k, func() { cmd.Process.Kill() })
		if res := runCmd(t, cmd); res.code == 0 {
			t.Fatalf("k=%d: the run was not killed", k)
		}
		w.gate.ResetLog()
		if res := w.prepare(t, dir, crDir); res.code != 0 {
			t.Fatalf("k=%d: re-run after the crash: %s", k, res.stderr)
		}
		if got := w.state(t); got != want {
			t.Fatalf("k=%d: end state differs:\n%s\nwant:\n%s", k, got, want)
		}
	}
	t.Logf("killed and resumed at each of %d calls", total-1)
}

func TestPrepareSurvivesThrottlingAndErrors(t *testing.T) {
	t.Parallel()
	for _, f := range []awsworld.Fault{awsworld.Throttling, awsworld.InternalError} {
		w := newWorld(t)
		w.gate.FailFraction(0.2, f, 42)
		dir := exampleDir(t, nil)
		if res := w.prepare(t, dir, testdata("credentialsrequests", "4.16")); res.code != 0 {
			t.Fatalf("%s on 20%% of calls: %s", f, res.stderr)
		}
		injected := 0
		for _, c := range w.gate.Calls() {
			if c.Injected != "" {
				injected++
			}
		}
		w.gate.ResetLog()
		if res := w.prepare(t, dir, testdata("credentialsrequests", "4.16")); res.code != 0 || len(w.mutating()) != 0 {
			t.Errorf("%s: not converged after %d injected faults: %v", f, injected, w.mutating())
		}
	}
}

func TestPrepareRefusesWithoutPermissionOrConfirmation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := exampleDir(t, nil)
	before := snapshot(t, dir)
	crDir := testdata("credentialsrequests", "4.16")

	w.gate.DenyInSimulation("iam:CreateRole", "s3:PutBucketPolicy")
	res := w.prepare(t, dir, crDir)
	if res.code == 0 || !strings.Contains(res.stderr, "lacks permissions these changes need: iam:CreateRole, s3:PutBucketPolicy") {
		t.Errorf("missing permissions: exit %d\n%s", res.code, res.stderr)
	}
	w.gate.DenyInSimulation()
	cmd := exec.Command(binary, "prepare", "--no-installer", "--dir", dir, "--credentials-requests-dir", crDir)
	cmd.Env = w.env
	if res := runCmd(t, cmd); res.code == 0 || !strings.Contains(res.stderr, "add --yes") {
		t.Errorf("without --yes and no terminal: exit %d\n%s", res.code, res.stderr)
	}
	if res := w.prepare(t, dir, crDir, "--dry-run"); res.code != 0 || !strings.Contains(res.stdout, "Plan: 10 to create") {
		t.Errorf("dry run: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := w.prepare(t, dir, crDir, "--detailed-exitcode"); res.code != 1 || !strings.Contains(res.stderr, "--detailed-exitcode goes with --dry-run") {
		t.Errorf("--detailed-exitcode without --dry-run: exit %d\n%s", res.code, res.stderr)
	}
	if m := w.mutating(); len(m) != 0 {
		t.Errorf("mutating calls without permission, confirmation or with --dry-run: %v", m)
	}
	sameTree(t, before, snapshot(t, dir))
}

// GovCloud and China: ARNs, issuer hosts and condition keys of their partitions.
func TestPreparePartitions(t *testing.T) {
	t.Parallel()
	for region, want := range map[string][2]string{
		"us-gov-west-1": {"arn:aws-us-gov:iam::", "demo-oidc.s3.us-gov-west-1.amazonaws.com"},
		"cn-north-1":    {"arn:aws-cn:iam::", "demo-oidc.s3.cn-north-1.amazonaws.com.cn"},
	} {
		t.Run(region, func(t *testing.T) {
			w := newWorld(t)
			w.env = append(w.env, "AWS_REGION="+region)
			example, _ := os.ReadFile(filepath.Join(repoRoot(), "examples", "install-dir", "install-config.yaml"))
			dir := exampleDir(t, []byte(strings.Replace(string(example), "region: us-east-2", "region: "+region, 1)))
			if res := w.prepare(t, dir, testdata("credentialsrequests", "4.16")); res.code != 0 {
				t.Fatal(res.stderr)
			}
			p := readPlan(t, dir)
			if !strings.HasPrefix(p.OIDCProvider.ARN, want[0]) || p.Issuer.HostPath != want[1] || !strings.HasPrefix(p.Roles[0].ARN, want[0]) {
				t.Errorf("plan: provider %s issuer %s role %s", p.OIDCProvider.ARN, p.Issuer.HostPath, p.Roles[0].ARN)
			}
			r := p.Roles[0]
			if err := w.assumeAs(t, dir, p, r.ARN, "system:serviceaccount:"+r.CredentialsRequest.SecretNamespace+":"+r.CredentialsRequest.ServiceAccounts[0]); err != nil {
				t.Errorf("web identity in %s: %v", region, err)
			}
		})
	}
}

// Ctrl-C stops the run between calls, says how to resume, leaves the
// install dir as it was; the re-run converges.
func TestPrepareInterrupted(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := exampleDir(t, nil)
	before := snapshot(t, dir)
	crDir := testdata("credentialsrequests", "4.16")
	// A dry run makes exactly the reads before the apply: interrupt a few
	// calls into the apply (after the permission check).
	if res := w.prepare(t, dir, crDir, "--dry-run"); res.code != 0 {
		t.Fatal(res.stderr)
	}
	reads := len(w.gate.Calls())
	w.gate.ResetLog()
	w.gate.SetLatency(300 * time.Millisecond)
	cmd := exec.Command(binary, "prepare", "--no-installer", "--dir", dir, "--credentials-requests-dir", crDir, "--yes")
	cmd.Env = w.env
	w.gate.AbortAfter(reads+3, func() { cmd.Process.Signal(os.Interrupt) })
	res := runCmd(t, cmd)
	if res.code != 130 || !strings.Contains(res.stderr, "interrupted") || !strings.Contains(res.stderr, "again to resume") {
		t.Fatalf("Ctrl-C: exit %d\n%s", res.code, res.stderr)
	}
	after := snapshot(t, dir)
	for path := range after {
		if strings.HasPrefix(path, ".oc-sts") {
			delete(after, path) // the signer key is kept before it is published
		}
	}
	sameTree(t, before, after)
	w.gate.ResetLog()
	if res := w.prepare(t, dir, crDir); res.code != 0 {
		t.Fatalf("resume: %s", res.stderr)
	}
}
