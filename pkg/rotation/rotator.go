package rotation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
	"github.com/oc-sts/oc-sts/pkg/statedir"
)

// Step is how far a run goes.
type Step string

const (
	Stage  Step = "stage"
	Roll   Step = "roll"
	Retire Step = "retire"
)

// UI is how a run talks to its user.
type UI interface {
	Progress(format string, args ...any)
	// Confirm is asked once, before a run's first change, with all of them.
	Confirm(ctx context.Context, intents []Intent) error
}

// Intent is a step a run is about to take.
type Intent struct {
	Step Step               `json:"step"`
	What string             `json:"what"`
	AWS  []provision.Change `json:"aws,omitempty"` // the converge engine's changes, for the permission check
}

// Options are what a run is asked to do.
type Options struct {
	Until Step
	// RetireAfter (with Until Retire) waits until the old key has been out of
	// use this long, and at least until it is safe; nil: retire only if it
	// is safe now.
	RetireAfter *time.Duration
	WaitTimeout time.Duration
	DryRun      bool
	// Begin lets the run start a new rotation when none is under way;
	// without it a run only continues one.
	Begin bool
}

// Rotator runs a rotation for the cluster of a state dir.
type Rotator struct {
	StateDir string
	Plan     *plan.Plan       // the state dir's plan.json
	Signer   *oidckeys.Signer // the state dir's signer key
	Cluster  Cluster
	Issuer   Issuer
	UI       UI
	// MaxPoll is the longest pause between two looks while waiting.
	MaxPoll time.Duration
	Now     func() time.Time                           // default time.Now
	Sleep   func(context.Context, time.Duration) error // default Sleep
	// NewKey makes the new key (default: RSA 4096, oidckeys).
	NewKey func() (*oidckeys.Signer, error)
}

// probes is how many fresh tokens prove which key the API servers sign
// with: requests are spread over them, so several.
const probes = 3

// Run takes the rotation as far as o.Until, from wherever it stands.
func (r *Rotator) Run(ctx context.Context, o Options) (*State, []Intent, error) {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.MaxPoll == 0 {
		r.MaxPoll = 5 * time.Second
	}
	if r.Sleep == nil {
		r.Sleep = Sleep
	}
	st, err := Load(r.StateDir)
	if err != nil {
		return nil, nil, err
	}
	var next *oidckeys.Signer
	if !st.Active() {
		if !o.Begin {
			if st == nil {
				return nil, nil, fmt.Errorf("no key rotation is under way in %s: oc sts rotate-key starts one", r.StateDir)
			}
			return st, nil, nil // done: nothing to continue
		}
		if next, err = r.preflight(ctx, st); err != nil {
			return st, nil, err
		}
		begun := r.newState(next)
		st = &begun
	}
	if o.Until == Retire && st.Phase == Rolled && o.RetireAfter == nil && r.Now().Before(*st.RetireAfter) {
		return st, nil, &NotYetError{At: *st.RetireAfter, Lifetime: st.TokenLifetime}
	}
	intents, err := r.intents(ctx, st, o.Until)
	if err != nil || o.DryRun || len(intents) == 0 {
		return st, intents, err
	}
	if err := r.UI.Confirm(ctx, intents); err != nil {
		return st, intents, err
	}
	if next != nil {
		if err := r.begin(ctx, st, next); err != nil {
			return st, intents, err
		}
	}
	for {
		var err error
		switch {
		case st.Phase == Staging:
			err = r.stage(ctx, st, o.WaitTimeout)
		case st.Phase == Staged && o.Until != Stage, st.Phase == Rolling:
			err = r.roll(ctx, st, o.WaitTimeout)
		case st.Phase == Rolled && o.Until == Retire, st.Phase == Retiring:
			err = r.retire(ctx, st, o)
		default:
			return st, intents, nil
		}
		if err != nil {
			return st, intents, err
		}
	}
}

