package rotation

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
	"github.com/oc-sts/oc-sts/pkg/statedir"
)

// The fakes stand for a cluster with a kube-apiserver operator and an S3
// issuer; the end-to-end tests run the real ones.

// calls counts every call to the fakes; stopAt stops the run at the k-th
// (its context is cancelled, as Ctrl-C does; the call does not happen).
type calls struct {
	mu     sync.Mutex
	n      int
	stopAt int
	stop   context.CancelFunc
}

func (c *calls) call() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if c.n == c.stopAt {
		c.stop()
		return context.Canceled
	}
	return nil
}

// fakeCluster signs with one key; a key handed over is rolled out after
// rollPolls more looks (the operator at work).
type fakeCluster struct {
	*calls
	issuer    string
	signing   string
	accepted  []string
	handed    *oidckeys.Signer
	handedKID string
	rollPolls int
	settings  TokenSettings
	writes    int
}

func (f *fakeCluster) Issuer(context.Context) (string, error) { return f.issuer, f.call() }

func (f *fakeCluster) SigningKIDs(_ context.Context, n int) ([]string, error) {
	if err := f.call(); err != nil {
		return nil, err
	}
	f.progress()
	return slices.Repeat([]string{f.signing}, n), nil
}

func (f *fakeCluster) AcceptedKIDs(context.Context) ([]string, error) {
	return slices.Clone(f.accepted), f.call()
}

func (f *fakeCluster) HandedKID(context.Context) (string, error) { return f.handedKID, f.call() }

func (f *fakeCluster) HandOver(_ context.Context, key *oidckeys.Signer) (bool, error) {
	if err := f.call(); err != nil {
		return false, err
	}
	kid, _ := oidckeys.KeyID(&key.Key.PublicKey)
	if kid == f.handedKID {
		return false, nil
	}
	f.handed, f.handedKID = key, kid
	f.writes++
	return true, nil
}

func (f *fakeCluster) Rollout(context.Context) (Rollout, error) {
	r := Rollout{Known: true, LatestRevision: 3, Nodes: 3, NodesAtLatest: 3}
	if f.handedKID != f.signing {
		r.NodesAtLatest, r.Progressing = 1, true
	}
	return r, f.call()
}

func (f *fakeCluster) TokenSettings(context.Context) TokenSettings { return f.settings }

// progress: the operator accepts the handed key, then signs with it.
func (f *fakeCluster) progress() {
	if f.handedKID == "" || f.handedKID == f.signing {
		return
	}
	if f.rollPolls--; f.rollPolls > 0 {
		return
	}
	if !slices.Contains(f.accepted, f.handedKID) {
		f.accepted = append(f.accepted, f.handedKID)
	}
	f.signing = f.handedKID
}

// fakeIssuer stores a key set; what it serves lags one look behind a
// change until refreshed when stale is set (a CloudFront cache).
type fakeIssuer struct {
	*calls
	url       string
	stored    []byte
	served    []byte
	stale     bool
	publishes int
	refreshes int
}

func (f *fakeIssuer) URL() string { return f.url }

func (f *fakeIssuer) Observe(_ context.Context, jwks []byte) ([]byte, []provision.Change, error) {
	if err := f.call(); err != nil {
		return nil, nil, err
	}
	var changes []provision.Change
	if jwks != nil && string(jwks) != string(f.stored) {
		changes = append(changes, provision.Change{Resource: provision.ObjectResource, Name: oidckeys.JWKSPath, Action: provision.Update, Fields: []string{provision.FieldContent}})
	}
	return f.stored, changes, nil
}

func (f *fakeIssuer) Publish(_ context.Context, jwks []byte) error {
	if err := f.call(); err != nil {
		return err
	}
	f.stored = jwks
	f.publishes++
	if !f.stale {
		f.served = jwks
	}
	return nil
}

func (f *fakeIssuer) Refresh(context.Context, []byte) error {
	if err := f.call(); err != nil {
		return err
	}
	f.refreshes++
	f.served = f.stored
	return nil
}

func (f *fakeIssuer) Served(context.Context) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := f.call(); err != nil {
		return set, err
	}
	return set, json.Unmarshal(f.served, &set)
}

type quietUI struct{ confirmed int }

func (*quietUI) Progress(string, ...any) {}
func (u *quietUI) Confirm(context.Context, []Intent) error {
	u.confirmed++
	return nil
}

