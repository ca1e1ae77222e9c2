package rotation

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/statedir"
)

// stage → roll → retire, each proven before the next: what is published,
// what the cluster signs with and what the state dir holds at each step.
func TestRotateThroughEveryStep(t *testing.T) {
	w := newTestWorld(t)
	w.newKey = nil // a real new key
	st, err := w.run(t, Options{Until: Stage})
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != Staged || st.Previous.KID != w.oldKID || st.Next.KID == w.oldKID {
		t.Fatalf("after stage: %+v", st)
	}
	if got := w.kidsServed(t); !slices.Equal(got, []string{w.oldKID, st.Next.KID}) {
		t.Errorf("staged: the issuer serves %v, want the old and the new key", got)
	}
	if w.cluster.writes != 0 || w.cluster.signing != w.oldKID {
		t.Errorf("stage must not touch the cluster: %d writes", w.cluster.writes)
	}
	if m := mode(t, w.path(NextKey)); m != 0o600 {
		t.Errorf("the new key has mode %o", m)
	}
	next, err := oidckeys.LoadOrGenerate(w.path(NextKey))
	if err != nil || next.Key.N.BitLen() != 4096 {
		t.Fatalf("the new key: %v", err)
	}

	st, err = w.run(t, Options{Until: Roll})
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != Rolled || w.cluster.signing != st.Next.KID || st.RolledAt == nil {
		t.Fatalf("after roll: phase %s, cluster signs with %s", st.Phase, w.cluster.signing)
	}
	if want := st.RolledAt.Add(time.Hour + ClockSkew); !st.RetireAfter.Equal(want) {
		t.Errorf("retire after %s, want the roll plus an hour plus the skew %s", st.RetireAfter, want)
	}
	signer, _ := oidckeys.LoadOrGenerate(statedir.SignerKeyPath(w.dir))
	if kid, _ := oidckeys.KeyID(&signer.Key.PublicKey); kid != st.Next.KID {
		t.Errorf("the state dir's signer key is %s, want the new one", kid)
	}
	archived, err := oidckeys.LoadOrGenerate(w.path(retiredFile(w.oldKID)))
	if kid, _ := oidckeys.KeyID(&archived.Key.PublicKey); err != nil || kid != w.oldKID || mode(t, w.path(retiredFile(w.oldKID))) != 0o600 {
		t.Errorf("the old key is not archived 0600: %v", err)
	}
	if exists(w.path(NextKey)) {
		t.Error("rotation/next.key is left after the swap")
	}
	if got := w.kidsServed(t); len(got) != 2 {
		t.Errorf("rolled: both keys stay published, got %v", got)
	}

	_, err = w.run(t, Options{Until: Retire})
	var notYet *NotYetError
	if !errors.As(err, &notYet) || !strings.Contains(err.Error(), "not yet") || !notYet.At.Equal(*st.RetireAfter) {
		t.Fatalf("retire right after the roll: %v", err)
	}
	if got := w.kidsServed(t); len(got) != 2 {
		t.Errorf("a refused retire changed what is published: %v", got)
	}
	w.now = st.RetireAfter.Add(time.Second)
	st, err = w.run(t, Options{Until: Retire})
	if err != nil || st.Phase != Retired {
		t.Fatalf("retire once safe: %v", err)
	}
	if got := w.kidsServed(t); !slices.Equal(got, []string{st.Next.KID}) {
		t.Errorf("retired: the issuer serves %v, want the new key only", got)
	}
	if !exists(w.path(retiredFile(w.oldKID))) {
		t.Error("the archived old key must stay until the user removes it")
	}
	if again, err := w.run(t, Options{Until: Retire}); err != nil || again.Next.KID != st.Next.KID || w.issuer.publishes != 2 {
		t.Errorf("retire again must not begin another rotation: %v, %d publishes", err, w.issuer.publishes)
	}
	// prepare, after all of it, publishes what the rotation left.
	jwks, err := PublishedJWKS(w.dir, signer)
	if err != nil || string(jwks) != string(w.issuer.stored) {
		t.Errorf("prepare would publish %s, the issuer holds %s (%v)", jwks, w.issuer.stored, err)
	}
}