// preflight checks, before a rotation begins, that the state dir is the
// cluster's and that the issuer publishes its key and no other, and makes
// the new key (kept in memory until the run is confirmed).
func (r *Rotator) preflight(ctx context.Context, done *State) (*oidckeys.Signer, error) {
	kid, err := oidckeys.KeyID(&r.Signer.Key.PublicKey)
	if err != nil {
		return nil, err
	}
	if done != nil && done.Next.KID != kid {
		return nil, fmt.Errorf("the last rotation recorded in %s made %s the signer key, but %s holds %s: restore the key the cluster signs with", r.StateDir, done.Next.KID, statedir.SignerKeyPath(r.StateDir), kid)
	}
	if err := r.sameCluster(ctx); err != nil {
		return nil, err
	}
	if err := r.signsWith(ctx, kid, "the state dir's signer key"); err != nil {
		return nil, err
	}
	next, err := r.newKey()
	if err != nil {
		return nil, err
	}
	staged, err := oidckeys.JWKS(&r.Signer.Key.PublicKey, &next.Key.PublicKey)
	if err != nil {
		return nil, err
	}
	stored, _, err := r.Issuer.Observe(ctx, staged) // what stage will change, read once
	if err != nil {
		return nil, err
	}
	kids, err := kidsOf(stored)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(kids, kid) {
		return nil, fmt.Errorf("the issuer %s does not publish the cluster's signer key %s (it has %s): AWS already rejects the cluster's tokens; run oc sts prepare with this state dir to publish it, then rotate", r.Plan.Issuer.URL, kid, kidList(kids))
	}
	if others := slices.DeleteFunc(kids, func(k string) bool { return k == kid }); len(others) > 0 {
		return nil, fmt.Errorf("the issuer %s also publishes keys that are not the cluster's (%s): a rotation retires only the key it replaces; find out what signs with them (oc sts verify), remove them, then rotate", r.Plan.Issuer.URL, kidList(others))
	}
	return next, nil
}

// newKey is the new key: one left in rotation/next.key (adopted only if
// safe), else a new one.
func (r *Rotator) newKey() (*oidckeys.Signer, error) {
	path := filepath.Join(r.StateDir, NextKey)
	if _, err := os.Lstat(path); err == nil || r.NewKey == nil {
		return oidckeys.LoadOrGenerate(path)
	}
	return r.NewKey()
}

func (r *Rotator) newState(next *oidckeys.Signer) State {
	prev, _ := keyOf(r.Signer, statedir.SignerKeyFile)
	nk, _ := keyOf(next, NextKey)
	return State{Phase: Staging, Issuer: r.Plan.Issuer.URL, Previous: prev, Next: nk, StartedAt: r.Now().UTC()}
}

// begin keeps the new key (0600) and records the rotation, in one commit.
func (r *Rotator) begin(ctx context.Context, st *State, next *oidckeys.Signer) error {
	r.UI.Progress("new signer key %s kept in %s (mode 0600, never uploaded)", st.Next.KID, filepath.Join(r.StateDir, NextKey))
	return r.commit(ctx, st,
		atomicfs.File{Path: filepath.Join(r.StateDir, NextKey), Data: next.PrivatePEM, Mode: 0o600},
		atomicfs.File{Path: filepath.Join(r.StateDir, NextPub), Data: next.PublicPEM(), Mode: 0o644})
}

// intents are the steps left up to until, with their AWS changes.
func (r *Rotator) intents(ctx context.Context, st *State, until Step) ([]Intent, error) {
	var out []Intent
	if st.Phase == Staging {
		jwks, err := st.JWKS()
		if err != nil {
			return nil, err
		}
		_, changes, err := r.Issuer.Observe(ctx, jwks)
		if err != nil {
			return nil, err
		}
		out = append(out, Intent{Step: Stage, AWS: changes, What: fmt.Sprintf("stage: publish the new key %s beside the current %s at %s, and check that anyone fetching it gets both",
			st.Next.KID, st.Previous.KID, r.Plan.Issuer.URL)})
	}
	if until == Stage {
		return out, nil
	}
	if !st.Phase.AtLeast(Rolled) {
		out = append(out, Intent{Step: Roll, What: fmt.Sprintf("roll: put the new key in secret %s/%s; the kube-apiserver operator then rolls it out to every kube-apiserver (each restarts); wait until the cluster signs with it",
			OperatorNamespace, NextSecret)})
	}
	if until == Roll || st.Phase == Retired {
		return out, nil
	}
	retired := *st
	retired.Phase = Retiring
	jwks, err := retired.JWKS()
	if err != nil {
		return nil, err
	}
	_, changes, err := r.Issuer.Observe(ctx, jwks)
	if err != nil {
		return nil, err
	}
	when := "once every token it signed has expired"
	if st.RetireAfter != nil {
		when = "not before " + st.RetireAfter.Local().Format(time.RFC3339)
	}
	return append(out, Intent{Step: Retire, AWS: changes, What: fmt.Sprintf("retire: publish the new key %s only, %s; the old key %s stays archived in %s",
		st.Next.KID, when, st.Previous.KID, filepath.Join(r.StateDir, retiredFile(st.Previous.KID)))}), nil
}

