package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// recordUI is a UI that confirms and keeps what it was shown.
type recordUI struct {
	mu       sync.Mutex
	lines    []string
	previews []Preview
	refuse   error
}

func (u *recordUI) Progress(format string, args ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.lines = append(u.lines, fmt.Sprintf(format, args...))
}
func (u *recordUI) Changes(p Preview)             { u.previews = append(u.previews, p) }
func (u *recordUI) Confirm(question string) error { u.Progress("? %s", question); return u.refuse }
func (u *recordUI) text() string                  { return strings.Join(u.lines, "\n") }

func requests(secrets ...string) []credreq.Request {
	var reqs []credreq.Request
	for _, s := range secrets {
		reqs = append(reqs, credreq.Request{File: s + ".yaml",
			CR: &ccov1.CredentialsRequest{ObjectMeta: metav1.ObjectMeta{Name: s},
				Spec: ccov1.CredentialsRequestSpec{SecretRef: corev1.ObjectReference{Namespace: "ns", Name: s}, ServiceAccountNames: []string{"sa-" + s}}},
			AWS: &ccov1.AWSProviderSpec{StatementEntries: []ccov1.StatementEntry{{Effect: "Allow", Action: []string{"ec2:DescribeInstances"}, Resource: "*"}}}})
	}
	return reqs
}

const jwksA = `{"keys":[{"kid":"A","kty":"RSA","n":"x","e":"AQAB"}]}`

func prepareInput(secrets ...string) Input {
	return Input{Plan: plan.Input{Name: "c", Region: "us-east-2", Requests: requests(secrets...), JWKS: []byte(jwksA)}}
}

func converge(t *testing.T, f *fakeAWS, in Input, opts Options) (*Result, *recordUI, error) {
	t.Helper()
	ui := &recordUI{}
	res, err := Converge(context.Background(), f.clients(), in, opts, ui)
	return res, ui, err
}

func TestConvergeMakesThePlanThenChangesNothing(t *testing.T) {
	f := newFakeAWS()
	res, ui, err := converge(t, f, prepareInput("a", "b", "c"), Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, ui.text())
	}
	p := res.Plan
	if len(res.Made) != 7 || len(res.Changes) != 7 {
		t.Errorf("made %d of %d changes, want 7 (bucket, 2 objects, provider, 3 roles)", len(res.Made), len(res.Changes))
	}
	created := len(f.mutating()) // bucket: 4 calls, 2 objects, provider, roles: 2 calls each
	b := f.buckets["c-oidc"]
	if b == nil || b.block != [4]bool{true, true, false, false} || !SamePolicy(b.policy, string(p.Bucket.Policy)) || string(b.objects["keys.json"]) != `{"keys":[{"kid":"A","kty":"RSA","n":"x","e":"AQAB"}]}` {
		t.Fatalf("bucket %+v", b)
	}
	if !strings.Contains(string(b.objects[".well-known/openid-configuration"]), `"issuer":"https://c-oidc.s3.us-east-2.amazonaws.com"`) {
		t.Errorf("discovery document %s", b.objects[".well-known/openid-configuration"])
	}
	provider := "arn:aws:iam::123456789012:oidc-provider/c-oidc.s3.us-east-2.amazonaws.com"
	if pr := f.providers[provider]; pr == nil || !slices.Equal(pr.clientIDs, []string{"openshift", "sts.amazonaws.com"}) {
		t.Fatalf("provider %+v", f.providers)
	}
	r := f.roles["c-ns-a"]
	if r == nil || !strings.Contains(r.trust, provider) || !strings.Contains(r.trust, `"system:serviceaccount:ns:sa-a"`) || r.inline["c-ns-a"] == "" || r.tags["openshift.io/cloud-credential-operator/c"] != "owned" {
		t.Fatalf("role %+v", r)
	}

	reads := len(f.calls)
	res, ui, err = converge(t, f, Input{Plan: prepareInput("a", "b", "c").Plan, Previous: p}, Options{})
	if err != nil || len(res.Changes) != 0 || len(f.mutating()) != created || created != 13 {
		t.Errorf("converged re-run: %v, changes %v, mutating %v\n%s", err, res.Changes, f.mutating(), ui.text())
	}
	if again := f.calls[reads:]; len(again) > 8 {
		t.Errorf("converged re-run made %d reads, want at most 8: %v", len(again), again)
	}
}