// --retire-after waits for the later of the safe time and the roll plus
// the duration, in the same run.
func TestRetireAfterWaits(t *testing.T) {
	w := newTestWorld(t)
	var slept time.Duration
	r := w.rotator(t)
	r.Sleep = func(_ context.Context, d time.Duration) error {
		slept += d
		w.now = w.now.Add(d)
		return nil
	}
	d := 3 * time.Hour
	st, _, err := r.Run(context.Background(), Options{Until: Retire, RetireAfter: &d, WaitTimeout: time.Minute, Begin: true})
	if err != nil || st.Phase != Retired {
		t.Fatalf("%v", err)
	}
	if got := st.RetiredAt.Sub(*st.RolledAt); got < d {
		t.Errorf("retired %s after the roll, want at least %s", got, d)
	}
	if w.ui.confirmed != 1 {
		t.Errorf("asked %d times, want once before the first change", w.ui.confirmed)
	}
}

// A run stopped at any call (a crash, Ctrl-C, a failed call) is continued
// by the next run to the same end, and the issuer never stops serving the
// key the cluster signs with.
func TestResumeAfterAStopAtEveryCall(t *testing.T) {
	ref := newTestWorld(t)
	ref.cluster.settings.MaxExpiration = 2 * time.Hour
	if _, err := ref.run(t, Options{Until: Roll}); err != nil {
		t.Fatal(err)
	}
	total := ref.cluster.calls.n
	step := 1
	if testing.Short() {
		step = 4 // a sample in the fast tier
	}
	for k := 1; k <= total; k += step {
		w := newTestWorld(t)
		w.cluster.settings.MaxExpiration = 2 * time.Hour
		w.cluster.stopAt = k
		if _, err := w.run(t, Options{Until: Roll}); !errors.Is(err, context.Canceled) && !errors.Is(err, atomicfs.ErrInterrupted) {
			t.Fatalf("k=%d: the run did not stop: %v", k, err)
		}
		if served := w.kidsServed(t); !slices.Contains(served, w.cluster.signing) {
			t.Fatalf("k=%d: the issuer stopped serving the key the cluster signs with (%v, signing %s)", k, served, w.cluster.signing)
		}
		st, err := w.run(t, Options{Until: Roll})
		if err != nil {
			t.Fatalf("k=%d: the re-run: %v", k, err)
		}
		if st.Phase != Rolled || w.cluster.signing != st.Next.KID || st.TokenLifetime.Max.Duration != 2*time.Hour || w.cluster.writes != 1 {
			t.Fatalf("k=%d: end state: phase %s, signing %s, lifetime %v, %d cluster writes", k, st.Phase, w.cluster.signing, st.TokenLifetime, w.cluster.writes)
		}
		if exists(w.path(NextKey)) || !exists(w.path(retiredFile(w.oldKID))) {
			t.Fatalf("k=%d: the state dir after the swap is not whole", k)
		}
	}
	t.Logf("stopped and resumed at each of %d calls", total)
}

// A cached copy (CloudFront) is refreshed, and the step waits until
// anyone gets the new key set.
func TestStageRefreshesAStaleIssuer(t *testing.T) {
	w := newTestWorld(t)
	w.issuer.stale = true
	st, err := w.run(t, Options{Until: Stage})
	if err != nil || st.Phase != Staged {
		t.Fatal(err)
	}
	if w.issuer.refreshes != 1 || len(w.kidsServed(t)) != 2 {
		t.Errorf("%d refreshes, serves %v", w.issuer.refreshes, w.kidsServed(t))
	}
}

// Before anything changes: the state dir must be the cluster's, the issuer
// must publish its key and no other.
func TestPreflightRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		breakIt func(w *testWorld)
		want    string
	}{
		"another cluster": {func(w *testWorld) { w.cluster.issuer = "https://other" }, "this kubeconfig (--kubeconfig, --context) is not that cluster's"},
		"the cluster signs with another key": {func(w *testWorld) { w.cluster.signing = "someone-elses" },
			"the cluster signs tokens with key someone-elses, not with"},
		"the issuer lacks the cluster's key": {func(w *testWorld) { w.issuer.stored = []byte(`{"keys":[]}`) }, "does not publish the cluster's signer key"},
		"the issuer has a foreign key": {func(w *testWorld) {
			w.issuer.stored = []byte(strings.Replace(string(w.issuer.stored), `"keys": [`, `"keys": [{"kty":"RSA","kid":"foreign","n":"AQAB","e":"AQAB"},`, 1))
		}, "also publishes keys that are not the cluster's (foreign)"},
	} {
		t.Run(name, func(t *testing.T) {
			w := newTestWorld(t)
			tc.breakIt(w)
			if _, err := w.run(t, Options{Until: Roll}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if w.ui.confirmed != 0 || w.issuer.publishes != 0 || w.cluster.writes != 0 || exists(w.path(StateFile)) {
				t.Error("a refused rotation changed something")
			}
		})
	}
}