// The keys of every test world (RSA 4096 takes seconds to make): the
// worlds are independent, so they may share them.
var (
	keysOnce        sync.Once
	oldKey, nextKey *oidckeys.Signer
)

func signerOf(k *rsa.PrivateKey) *oidckeys.Signer {
	return &oidckeys.Signer{Key: k, PrivatePEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})}
}

// testWorld is a state dir as prepare leaves it, and the fakes.
type testWorld struct {
	newKey func() (*oidckeys.Signer, error) // nil: the real RSA 4096

	dir     string
	plan    *plan.Plan
	cluster *fakeCluster
	issuer  *fakeIssuer
	ui      *quietUI
	now     time.Time
	oldKID  string
}

func newTestWorld(t *testing.T) *testWorld {
	t.Helper()
	dir := t.TempDir()
	keysOnce.Do(func() {
		old, _ := rsa.GenerateKey(rand.Reader, 2048) // an installer-made key may be smaller than the 4096 of a new one
		next, _ := rsa.GenerateKey(rand.Reader, oidckeys.KeyBits)
		oldKey, nextKey = signerOf(old), signerOf(next)
	})
	key, signer := oldKey.Key, oldKey
	jwks, _ := oidckeys.JWKS(&key.PublicKey)
	req := credreq.Request{File: "cr.yaml", CR: &ccov1.CredentialsRequest{ObjectMeta: metav1.ObjectMeta{Name: "cr"},
		Spec: ccov1.CredentialsRequestSpec{SecretRef: corev1.ObjectReference{Namespace: "ns", Name: "creds"}, ServiceAccountNames: []string{"sa"}}},
		AWS: &ccov1.AWSProviderSpec{StatementEntries: []ccov1.StatementEntry{{Effect: "Allow", Action: []string{"ec2:DescribeInstances"}, Resource: "*"}}}}
	p, err := plan.Build(plan.Input{Name: "c", AccountID: "123456789012", Region: "us-east-2", JWKS: jwks, Requests: []credreq.Request{req}, BucketHost: "c-oidc.s3.us-east-2.amazonaws.com"})
	if err != nil {
		t.Fatal(err)
	}
	files, err := statedir.Files(dir, p, signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := atomicfs.Write(context.Background(), dir, files); err != nil {
		t.Fatal(err)
	}
	kid, _ := oidckeys.KeyID(&key.PublicKey)
	c := &calls{}
	return &testWorld{newKey: func() (*oidckeys.Signer, error) { return signerOf(nextKey.Key), nil }, dir: dir, plan: p, ui: &quietUI{}, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), oldKID: kid,
		cluster: &fakeCluster{calls: c, issuer: p.Issuer.URL, signing: kid, accepted: []string{kid}, handedKID: kid, rollPolls: 2,
			settings: TokenSettings{Found: true, Source: "test", ExtendExpiration: true}},
		issuer: &fakeIssuer{calls: c, url: p.Issuer.URL, stored: jwks, served: jwks}}
}

// rotator is a run of the command: it reads the state dir's signer key afresh.
func (w *testWorld) rotator(t *testing.T) *Rotator {
	t.Helper()
	signer, err := oidckeys.LoadOrGenerate(statedir.SignerKeyPath(w.dir))
	if err != nil {
		t.Fatal(err)
	}
	p, err := statedir.ReadPlan(w.dir)
	if err != nil {
		t.Fatal(err)
	}
	return &Rotator{StateDir: w.dir, Plan: p, Signer: signer, Cluster: w.cluster, Issuer: w.issuer, UI: w.ui, MaxPoll: time.Millisecond,
		Now: func() time.Time { return w.now }, NewKey: w.newKey}
}

func (w *testWorld) run(t *testing.T, o Options) (*State, error) {
	t.Helper()
	if o.WaitTimeout == 0 {
		o.WaitTimeout = time.Minute
	}
	o.Begin = o.Until != Retire
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.cluster.calls.stop = cancel
	st, _, err := w.rotator(t).Run(ctx, o)
	return st, err
}

// kidsServed are the kids the fake issuer serves.
func (w *testWorld) kidsServed(t *testing.T) []string {
	kids, err := kidsOf(w.issuer.served)
	if err != nil {
		t.Fatal(err)
	}
	return kids
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (w *testWorld) path(rel string) string { return filepath.Join(w.dir, rel) }

func (w *testWorld) String() string { return fmt.Sprintf("state dir %s", w.dir) }
