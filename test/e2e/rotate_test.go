package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/rotation"
	"github.com/oc-sts/oc-sts/pkg/statedir"
	"github.com/oc-sts/oc-sts/test/kubeworld"
)

// rotationCluster is an STS cluster as an install leaves it (a real
// kube-apiserver signing with the key prepare wrote) with the
// kube-apiserver operator's part emulated by the test world
// (kubeworld.Operator: on the Secret next-bound-service-account-signing-key
// it restarts kube-apiserver accepting both keys, then signing with the
// new one). rotate-key reaches the cluster through a gate that logs its
// writes and can kill it right after one.
type rotationCluster struct {
	*stsCluster
	prepareArgs []string
	op          *kubeworld.Operator
	gate        *kubeworld.Gate
	client      kubernetes.Interface
}

// maxTokenExpiration is what the test cluster's kube-apiserver runs with.
const maxTokenExpiration = 2 * time.Hour

func newRotationCluster(t *testing.T, private bool) *rotationCluster {
	t.Helper()
	var args []string
	if private {
		args = []string{"--private-bucket"}
	}
	c := newSTSCluster(t, "4.16", args...)
	key, err := os.ReadFile(filepath.Join(c.dir, "tls", "bound-service-account-signing-key.key"))
	if err != nil {
		t.Fatal(err)
	}
	op, err := c.kube.EmulateKubeAPIServerOperator(context.Background(), t.TempDir(), kubeworld.OperatorOptions{SigningKey: key,
		APIServerArguments: map[string][]string{"service-account-max-token-expiration": {maxTokenExpiration.String()}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := op.Stop(); err != nil {
			t.Errorf("the emulated kube-apiserver operator: %v", err)
		}
	})
	gate, err := c.kube.NewGate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gate.Close)
	client, err := kubernetes.NewForConfig(c.kube.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &rotationCluster{stsCluster: c, prepareArgs: args, op: op, gate: gate, client: client}
}

func (c *rotationCluster) rotateKey(t *testing.T, args ...string) result {
	t.Helper()
	return c.w.ocSTS(t, append([]string{"rotate-key", "--dir", c.dir, "--kubeconfig", c.gate.Kubeconfig, "--yes"}, args...)...)
}

// tokens are fresh tokens of every role's service account, for AWS, as
// the operators' pods get them: by role ARN.
func (c *rotationCluster) tokens(t *testing.T) map[string]string {
	t.Helper()
	out, err := c.tryTokens()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (c *rotationCluster) tryTokens() (map[string]string, error) {
	out := map[string]string{}
	exp := int64(time.Hour / time.Second)
	for _, r := range c.plan.Roles {
		tok, err := c.client.CoreV1().ServiceAccounts(r.CredentialsRequest.SecretNamespace).CreateToken(context.Background(), r.CredentialsRequest.ServiceAccounts[0],
			&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{Audiences: []string{"openshift"}, ExpirationSeconds: &exp}}, metav1.CreateOptions{})
		if err != nil {
			return nil, err
		}
		out[r.ARN] = tok.Status.Token
	}
	return out, nil
}

// tokensDuringRollout are fresh tokens while the emulated operator may be
// restarting kube-apiserver: asked again until it answers.
func (c *rotationCluster) tokensDuringRollout(t *testing.T) map[string]string {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		out, err := c.tryTokens()
		if err == nil {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fresh tokens during the rollout: %v", err)
		}
	}
}

// signedWith is the one kid of tokens.
func signedWith(t *testing.T, tokens map[string]string) string {
	t.Helper()
	var kids []string
	for _, tok := range tokens {
		kid, err := clustercheck.KeyIDOf(tok)
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, kid)
	}
	if kids = slices.Compact(slices.Sorted(slices.Values(kids))); len(kids) != 1 {
		t.Fatalf("tokens signed with %v", kids)
	}
	return kids[0]
}

// accepted: AWS trades every token for its role. No valid token may ever
// be rejected during a rotation.
func (c *rotationCluster) accepted(t *testing.T, when string, tokens ...map[string]string) {
	t.Helper()
	for _, set := range tokens {
		for role, tok := range set {
			if err := c.w.exchange(role, tok); err != nil {
				t.Fatalf("%s: a valid token for %s was rejected: %v", when, role, err)
			}
		}
	}
}

// storedKIDs are the kids of the issuer bucket's keys.json.
func (c *rotationCluster) storedKIDs(t *testing.T) []string {
	t.Helper()
	out, err := c.w.s3().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &c.plan.Bucket.Name, Key: aws.String(oidckeys.JWKSPath)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return kidsIn(t, b)
}

