package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	s3ctypes "github.com/aws/aws-sdk-go-v2/service/s3control/types"

	"github.com/oc-sts/oc-sts/test/awsworld"
)

// What real accounts do that a fresh test account does not: IAM's eventual
// consistency, account-level Block Public Access, bucket names taken by
// other accounts or used in other regions, organisation denies.

const crDir416 = "4.16"

// blockPublicAccess sets the account-level S3 Block Public Access straight
// in moto (S3 Control prefixes the host with the account: dial moto anyway).
func (w *world) blockPublicAccess(t *testing.T, policy, restrict bool) {
	t.Helper()
	u, _ := url.Parse(w.moto)
	var d net.Dialer
	c := s3control.NewFromConfig(w.direct, func(o *s3control.Options) {
		o.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, u.Host)
		}}}
	})
	_, err := c.PutPublicAccessBlock(context.Background(), &s3control.PutPublicAccessBlockInput{AccountId: aws.String("123456789012"), PublicAccessBlockConfiguration: &s3ctypes.PublicAccessBlockConfiguration{
		BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(policy), RestrictPublicBuckets: aws.Bool(restrict)}})
	if err != nil {
		t.Fatal(err)
	}
}

// refused lists the calls the gate answered in AWS's place, as OPERATION=CODE.
func (w *world) refused() []string {
	var out []string
	for _, c := range w.gate.Calls() {
		if c.Refused != "" {
			out = append(out, c.Operation+"="+c.Refused)
		}
	}
	return out
}

func (w *world) object(t *testing.T, bucket, key string) string {
	t.Helper()
	out, err := w.s3().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return string(b)
}

// A new provider unknown to IAM's trust validation and new roles invisible
// for a while: prepare retries with backoff, says so, and converges.
func TestPrepareRidesOutIAMPropagation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.gate.SetIAMPropagation(1500*time.Millisecond, 1500*time.Millisecond)
	dir := exampleDir(t, nil)
	crDir := testdata("credentialsrequests", crDir416)
	res := w.prepare(t, dir, crDir)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	p := readPlan(t, dir)
	refused := strings.Join(w.refused(), " ")
	for _, want := range []string{"CreateRole=MalformedPolicyDocument", "PutRolePolicy=NoSuchEntity"} {
		if !strings.Contains(refused, want) {
			t.Errorf("the call log shows no %s: %s", want, refused)
		}
	}
	for _, want := range []string{"IAM has not propagated the new OIDC provider yet (CreateRole: MalformedPolicyDocument); retry 1 of 8 in 250ms\n",
		"IAM has not propagated the new roles yet (PutRolePolicy: NoSuchEntity); retry 1 of 8 in 250ms\n"} {
		if strings.Count(res.stderr, want) != 1 {
			t.Errorf("progress should say once per retry %q:\n%s", want, res.stderr)
		}
	}
	r := p.Roles[0]
	if err := w.assumeAs(t, dir, p, r.ARN, "system:serviceaccount:"+r.CredentialsRequest.SecretNamespace+":"+r.CredentialsRequest.ServiceAccounts[0]); err != nil {
		t.Errorf("token exchange: %v", err)
	}
	w.gate.ResetLog()
	if again := w.prepare(t, dir, crDir); again.code != 0 || len(w.mutating()) != 0 {
		t.Errorf("converged re-run: exit %d, mutating %v\n%s", again.code, w.mutating(), again.stderr)
	}
}

// Account-level Block Public Access stops a public issuer before any
// write; --private-bucket needs no public access.
func TestPrepareAccountBlockPublicAccess(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.gate.SetDeployDelay(300 * time.Millisecond)
	w.blockPublicAccess(t, true, true)
	dir := exampleDir(t, nil)
	before := snapshot(t, dir)
	crDir := testdata("credentialsrequests", crDir416)
	res := w.prepare(t, dir, crDir)
	if res.code == 0 || !strings.Contains(res.stderr, "the account-level S3 Block Public Access of account 123456789012 (BlockPublicPolicy refuses the bucket policy") ||
		!strings.Contains(res.stderr, "use --private-bucket") || !strings.Contains(res.stderr, "nothing was changed") {
		t.Errorf("exit %d\n%s", res.code, res.stderr)
	}
	if m := w.mutating(); len(m) != 0 {
		t.Errorf("mutating calls before the refusal: %v", m)
	}
	sameTree(t, before, snapshot(t, dir))
	if res := w.prepare(t, dir, crDir, "--private-bucket"); res.code != 0 {
		t.Fatalf("--private-bucket under account-level Block Public Access: exit %d\n%s", res.code, res.stderr)
	}
	p := readPlan(t, dir)
	r := p.Roles[0]
	if err := w.assumeAs(t, dir, p, r.ARN, "system:serviceaccount:"+r.CredentialsRequest.SecretNamespace+":"+r.CredentialsRequest.ServiceAccounts[0]); err != nil {
		t.Errorf("token exchange through the private issuer: %v", err)
	}
}