// Every call waits for what it needs and nothing else: the permission
// check before the first write, the bucket policy after the access block,
// the roles after the provider, the policies after the roles.
func TestConvergeCallsInDependencyOrder(t *testing.T) {
	f := newFakeAWS()
	if _, ui, err := converge(t, f, prepareInput("a", "b"), Options{}); err != nil {
		t.Fatalf("%v\n%s", err, ui.text())
	}
	first := func(op string) int { return slices.Index(f.calls, op) }
	last := func(op string) int {
		for i := len(f.calls) - 1; i >= 0; i-- {
			if f.calls[i] == op {
				return i
			}
		}
		return -1
	}
	for _, before := range [][2]string{
		{"GetCallerIdentity", "GetAccountAuthorizationDetails"},
		{"SimulatePrincipalPolicy", "CreateBucket"},
		{"SimulatePrincipalPolicy", "CreateOpenIDConnectProvider"},
		{"CreateBucket", "PutPublicAccessBlock"},
		{"PutPublicAccessBlock", "PutBucketPolicy"},
		{"CreateBucket", "PutObject"},
		{"CreateOpenIDConnectProvider", "CreateRole"},
	} {
		if i, j := last(before[0]), first(before[1]); i < 0 || j < 0 || i > j {
			t.Errorf("%s must come before %s: %v", before[0], before[1], f.calls)
		}
	}
	// Each role's policy follows its creation.
	if c, p := first("CreateRole"), first("PutRolePolicy"); p < c {
		t.Errorf("PutRolePolicy before CreateRole: %v", f.calls)
	}
}

// The signer key is awaited by the plan only: AWS is read while it is made.
func TestConvergeReadsWhileTheKeyIsMade(t *testing.T) {
	f := newFakeAWS()
	in := prepareInput("a")
	in.Plan.JWKS = nil
	in.Keys = func(ctx context.Context) ([]byte, error) {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			f.mu.Lock()
			read := slices.Contains(f.calls, "GetAccountAuthorizationDetails") && slices.Contains(f.calls, "ListObjectsV2") && slices.Contains(f.calls, "SimulatePrincipalPolicy")
			f.mu.Unlock()
			if read {
				return []byte(jwksA), nil
			}
		}
		return nil, errors.New("AWS was not read while the key was made")
	}
	if _, ui, err := converge(t, f, in, Options{}); err != nil {
		t.Fatalf("%v\n%s", err, ui.text())
	}
}

// A run cut off after any call converges, run again, to what an
// uninterrupted run makes.
func TestConvergeCutAfterEveryCall(t *testing.T) {
	ref := newFakeAWS()
	if _, ui, err := converge(t, ref, prepareInput("a", "b"), Options{}); err != nil {
		t.Fatalf("%v\n%s", err, ui.text())
	}
	want := ref.state()
	for k := 1; k < len(ref.calls); k++ {
		f := newFakeAWS()
		f.cutAfter = k
		if _, _, err := converge(t, f, prepareInput("a", "b"), Options{}); err == nil {
			t.Fatalf("k=%d: not cut", k)
		}
		f.cutAfter = 0
		if _, ui, err := converge(t, f, prepareInput("a", "b"), Options{}); err != nil {
			t.Fatalf("k=%d: re-run: %v\n%s", k, err, ui.text())
		}
		if got := f.state(); got != want {
			t.Fatalf("k=%d: end state\n%s\nwant\n%s", k, got, want)
		}
	}
}