// stage publishes both keys and proves anyone gets both.
func (r *Rotator) stage(ctx context.Context, st *State, timeout time.Duration) error {
	if err := r.publish(ctx, st, timeout); err != nil {
		return err
	}
	now := r.Now().UTC()
	st.Phase, st.StagedAt = Staged, &now
	r.UI.Progress("staged: %s serves both keys", r.Plan.Issuer.URL)
	return r.commit(ctx, st)
}

// roll hands the new key to the cluster and waits until every API server
// signs with it; only then is the state dir's signer key swapped.
func (r *Rotator) roll(ctx context.Context, st *State, timeout time.Duration) error {
	if st.Phase == Staged {
		// Hours may have passed since the stage: the new key must still be
		// published before the cluster signs with it.
		if err := r.sameCluster(ctx); err != nil {
			return err
		}
		if err := r.servedNow(ctx, st); err != nil {
			st.Phase = Staging
			r.UI.Progress("the issuer no longer serves both keys (%v): publishing them again", err)
			return r.commit(ctx, st)
		}
		now := r.Now().UTC()
		st.Phase, st.RollRequestedAt = Rolling, &now
		if err := r.commit(ctx, st); err != nil {
			return err
		}
	}
	next, err := oidckeys.LoadOrGenerate(filepath.Join(r.StateDir, NextKey))
	if err != nil {
		return err
	}
	if kid, _ := oidckeys.KeyID(&next.Key.PublicKey); kid != st.Next.KID {
		return fmt.Errorf("%s holds key %s, not the staged %s: restore it from a backup", filepath.Join(r.StateDir, NextKey), kid, st.Next.KID)
	}
	if err := r.handOver(ctx, st, next); err != nil {
		return err
	}
	if err := r.waitRolled(ctx, st, next, timeout); err != nil {
		return err
	}
	now := r.Now().UTC()
	life := MaxTokenLifetime(r.Cluster.TokenSettings(ctx), r.Plan.OIDCProvider.ClientIDs)
	after := retireAfter(now, life)
	st.Phase, st.RolledAt, st.TokenLifetime, st.RetireAfter = Rolled, &now, &life, &after
	if life.Warning != "" {
		r.UI.Progress("warning: %s", life.Warning)
	}
	r.UI.Progress("rolled: the cluster signs with %s; tokens last at most %s (%s): the old key can be retired after %s",
		st.Next.KID, life.Max, life.Source, after.Local().Format(time.RFC3339))
	// The swap: the state dir's signer key is the new one, the old one is
	// archived, in the same commit as the phase.
	st.Previous.File, st.Next.File = retiredFile(st.Previous.KID), statedir.SignerKeyFile
	previous := r.Signer.PrivatePEM // exactly as it is in the state dir
	r.Signer = next
	return r.commit(ctx, st,
		atomicfs.File{Path: filepath.Join(r.StateDir, retiredFile(st.Previous.KID)), Data: previous, Mode: 0o600},
		atomicfs.File{Path: filepath.Join(r.StateDir, RetiredDir, st.Previous.KID+".pub"), Data: []byte(st.Previous.PublicKey), Mode: 0o644},
		atomicfs.File{Path: filepath.Join(r.StateDir, NextKey), Remove: true},
		atomicfs.File{Path: filepath.Join(r.StateDir, NextPub), Remove: true})
}

func (r *Rotator) handOver(ctx context.Context, st *State, next *oidckeys.Signer) error {
	handed, err := r.Cluster.HandedKID(ctx)
	if err != nil {
		return err
	}
	if handed == st.Next.KID {
		return nil
	}
	if handed != st.Previous.KID && handed != "" && st.RollRequestedAt != nil {
		r.UI.Progress("warning: secret %s/%s held key %s, neither the old nor the new one: someone changed it during the rotation; putting the new key back", OperatorNamespace, NextSecret, handed)
	}
	if _, err := r.Cluster.HandOver(ctx, next); err != nil {
		return err
	}
	r.UI.Progress("handed the new key %s to the cluster (secret %s/%s)", st.Next.KID, OperatorNamespace, NextSecret)
	return nil
}