// The cluster is proven to sign with the new key before anything relies
// on it: a rollout that never ends times out, resumable.
func TestRollWaitsForTheCluster(t *testing.T) {
	w := newTestWorld(t)
	w.cluster.rollPolls = 1 << 30 // the operator never gets there
	r := w.rotator(t)
	r.Sleep = func(_ context.Context, d time.Duration) error { w.now = w.now.Add(d); return nil }
	_, _, err := r.Run(context.Background(), Options{Until: Roll, WaitTimeout: 2 * time.Minute, Begin: true})
	if err == nil || !strings.Contains(err.Error(), "waited 2m0s for the cluster to sign with the new key") || !strings.Contains(err.Error(), "run the same command again") {
		t.Fatalf("got %v", err)
	}
	st, _ := Load(w.dir)
	if st.Phase != Rolling {
		t.Errorf("phase %s, want rolling (resumable)", st.Phase)
	}
	signer, _ := oidckeys.LoadOrGenerate(statedir.SignerKeyPath(w.dir))
	if kid, _ := oidckeys.KeyID(&signer.Key.PublicKey); kid != w.oldKID {
		t.Error("the signer key was swapped before the cluster signed with the new one")
	}
	w.cluster.rollPolls = 0
	if st, err := w.run(t, Options{Until: Roll}); err != nil || st.Phase != Rolled {
		t.Fatalf("resumed: %v", err)
	}
}

// prepare keeps the rotation's key set and finds the signer key where the
// rotation left it.
func TestPrepareDuringARotation(t *testing.T) {
	w := newTestWorld(t)
	tlsKey := w.path("tls.key")
	old, _ := os.ReadFile(statedir.SignerKeyPath(w.dir))
	os.WriteFile(tlsKey, old, 0o600)
	if paths, _ := SignerKeyPaths(w.dir, tlsKey); len(paths) != 2 {
		t.Errorf("no rotation: both key paths count, got %v", paths)
	}
	if _, err := w.run(t, Options{Until: Stage}); err != nil {
		t.Fatal(err)
	}
	signer, _ := oidckeys.LoadOrGenerate(statedir.SignerKeyPath(w.dir))
	jwks, err := PublishedJWKS(w.dir, signer)
	if err != nil || string(jwks) != string(w.issuer.stored) {
		t.Fatalf("staged: prepare publishes %s, want the rotation's %s (%v)", jwks, w.issuer.stored, err)
	}
	if _, err := w.run(t, Options{Until: Roll}); err != nil {
		t.Fatal(err)
	}
	paths, _ := SignerKeyPaths(w.dir, tlsKey)
	if len(paths) != 1 || paths[0] != statedir.SignerKeyPath(w.dir) {
		t.Errorf("rolled: the install dir's key is the old one and must not count, got %v", paths)
	}
	signer, _ = oidckeys.LoadOrGenerate(paths...)
	if jwks, err = PublishedJWKS(w.dir, signer); err != nil || string(jwks) != string(w.issuer.stored) {
		t.Errorf("rolled: prepare publishes %s, want both keys (%v)", jwks, err)
	}
	if _, err := PublishedJWKS(w.dir, signerOf(oldKey.Key)); err == nil || !strings.Contains(err.Error(), "expects the signer key") {
		t.Errorf("the replaced key after the roll: %v", err)
	}
	if _, err := PublishedJWKS(w.dir, signerOf(rsaKey(t))); err == nil || !strings.Contains(err.Error(), "expects the signer key") {
		t.Errorf("another key during a rotation: %v", err)
	}
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