func TestConvergeStopsBeforeAnyWrite(t *testing.T) {
	for name, tc := range map[string]struct {
		setup func(f *fakeAWS, ui *recordUI, o *Options)
		want  string
	}{
		"a permission the simulator denies": {func(f *fakeAWS, _ *recordUI, _ *Options) {
			f.simDenied["iam:CreateRole"], f.simDenied["s3:PutBucketPolicy"] = true, true
		},
			"user/test lacks permissions these changes need: iam:CreateRole, s3:PutBucketPolicy (nothing was changed)"},
		"not confirmed": {func(_ *fakeAWS, ui *recordUI, _ *Options) { ui.refuse = errors.New("cancelled") }, "cancelled"},
		"a local check": {func(_ *fakeAWS, _ *recordUI, o *Options) {
			o.Check = func(*plan.Plan) error { return errors.New("manifests is a file") }
		}, "manifests is a file"},
		"a role of our name that is not ours": {func(f *fakeAWS, _ *recordUI, _ *Options) {
			f.roles["c-ns-a"] = &fakeRole{path: "/", inline: map[string]string{}, tags: map[string]string{}}
		}, "the IAM role c-ns-a exists without the tag openshift.io/cloud-credential-operator/c=owned"},
		"a dry run": {func(_ *fakeAWS, _ *recordUI, o *Options) { o.DryRun = true }, ""},
	} {
		t.Run(name, func(t *testing.T) {
			f, ui, opts := newFakeAWS(), &recordUI{}, Options{}
			tc.setup(f, ui, &opts)
			res, err := Converge(context.Background(), f.clients(), prepareInput("a"), opts, ui)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
			if m := f.mutating(); len(m) != 0 || len(res.Made) != 0 {
				t.Errorf("made %v", m)
			}
		})
	}
}