// servedKIDs are the kids anyone gets from the issuer (for CloudFront,
// through its cache).
func (c *rotationCluster) servedKIDs(t *testing.T) []string {
	t.Helper()
	proxy, _ := url.Parse(strings.TrimPrefix(c.w.env[0], "AWS_ENDPOINT_URL="))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.w.gate.CACertPEM())
	web := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := web.Get(c.plan.Issuer.URL + "/" + oidckeys.JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return kidsIn(t, b)
}

// clusterKIDs are the kids the real kube-apiserver serves at /openid/v1/jwks.
func (c *rotationCluster) clusterKIDs(t *testing.T) []string {
	t.Helper()
	raw, err := c.client.CoreV1().RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return kidsIn(t, raw)
}

func kidsIn(t *testing.T, doc []byte) []string {
	t.Helper()
	var set struct {
		Keys []struct{ Kid string } `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatalf("not a JWKS: %v\n%s", err, doc)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// signingKeys runs verify --token-exchange: it must pass (exit 0) and say
// want of the signing keys.
func (c *rotationCluster) verifySays(t *testing.T, when string, status clustercheck.Status, want string) {
	t.Helper()
	report, res := c.verify(t)
	if res.code != 0 || report.Failed != 0 {
		t.Fatalf("%s: verify --token-exchange must pass: exit %d, FAILs %+v\n%s", when, res.code, failed(report), res.stderr)
	}
	for _, r := range report.Results {
		if r.Check == clustercheck.CheckSigningKeys {
			if r.Status != status || !strings.Contains(r.Reason+" "+r.Fix, want) {
				t.Errorf("%s: signing-keys %s %q (fix %q), want %s with %q", when, r.Status, r.Reason, r.Fix, status, want)
			}
			return
		}
	}
	t.Errorf("%s: no signing-keys verdict", when)
}

func readRotation(t *testing.T, dir string) *rotation.State {
	t.Helper()
	st, err := rotation.Load(statedir.Default(dir))
	if err != nil || st == nil {
		t.Fatalf("no rotation recorded: %v", err)
	}
	return st
}

// waitedFor makes the recorded roll d earlier: the time a user waits
// before retiring, which a test cannot spend. Tokens the cluster signed
// before the roll then count as expired (their kube-apiserver caps them at
// the lifetime the rotation read).
func waitedFor(t *testing.T, dir string, d time.Duration) {
	t.Helper()
	path := filepath.Join(statedir.Default(dir), rotation.StateFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.Unmarshal(b, &doc)
	for _, field := range []string{"rolledAt", "retireAfter"} {
		at, err := time.Parse(time.RFC3339Nano, doc[field].(string))
		if err != nil {
			t.Fatal(err)
		}
		doc[field] = at.Add(-d).Format(time.RFC3339Nano)
	}
	b, _ = json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func keyFile(t *testing.T, path string) (string, os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := oidckeys.LoadOrGenerate(path)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := oidckeys.KeyID(&s.Key.PublicKey)
	return kid, st.Mode().Perm()
}

// The rotation end to end, for a public S3 issuer and for a private one
// behind CloudFront: tokens of the old key and of the new one are accepted
// by AWS for every role at every step until the old key is retired, after
// which old-key tokens are rejected and new-key tokens accepted; verify
// passes at every step and prepare never undoes the rotation.
func TestRotateKey(t *testing.T) {
	t.Parallel()
	for name, private := range map[string]bool{"public issuer": false, "private issuer": true} {
		t.Run(name, func(t *testing.T) { rotateEndToEnd(t, private) })
	}
}

func rotateEndToEnd(t *testing.T, private bool) {
	c := newRotationCluster(t, private)
	state := statedir.Default(c.dir)
	oldKID, _ := keyFile(t, statedir.SignerKeyPath(state))
	old := c.tokens(t)
	if kid := signedWith(t, old); kid != oldKID {
		t.Fatalf("the cluster signs with %s, not with the key prepare made (%s)", kid, oldKID)
	}
	c.accepted(t, "before the rotation", old)
	c.verifySays(t, "before the rotation", clustercheck.Pass, "the cluster signs with "+oldKID+", which is published")

	if res := c.rotateKey(t, "--status"); res.code != 0 || !strings.Contains(res.stdout, "No key rotation recorded") || !strings.Contains(res.stdout, "Cluster signs with: "+oldKID) {
		t.Errorf("--status before a rotation: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	c.w.gate.ResetLog()
	dry := c.rotateKey(t, "--dry-run")
	if dry.code != 0 || !strings.Contains(dry.stderr, "stage: publish the new key") || !strings.Contains(dry.stderr, "~ s3-object keys.json") || !strings.Contains(dry.stderr, "roll: put the new key in secret openshift-kube-apiserver-operator/next-bound-service-account-signing-key") {
		t.Errorf("--dry-run: exit %d\n%s", dry.code, dry.stderr)
	}
	if m := c.w.mutating(); len(m) != 0 || len(c.gate.Writes()) != 0 {
		t.Errorf("--dry-run changed AWS %v or the cluster %v", m, c.gate.Writes())
	}
	if _, err := os.Stat(filepath.Join(state, rotation.StateFile)); err == nil {
		t.Error("--dry-run recorded a rotation")
	}

	// stage: both keys published, the cluster untouched.
	c.w.gate.ResetLog()
	res := c.rotateKey(t, "stage")
	if res.code != 0 {
		t.Fatalf("stage: exit %d\n%s", res.code, res.stderr)
	}
	st := readRotation(t, c.dir)
	newKID := st.Next.KID
	if st.Phase != rotation.Staged || st.Previous.KID != oldKID {
		t.Fatalf("after stage: %+v", st)
	}
	if kid, mode := keyFile(t, filepath.Join(state, rotation.NextKey)); kid != newKID || mode != 0o600 {
		t.Errorf("the new key %s has mode %o", kid, mode)
	}
	both := []string{oldKID, newKID}
	if got := c.storedKIDs(t); !slices.Equal(got, both) {
		t.Errorf("staged: keys.json holds %v, want %v", got, both)
	}
	if got := c.servedKIDs(t); !slices.Equal(got, both) {
		t.Errorf("staged: the issuer serves %v, want %v", got, both)
	}
	wantMutating := 1 // PutObject keys.json
	if private {
		wantMutating = 2 // and the CloudFront invalidation of the copy the token exchanges above left cached
		if !strings.Contains(res.stderr, "invalidating CloudFront distribution") {
			t.Errorf("the private issuer's cached key set was not invalidated:\n%s", res.stderr)
		}
	}
	if m := c.w.mutating(); len(m) != wantMutating || len(c.gate.Writes()) != 0 {
		t.Errorf("stage made the AWS calls %v (want %d) and the cluster writes %v (want none)", m, wantMutating, c.gate.Writes())
	}
	c.accepted(t, "staged", old)
	c.verifySays(t, "staged", clustercheck.Warn, "a key rotation staged")
	c.w.gate.ResetLog()
	if again := c.rotateKey(t, "stage", "-o", "yaml"); again.code != 0 || len(c.w.mutating()) != 0 ||
		!strings.Contains(again.stdout, "kind: KeyRotationReport") || !strings.Contains(again.stdout, "phase: staged") || !strings.Contains(again.stdout, "kid: "+newKID) {
		t.Errorf("stage again -o yaml: exit %d, mutating %v\n%s%s", again.code, c.w.mutating(), again.stdout, again.stderr)
	}
	if res := c.w.prepare(t, c.dir, testdata("credentialsrequests", "4.16"), c.prepareArgs...); res.code != 0 || len(c.w.mutating()) != 0 || !slices.Equal(c.storedKIDs(t), both) {
		t.Fatalf("prepare during the rotation must keep both keys and change nothing: exit %d, mutating %v, keys %v\n%s", res.code, c.w.mutating(), c.storedKIDs(t), res.stderr)
	}

	// roll: the emulated operator takes the key; the API servers sign with it.
	res = c.rotateKey(t)
	if res.code != 0 {
		t.Fatalf("roll: exit %d\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "waiting for the cluster to sign with the new key") || !strings.Contains(res.stderr, "kube-apiserver revision") {
		t.Errorf("no progress shown while the cluster rolled the key out:\n%s", res.stderr)
	}
	st = readRotation(t, c.dir)
	if st.Phase != rotation.Rolled || st.TokenLifetime.Max.Duration != maxTokenExpiration || !strings.Contains(st.TokenLifetime.Source, "service-account-max-token-expiration=2h0m0s") {
		t.Fatalf("after roll: phase %s, lifetime %+v", st.Phase, st.TokenLifetime)
	}
	if want := st.RolledAt.Add(maxTokenExpiration + rotation.ClockSkew); !st.RetireAfter.Equal(want) {
		t.Errorf("retire after %s, want %s", st.RetireAfter, want)
	}
	if w := c.gate.Writes(); len(w) != 1 || !strings.Contains(w[0], "/secrets/next-bound-service-account-signing-key") {
		t.Errorf("roll's cluster writes: %v, want the one Secret", w)
	}
	if n := c.op.Rollouts(); n != 2 {
		t.Errorf("the operator rolled out %d revisions, want 2 (accept the key, then sign with it)", n)
	}
	// The kids oc sts published are the real kube-apiserver's.
	if got := c.clusterKIDs(t); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(both))) {
		t.Errorf("kube-apiserver's /openid/v1/jwks has %v, oc sts published %v", got, both)
	}
	fresh := c.tokens(t)
	if kid := signedWith(t, fresh); kid != newKID {
		t.Fatalf("after the roll fresh tokens are signed with %s, want %s", kid, newKID)
	}
	c.accepted(t, "rolled: the old key's tokens are still valid", old)
	c.accepted(t, "rolled: the new key's tokens", fresh)
	if kid, mode := keyFile(t, statedir.SignerKeyPath(state)); kid != newKID || mode != 0o600 {
		t.Errorf("the state dir's signer key is %s (mode %o), want the new one", kid, mode)
	}
	tlsKey, _ := os.ReadFile(filepath.Join(c.dir, "tls", "bound-service-account-signing-key.key"))
	archived := filepath.Join(state, rotation.RetiredDir, oldKID+".key")
	if b, _ := os.ReadFile(archived); string(b) != string(tlsKey) {
		t.Error("the old key is not archived as it was")
	}
	if _, mode := keyFile(t, archived); mode != 0o600 {
		t.Errorf("the archived old key has mode %o", mode)
	}
	c.verifySays(t, "rolled", clustercheck.Warn, "a key rotation is under way: the cluster signs with "+newKID)
	c.w.gate.ResetLog()
	if res := c.w.prepare(t, c.dir, testdata("credentialsrequests", "4.16"), c.prepareArgs...); res.code != 0 || len(c.w.mutating()) != 0 || !slices.Equal(c.storedKIDs(t), both) {
		t.Fatalf("prepare after the roll must keep both keys: exit %d, mutating %v\n%s", res.code, c.w.mutating(), res.stderr)
	}
	if kid, _ := keyFile(t, filepath.Join(c.dir, "tls", "bound-service-account-signing-key.key")); kid != newKID {
		t.Errorf("prepare left the replaced key %s in the install dir", kid)
	}
	// prepare --check takes the rotation's key set for the plan's (this dir
	// was prepared --no-installer: the check then stops at manifests/).
	if check := c.w.ocSTS(t, "prepare", "--check", "--dir", c.dir); strings.Contains(check.stderr, "is not the key whose JWKS") || !strings.Contains(check.stderr, "ignores manifests/ until") {
		t.Errorf("prepare --check during the rotation: exit %d\n%s", check.code, check.stderr)
	}

	// retire: refused while old-key tokens may be valid.
	if res := c.rotateKey(t, "retire"); res.code != 1 || !strings.Contains(res.stderr, "not yet") || !slices.Equal(c.storedKIDs(t), both) {
		t.Errorf("retire right after the roll: exit %d, keys %v\n%s", res.code, c.storedKIDs(t), res.stderr)
	}
	status := c.rotateKey(t, "--status", "-o", "json")
	var report rotation.Report
	if err := json.Unmarshal([]byte(status.stdout), &report); err != nil || report.Rotation.Phase != rotation.Rolled || report.Observed.SigningKID != newKID ||
		!strings.Contains(report.Next, "oc sts rotate-key retire, after") {
		t.Errorf("--status -o json: %v\n%s", err, status.stdout)
	}
	waitedFor(t, c.dir, maxTokenExpiration+rotation.ClockSkew+time.Minute)
	res = c.rotateKey(t, "retire")
	if res.code != 0 {
		t.Fatalf("retire: exit %d\n%s", res.code, res.stderr)
	}
	if got, served := c.storedKIDs(t), c.servedKIDs(t); !slices.Equal(got, []string{newKID}) || !slices.Equal(served, []string{newKID}) {
		t.Errorf("retired: keys.json holds %v and the issuer serves %v, want the new key only", got, served)
	}
	for role, tok := range old {
		if err := c.w.exchange(role, tok); err == nil || !strings.Contains(err.Error(), "InvalidIdentityToken") {
			t.Errorf("retired: a token of the old key for %s: %v, want it rejected", role, err)
		}
	}
	c.accepted(t, "retired: the new key's tokens", fresh)
	c.verifySays(t, "retired", clustercheck.Pass, "the cluster signs with "+newKID+", which is published")
	if _, mode := keyFile(t, archived); mode != 0o600 {
		t.Error("the archived old key must stay until the user removes it")
	}
	if res := c.rotateKey(t, "--status"); !strings.Contains(res.stdout, "Rotation: retired") || !strings.Contains(res.stdout, "the rotation is done") {
		t.Errorf("--status after the rotation:\n%s", res.stdout)
	}
}