// When the account's settings cannot be read, prepare warns, and the
// refused bucket policy still says what to do and what was made.
func TestPrepareAccountBlockPublicAccessUnreadable(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.blockPublicAccess(t, true, false)
	w.gate.Deny("s3:GetAccountPublicAccessBlock", awsworld.IdentityPolicy)
	dir := exampleDir(t, nil)
	crDir := testdata("credentialsrequests", crDir416)
	res := w.prepare(t, dir, crDir)
	for _, want := range []string{
		"warning: could not read the S3 Block Public Access settings of account 123456789012 (s3:GetAccountPublicAccessBlock is denied)",
		"S3 Block Public Access (BlockPublicPolicy, of the account or the bucket) refuses it", "use --private-bucket",
		"Made in AWS before it stopped:\n  + s3-bucket demo-oidc\n",
	} {
		if res.code == 0 || !strings.Contains(res.stderr, want) {
			t.Errorf("exit %d, stderr lacks %q:\n%s", res.code, want, res.stderr)
		}
	}
	w.blockPublicAccess(t, false, false) // the administrator lifts it
	w.gate.ResetLog()
	if res := w.prepare(t, dir, crDir); res.code != 0 {
		t.Fatalf("re-run once lifted: exit %d\n%s", res.code, res.stderr)
	}
}

func TestPrepareBucketNameTakenByAnotherAccount(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.gate.ForeignBucket("demo-oidc", "210987654321")
	dir := exampleDir(t, nil)
	crDir := testdata("credentialsrequests", crDir416)
	res := w.prepare(t, dir, crDir)
	if res.code == 0 || !strings.Contains(res.stderr, "the S3 bucket name demo-oidc is taken by another AWS account") || !strings.Contains(res.stderr, "choose another --name") {
		t.Errorf("exit %d\n%s", res.code, res.stderr)
	}
	if m := w.mutating(); len(m) != 0 {
		t.Errorf("mutating calls: %v", m)
	}
	if res := w.prepare(t, dir, crDir, "--name", "demo-2"); res.code != 0 {
		t.Fatalf("another --name: exit %d\n%s", res.code, res.stderr)
	}
	if dry := w.ocSTS(t, "destroy", "--name", "demo", "--region", "us-east-2", "--dry-run"); dry.code != 0 || !strings.Contains(dry.stderr, "nothing to change") {
		t.Errorf("destroy of the name whose bucket is another account's: exit %d\n%s", dry.code, dry.stderr)
	}
}

func TestPrepareBucketInAnotherRegion(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	west := w.direct.Copy()
	west.Region = "us-west-2"
	if _, err := s3.NewFromConfig(west, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(context.Background(), &s3.CreateBucketInput{
		Bucket: aws.String("demo-oidc"), CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: "us-west-2"}}); err != nil {
		t.Fatal(err)
	}
	dir := exampleDir(t, nil)
	crDir := testdata("credentialsrequests", crDir416)
	for _, global := range []bool{false, true} { // a regional endpoint's 301, the global endpoint's 400
		w.gate.S3GlobalEndpoint(global)
		res := w.prepare(t, dir, crDir)
		if res.code == 0 || !strings.Contains(res.stderr, "the S3 bucket demo-oidc exists in us-west-2, but the issuer must be in us-east-2, the cluster's region") ||
			!strings.Contains(res.stderr, "oc sts destroy --name demo --region us-west-2") {
			t.Errorf("global endpoint %v: exit %d\n%s", global, res.code, res.stderr)
		}
		if d := w.ocSTS(t, "destroy", "--name", "demo", "--region", "us-east-2", "--yes"); d.code == 0 || !strings.Contains(d.stderr, "run oc sts destroy --name demo --region us-west-2") {
			t.Errorf("destroy in the wrong region: exit %d\n%s", d.code, d.stderr)
		}
	}
	if m := w.mutating(); len(m) != 0 {
		t.Errorf("mutating calls: %v", m)
	}
}