// upgrade-check and operator roles: roles only, against the issuer and
// provider a running cluster has.
func TestConvergeRolesOfARunningCluster(t *testing.T) {
	f := newFakeAWS()
	res, _, err := converge(t, f, prepareInput("a"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	issuer := res.Plan.Issuer.URL
	before := len(f.mutating())
	in := prepareInput("a", "new")
	in.Issuer, in.Only = issuer, []Resource{RoleResource}
	res, ui, err := converge(t, f, in, Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, ui.text())
	}
	if got := f.mutating()[before:]; !slices.Equal(got, []string{"CreateRole", "PutRolePolicy"}) {
		t.Errorf("calls %v, want the new role only", got)
	}
	if r := f.roles["c-ns-new"]; r == nil || !strings.Contains(r.trust, res.Plan.OIDCProvider.ARN) {
		t.Errorf("new role %+v", r)
	}

	in.Issuer = "https://oidc.example.com"
	if _, _, err := converge(t, f, in, Options{}); err == nil || !strings.Contains(err.Error(), "the cluster's issuer https://oidc.example.com is not the one oc sts prepare --name c makes") {
		t.Errorf("another issuer: %v", err)
	}
	in.Issuer = issuer
	delete(f.providers, res.Plan.OIDCProvider.ARN)
	if _, _, err := converge(t, f, in, Options{}); err == nil || !strings.Contains(err.Error(), "does not exist: oc sts prepare makes it") {
		t.Errorf("no provider: %v", err)
	}
}

// rotate-key: a key set with both keys is published, and the caller checks
// it is served once it is; dropping a published key needs asking.
func TestConvergePublishesAKeySet(t *testing.T) {
	f := newFakeAWS()
	if _, _, err := converge(t, f, prepareInput("a"), Options{}); err != nil {
		t.Fatal(err)
	}
	const both = `{"keys":[{"kid":"A","kty":"RSA","n":"x","e":"AQAB"},{"kid":"B","kty":"RSA","n":"y","e":"AQAB"}]}`
	in := prepareInput("a")
	in.Plan.JWKS, in.Only = []byte(both), []Resource{ObjectResource}
	var served string
	opts := Options{Verify: func(_ context.Context, p *plan.Plan) error {
		served = string(f.buckets[p.Bucket.Name].objects["keys.json"])
		return nil
	}}
	res, ui, err := converge(t, f, in, opts)
	if err != nil || len(res.Made) != 1 || served != both {
		t.Fatalf("%v: made %v, served %s\n%s", err, res.Made, served, ui.text())
	}
	in.Plan.JWKS = []byte(`{"keys":[{"kid":"B","kty":"RSA","n":"y","e":"AQAB"}]}`)
	if _, _, err := converge(t, f, in, Options{}); err == nil || !strings.Contains(err.Error(), "publishes signer keys (kid A) that this run's key is not") {
		t.Errorf("dropping A unasked: %v", err)
	}
	if _, _, err := converge(t, f, in, Options{ReplacePublishedKeys: true}); err != nil {
		t.Errorf("retiring A: %v", err)
	}
}

// destroy: the delete plan removes what carries the ownership tag; a denied
// deletion says what is left.
func TestConvergeDeletesWhatIsOwned(t *testing.T) {
	f := newFakeAWS()
	if _, _, err := converge(t, f, prepareInput("a", "b"), Options{}); err != nil {
		t.Fatal(err)
	}
	f.roles["other"] = &fakeRole{path: "/", inline: map[string]string{}, tags: map[string]string{}}
	del := Input{Plan: plan.Input{Name: "c", Region: "us-east-2"}, Delete: true}
	f.denied["DeleteOpenIDConnectProvider"] = true
	res, _, err := converge(t, f, del, Options{})
	var ae *ApplyError
	if !errors.As(err, &ae) || len(res.Left) != 1 || res.Left[0].Resource != ProviderResource {
		t.Fatalf("denied deletion: %v, left %v", err, res.Left)
	}
	delete(f.denied, "DeleteOpenIDConnectProvider")
	if _, ui, err := converge(t, f, del, Options{}); err != nil {
		t.Fatalf("%v\n%s", err, ui.text())
	}
	if got := f.state(); got != "role /other trust= inline=map[] attached=[] boundary= tags=map[]" {
		t.Errorf("left:\n%s", got)
	}
}

// A new private issuer's domain is known after apply: the distribution is
// the first link, and everything that names the issuer follows it.
func TestConvergePrivateIssuerKnownAfterApply(t *testing.T) {
	f := newFakeAWS()
	in := prepareInput("a")
	in.Plan.IssuerKind = plan.PrivateCloudFront
	res, ui, err := converge(t, f, in, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	pending := ui.previews[0]
	if !pending.Plan.Issuer.KnownAfterApply || pending.Changes[0].Resource != DistributionResource || pending.Changes[4].Name != "(issuer known after apply)" {
		t.Fatalf("dry run: %+v %v", pending.Plan.Issuer, describe(pending.Changes))
	}
	res, ui, err = converge(t, f, in, Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, ui.text())
	}
	p := res.Plan
	d := f.dists["E001"]
	if d == nil || p.Issuer.URL != "https://"+d.domain || p.Issuer.KnownAfterApply {
		t.Fatalf("issuer %+v, distribution %+v", p.Issuer, d)
	}
	b := f.buckets["c-oidc"]
	if b.block != [4]bool{true, true, true, true} || !strings.Contains(b.policy, d.arn) || !strings.Contains(string(b.objects[".well-known/openid-configuration"]), p.Issuer.URL) {
		t.Errorf("bucket %+v", b)
	}
	if r := f.roles["c-ns-a"]; r == nil || !strings.Contains(r.trust, "oidc-provider/"+d.domain) {
		t.Errorf("role %+v", r)
	}
	if f.oacs[d.oac] != "c-oidc-oac" {
		t.Errorf("origin access control %v", f.oacs)
	}
	before := len(f.mutating())
	in.Previous = p
	if res, _, err := converge(t, f, in, Options{}); err != nil || len(res.Changes) != 0 || len(f.mutating()) != before {
		t.Errorf("re-run: %v %v", err, f.mutating()[before:])
	}
	var raw map[string]any
	b2, _ := json.Marshal(p)
	json.Unmarshal(b2, &raw)
	if raw["distribution"].(map[string]any)["domain"] != d.domain {
		t.Errorf("the plan's distribution %v", raw["distribution"])
	}
}