// waitRolled waits until the operator has rolled the key out to every
// kube-apiserver, the API server accepts it and fresh tokens carry it.
func (r *Rotator) waitRolled(ctx context.Context, st *State, next *oidckeys.Signer, timeout time.Duration) error {
	return r.waitFor(ctx, "the cluster to sign with the new key", timeout, func(ctx context.Context) (bool, string, error) {
		handed, err := r.Cluster.HandedKID(ctx)
		if err != nil {
			return false, "", err
		}
		if handed != st.Next.KID {
			if _, err := r.Cluster.HandOver(ctx, next); err != nil {
				return false, "", err
			}
			return false, fmt.Sprintf("secret %s/%s held %s: put the new key back", OperatorNamespace, NextSecret, shortKID(handed)), nil
		}
		rollout, err := r.Cluster.Rollout(ctx)
		if err != nil {
			return false, "", err
		}
		accepted, err := r.Cluster.AcceptedKIDs(ctx)
		if err != nil {
			return false, "", err
		}
		signing, err := r.Cluster.SigningKIDs(ctx, probes)
		if err != nil {
			return false, "", err
		}
		status := fmt.Sprintf("%s; the API server accepts %s; fresh tokens are signed with %s", rollout, kidList(accepted), kidList(slices.Compact(slices.Clone(signing))))
		done := rollout.Settled() && slices.Contains(accepted, st.Next.KID) && !slices.ContainsFunc(signing, func(k string) bool { return k != st.Next.KID })
		return done, status, nil
	})
}

// retire publishes the new key alone, once no token of the old key can be valid.
func (r *Rotator) retire(ctx context.Context, st *State, o Options) error {
	if st.Phase == Rolled {
		notBefore := *st.RetireAfter
		if o.RetireAfter != nil {
			if t := st.RolledAt.Add(*o.RetireAfter); t.After(notBefore) {
				notBefore = t
			}
		}
		if wait := notBefore.Sub(r.Now()); wait > 0 {
			if o.RetireAfter == nil {
				return &NotYetError{At: notBefore, Lifetime: st.TokenLifetime}
			}
			if err := r.sleepUntil(ctx, notBefore, "to retire the old key "+st.Previous.KID); err != nil {
				return err
			}
		}
		// The cluster must still sign with the new key: retiring the old one
		// while it signs would make AWS reject every token.
		if err := r.signsWith(ctx, st.Next.KID, "the new key"); err != nil {
			return err
		}
		st.Phase = Retiring
		if err := r.commit(ctx, st); err != nil {
			return err
		}
	}
	if err := r.publish(ctx, st, o.WaitTimeout); err != nil {
		return err
	}
	now := r.Now().UTC()
	st.Phase, st.RetiredAt = Retired, &now
	r.UI.Progress("retired: %s serves the new key %s only; the old key is archived in %s", r.Plan.Issuer.URL, st.Next.KID, filepath.Join(r.StateDir, retiredFile(st.Previous.KID)))
	return r.commit(ctx, st)
}

// NotYetError: the old key may still sign valid tokens.
type NotYetError struct {
	At       time.Time
	Lifetime *Lifetime
}

func (e *NotYetError) Error() string {
	why := ""
	if e.Lifetime != nil {
		why = fmt.Sprintf(" (tokens last up to %s: %s)", e.Lifetime.Max, e.Lifetime.Source)
	}
	return fmt.Sprintf("not yet: tokens signed with the old key may be valid until %s%s; run oc sts rotate-key retire after that, or oc sts rotate-key retire --retire-after 0s to wait for it",
		e.At.Local().Format(time.RFC3339), why)
}