// An organisation's deny stops the run with the action, the resource and
// what was made; once lifted, a re-run converges.
func TestPrepareExplicitDeny(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := exampleDir(t, nil)
	crDir := testdata("credentialsrequests", crDir416)
	w.gate.Deny("iam:CreateOpenIDConnectProvider", awsworld.SCP)
	res := w.prepare(t, dir, crDir)
	for _, want := range []string{
		"iam:CreateOpenIDConnectProvider on arn:aws:iam::123456789012:oidc-provider/demo-oidc.s3.us-east-2.amazonaws.com is denied by an organisation policy or permissions boundary (AWS: \"with an explicit deny in a service control policy\")",
		"Made in AWS before it stopped:\n  + s3-bucket demo-oidc\n  + s3-object .well-known/openid-configuration\n  + s3-object keys.json\nFix the cause and run oc sts prepare again: it converges",
	} {
		if res.code == 0 || !strings.Contains(res.stderr, want) {
			t.Errorf("exit %d, stderr lacks %q:\n%s", res.code, want, res.stderr)
		}
	}
	if _, applied, _ := strings.Cut(res.stderr, "Applying:"); strings.Contains(applied, "IAM role") || strings.Contains(applied, "iam-role") {
		t.Errorf("roles need the provider and must not be made:\n%s", res.stderr)
	}
	w.gate.Lift("iam:CreateOpenIDConnectProvider")
	if res := w.prepare(t, dir, crDir); res.code != 0 {
		t.Fatalf("re-run once lifted: exit %d\n%s", res.code, res.stderr)
	}
	want := w.state(t)

	// A trust policy to repair under a permissions boundary that denies it.
	p := readPlan(t, dir)
	role := p.Roles[0]
	broad := strings.Replace(string(role.TrustPolicy), role.CredentialsRequest.ServiceAccounts[0], "*", 1)
	if _, err := w.iam().UpdateAssumeRolePolicy(context.Background(), &iam.UpdateAssumeRolePolicyInput{RoleName: &role.Name, PolicyDocument: &broad}); err != nil {
		t.Fatal(err)
	}
	w.gate.Deny("iam:UpdateAssumeRolePolicy", awsworld.PermissionsBoundary)
	res = w.prepare(t, dir, crDir)
	if want := "iam:UpdateAssumeRolePolicy on " + role.ARN + " is denied by an organisation policy or permissions boundary (AWS: \"with an explicit deny in a permissions boundary\")"; res.code == 0 || !strings.Contains(res.stderr, want) {
		t.Errorf("exit %d, stderr lacks %q:\n%s", res.code, want, res.stderr)
	}
	w.gate.Lift("iam:UpdateAssumeRolePolicy")
	if res := w.prepare(t, dir, crDir); res.code != 0 {
		t.Fatalf("re-run once lifted: exit %d\n%s", res.code, res.stderr)
	}
	if got := w.state(t); got != want {
		t.Errorf("after the repair:\n%s\nwant:\n%s", got, want)
	}
}

// Every S3 call names the caller's account as the bucket's expected owner
// (CreateBucket and ListBuckets have no such field).
func TestS3CallsNameTheExpectedOwner(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := exampleDir(t, nil)
	if res := w.prepare(t, dir, testdata("credentialsrequests", crDir416)); res.code != 0 {
		t.Fatal(res.stderr)
	}
	if res := w.ocSTS(t, "destroy", "--dir", dir, "--yes"); res.code != 0 {
		t.Fatal(res.stderr)
	}
	n := 0
	for _, c := range w.gate.Calls() {
		if c.Service != "s3" || c.Operation == "PUT /demo-oidc" || c.Operation == "GET /" {
			continue
		}
		n++
		if c.ExpectedBucketOwner != "123456789012" {
			t.Errorf("%s without the expected bucket owner", c.Operation)
		}
	}
	if n < 10 {
		t.Errorf("only %d S3 calls seen", n)
	}
}

// A second install dir with the same --name would publish its own key over
// the first cluster's: refused, the published key unchanged, unless asked.
func TestPrepareKeepsThePublishedKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	crDir := testdata("credentialsrequests", crDir416)
	first := exampleDir(t, nil)
	if res := w.prepare(t, first, crDir); res.code != 0 {
		t.Fatal(res.stderr)
	}
	published := w.object(t, "demo-oidc", "keys.json")
	second := exampleDir(t, nil)
	before := snapshot(t, second)
	w.gate.ResetLog()
	res := w.prepare(t, second, crDir)
	if res.code == 0 || !strings.Contains(res.stderr, "s3://demo-oidc/keys.json publishes signer keys (kid ") ||
		!strings.Contains(res.stderr, "every token a running cluster signed with them") || !strings.Contains(res.stderr, "--replace-published-keys") {
		t.Errorf("exit %d\n%s", res.code, res.stderr)
	}
	if m := w.mutating(); len(m) != 0 {
		t.Errorf("mutating calls: %v", m)
	}
	if got := w.object(t, "demo-oidc", "keys.json"); got != published {
		t.Errorf("the published key changed:\n%s\nwas:\n%s", got, published)
	}
	sameTree(t, before, snapshot(t, second))
	// The first install dir's key is still the published one: its re-run is converged.
	if res := w.prepare(t, first, crDir); res.code != 0 || len(w.mutating()) != 0 {
		t.Errorf("first dir again: exit %d, mutating %v\n%s", res.code, w.mutating(), res.stderr)
	}
	res = w.prepare(t, second, crDir, "--replace-published-keys")
	if res.code != 0 || !strings.Contains(res.stderr, "warning: replacing the published signer keys") {
		t.Fatalf("--replace-published-keys: exit %d\n%s", res.code, res.stderr)
	}
	key, _ := os.ReadFile(filepath.Join(second, "tls", "bound-service-account-signing-key.key"))
	if w.object(t, "demo-oidc", "keys.json") == published || len(key) == 0 {
		t.Error("--replace-published-keys did not publish the second dir's key")
	}
}

// upgrade-check --apply converges roles with prepare's engine: the same
// stop on an organisation's deny, the same patience with IAM.
func TestUpgradeApplyUnderDenyAndIAMPropagation(t *testing.T) {
	t.Parallel()
	c := newSTSCluster(t, "4.12")
	c.setClusterVersion(t, "4.12.9", "quay.io/openshift-release-dev/ocp-release@sha256:0", "", []string{"Storage", "MachineAPI", "ImageRegistry", "Ingress", "CloudCredential"}, nil)
	target := targetRelease(t)
	const newRole = "demo-openshift-new-operator-new-operator-credentials"
	c.w.gate.Deny("iam:CreateRole", awsworld.SCP)
	_, res := c.upgradeCheck(t, "--credentials-requests-dir", target, "--target-version", "4.14.0", "--apply", "--yes")
	for _, want := range []string{
		"iam:CreateRole on arn:aws:iam::123456789012:role/" + newRole + " is denied by an organisation policy or permissions boundary",
		"Made in AWS before it stopped:\n  ~ iam-role demo-openshift-cluster-csi-drivers-ebs-cloud-credentials (policy)\n  ~ iam-role demo-openshift-ingress-operator-cloud-credentials (trust-policy, policy)\nFix",
		"oc sts upgrade-check --apply again",
	} {
		if res.code != 1 || !strings.Contains(res.stderr, want) {
			t.Errorf("exit %d, stderr lacks %q:\n%s", res.code, want, res.stderr)
		}
	}
	c.w.gate.Lift("iam:CreateRole")
	c.w.gate.SetIAMPropagation(0, time.Second)
	_, res = c.upgradeCheck(t, "--credentials-requests-dir", target, "--target-version", "4.14.0", "--apply", "--yes")
	if res.code != 0 || !strings.Contains(res.stderr, "IAM has not propagated the new roles yet (PutRolePolicy: NoSuchEntity)") {
		t.Errorf("--apply once lifted: exit %d\n%s", res.code, res.stderr)
	}
	if r, res := c.upgradeCheck(t, "--credentials-requests-dir", target); res.code != 0 || !r.Safe {
		t.Errorf("after --apply: exit %d, %+v", res.code, blocking(r))
	}
}

// destroy under an organisation's deny: the action and resource named,
// what is left listed; once lifted, a re-run finishes.
func TestDestroyExplicitDeny(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := exampleDir(t, nil)
	if res := w.prepare(t, dir, testdata("credentialsrequests", crDir416)); res.code != 0 {
		t.Fatal(res.stderr)
	}
	p := readPlan(t, dir)
	w.gate.Deny("iam:DeleteOpenIDConnectProvider", awsworld.SCP)
	res := w.ocSTS(t, "destroy", "--dir", dir, "--yes")
	for _, want := range []string{
		"iam:DeleteOpenIDConnectProvider on " + p.OIDCProvider.ARN + " is denied by an organisation policy or permissions boundary",
		"Left in AWS:\n  - iam-oidc-provider " + p.OIDCProvider.ARN + "\nPlan: 0 to create, 0 to update, 1 to delete.",
	} {
		if res.code == 0 || !strings.Contains(res.stderr, want) {
			t.Errorf("exit %d, stderr lacks %q:\n%s", res.code, want, res.stderr)
		}
	}
	w.gate.Lift("iam:DeleteOpenIDConnectProvider")
	if res := w.ocSTS(t, "destroy", "--name", "demo", "--region", "us-east-2", "--yes"); res.code != 0 {
		t.Fatalf("destroy once lifted: exit %d\n%s", res.code, res.stderr)
	}
	if got := w.state(t); got != "" {
		t.Errorf("left after destroy:\n%s", got)
	}
}