// publish makes the issuer serve st's key set and proves anyone gets it.
func (r *Rotator) publish(ctx context.Context, st *State, timeout time.Duration) error {
	jwks, err := st.JWKS()
	if err != nil {
		return err
	}
	stored, changes, err := r.Issuer.Observe(ctx, jwks)
	if err != nil {
		return err
	}
	kids, err := kidsOf(stored)
	if err != nil {
		return err
	}
	allowed := append(st.PublishedKIDs(), st.Previous.KID, st.Next.KID)
	if unknown := slices.DeleteFunc(kids, func(k string) bool { return slices.Contains(allowed, k) }); len(unknown) > 0 {
		return fmt.Errorf("the issuer %s publishes keys this rotation did not make (%s): it does not replace them; find out what signs with them (oc sts verify), then run oc sts rotate-key again", r.Plan.Issuer.URL, kidList(unknown))
	}
	if len(changes) > 0 {
		r.UI.Progress("publishing %s (%s) through the converge engine", oidckeys.JWKSPath, kidList(st.PublishedKIDs()))
		if err := r.Issuer.Publish(ctx, jwks); err != nil {
			return err
		}
	}
	if err := r.servedNow(ctx, st); err == nil {
		return nil
	} else {
		r.UI.Progress("%s does not serve them yet (%v)", r.Plan.Issuer.URL, err)
	}
	if err := r.Issuer.Refresh(ctx, jwks); err != nil {
		return err
	}
	return r.waitFor(ctx, r.Plan.Issuer.URL+" to serve "+kidList(st.PublishedKIDs()), timeout, func(ctx context.Context) (bool, string, error) {
		err := r.servedNow(ctx, st)
		if err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
}

// servedNow: an anonymous HTTPS fetch of the issuer gets exactly st's keys.
func (r *Rotator) servedNow(ctx context.Context, st *State) error {
	served, err := r.Issuer.Served(ctx)
	if err != nil {
		return err
	}
	want, err := st.Published()
	if err != nil {
		return err
	}
	if problem := servesExactly(served, want); problem != "" {
		return errors.New(problem)
	}
	return nil
}

func (r *Rotator) sameCluster(ctx context.Context) error {
	issuer, err := r.Cluster.Issuer(ctx)
	if err != nil {
		return err
	}
	if issuer != r.Plan.Issuer.URL {
		return fmt.Errorf("the cluster's service-account issuer is %q, not %s of the plan in %s: this kubeconfig (--kubeconfig, --context) is not that cluster's", issuer, r.Plan.Issuer.URL, r.StateDir)
	}
	return nil
}

// signsWith: every fresh token carries kid.
func (r *Rotator) signsWith(ctx context.Context, kid, what string) error {
	kids, err := r.Cluster.SigningKIDs(ctx, probes)
	if err != nil {
		return err
	}
	if other := slices.IndexFunc(kids, func(k string) bool { return k != kid }); other >= 0 {
		return fmt.Errorf("the cluster signs tokens with key %s, not with %s (%s): this state dir is not the cluster's, or its key was changed outside oc sts; check oc sts rotate-key --status and oc sts verify", kids[other], kid, what)
	}
	return nil
}

// commit records st (and extra files) with the plan and its aws script
// updated to the key set st publishes, all or nothing.
func (r *Rotator) commit(ctx context.Context, st *State, extra ...atomicfs.File) error {
	f, err := st.file(r.StateDir)
	if err != nil {
		return err
	}
	jwks, err := st.JWKS()
	if err != nil {
		return err
	}
	// r.Signer is the state dir's signer key: the new one from the swap on.
	planFiles, err := statedir.Files(r.StateDir, WithJWKS(r.Plan, jwks), r.Signer)
	if err != nil {
		return err
	}
	files := append(append(extra, planFiles...), f)
	if _, err := atomicfs.Write(ctx, r.StateDir, files); err != nil {
		return fmt.Errorf("recording the rotation in %s: %w", r.StateDir, err)
	}
	return nil
}

// WithJWKS is p with its key set document replaced (as uploaded: compact).
func WithJWKS(p *plan.Plan, jwks []byte) *plan.Plan {
	cp := *p
	cp.Bucket.Objects = slices.Clone(p.Bucket.Objects)
	for i, o := range cp.Bucket.Objects {
		var b bytes.Buffer
		if json.Compact(&b, o.Body) == nil {
			cp.Bucket.Objects[i].Body = b.Bytes()
		}
		if o.Key == oidckeys.JWKSPath {
			b.Reset()
			json.Compact(&b, jwks)
			cp.Bucket.Objects[i].Body = b.Bytes()
		}
	}
	return &cp
}
