// Package rotation rotates the service-account signer key of a running STS
// cluster with no token ever rejected: stage (a new key, published beside
// the old one), roll (the cluster signs with the new key), retire (once
// every token the old key signed has expired, the old key is published no
// more). Each step starts only once the one before is proven, is
// idempotent, and is recorded in the state dir before and after it acts, so
// a run killed at any point continues from there.
package rotation

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/limits"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// Kind is the state document's kind (rotation/state.json, --status -o json).
const Kind = "KeyRotation"

// Phase is where a rotation stands. Each phase is recorded before its
// action (the -ing phases) and once the action is proven (the -ed ones).
type Phase string

const (
	// Staging: the new key is kept in the state dir; the issuer is being
	// made to publish both keys.
	Staging Phase = "staging"
	// Staged: anyone fetching the issuer gets both keys.
	Staged Phase = "staged"
	// Rolling: the new key is handed to the cluster (or about to be).
	Rolling Phase = "rolling"
	// Rolled: the cluster signs with the new key; the state dir's signer
	// key is the new one and the old one is archived.
	Rolled Phase = "rolled"
	// Retiring: the issuer is being made to publish the new key only.
	Retiring Phase = "retiring"
	// Retired: the old key is published no more; the rotation is done.
	Retired Phase = "retired"
)

// order ranks the phases.
var order = map[Phase]int{Staging: 1, Staged: 2, Rolling: 3, Rolled: 4, Retiring: 5, Retired: 6}

// AtLeast says whether p is at or past q.
func (p Phase) AtLeast(q Phase) bool { return order[p] >= order[q] }

// Swapped: the state dir's signer key is the new one.
func (p Phase) Swapped() bool { return p.AtLeast(Rolled) }

// Files of a rotation, in the state dir.
const (
	Dir        = "rotation"
	StateFile  = "rotation/state.json"
	NextKey    = "rotation/next.key"
	NextPub    = "rotation/next.pub"
	RetiredDir = "rotation/retired" // <kid>.key and <kid>.pub of every key a rotation retired
)

// Key is one signer key of a rotation (its private half stays in the state dir).
type Key struct {
	KID       string `json:"kid"`
	PublicKey string `json:"publicKey"` // PEM (PKIX)
	// File is where the private key is kept, relative to the state dir.
	File string `json:"file"`
}

// Lifetime is how long a token the old key signed can still be valid after
// the roll, and what on the cluster says so.
type Lifetime struct {
	Max     Duration `json:"max"`
	Source  string   `json:"source"`
	Warning string   `json:"warning,omitempty"`
}

// Duration is a time.Duration written as "1h5m0s".
type Duration struct{ time.Duration }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	d.Duration = v
	return err
}

// State is a rotation as recorded in rotation/state.json.
type State struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Phase      Phase  `json:"phase"`
	Issuer     string `json:"issuer"`
	// Previous is the key the cluster signed with when the rotation began,
	// Next the new one.
	Previous Key `json:"previousKey"`
	Next     Key `json:"nextKey"`

	StartedAt       time.Time  `json:"startedAt"`
	StagedAt        *time.Time `json:"stagedAt,omitempty"`
	RollRequestedAt *time.Time `json:"rollRequestedAt,omitempty"`
	// RolledAt is when the cluster was first seen signing with the new key
	// only: the old key signs nothing after it.
	RolledAt *time.Time `json:"rolledAt,omitempty"`
	// TokenLifetime and RetireAfter: the old key may be retired once every
	// token it signed has expired, RolledAt plus the longest lifetime.
	TokenLifetime *Lifetime  `json:"tokenLifetime,omitempty"`
	RetireAfter   *time.Time `json:"retireAfter,omitempty"`
	RetiredAt     *time.Time `json:"retiredAt,omitempty"`
}

// Load reads the rotation recorded in stateDir; nil when there is none.
func Load(stateDir string) (*State, error) {
	path := filepath.Join(stateDir, StateFile)
	b, err := limits.ReadFileNoFollow(path, limits.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the key rotation state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil || s.Kind != Kind || order[s.Phase] == 0 {
		return nil, fmt.Errorf("%s is not an oc sts key rotation state (%v): restore it from a backup, or move it away to start a new rotation", path, err)
	}
	if _, err := s.Previous.public(); err != nil {
		return nil, fmt.Errorf("%s: previousKey: %w", path, err)
	}
	if _, err := s.Next.public(); err != nil {
		return nil, fmt.Errorf("%s: nextKey: %w", path, err)
	}
	return &s, nil
}

// Active: a rotation that has begun and not finished.
func (s *State) Active() bool { return s != nil && s.Phase != Retired }

// Published are the public keys the issuer must serve in this phase: both
// from staging until the old key is retired, then the new one only. The
// order is fixed (old, new) so every writer publishes the same bytes.
func (s *State) Published() ([]*rsa.PublicKey, error) {
	next, err := s.Next.public()
	if err != nil {
		return nil, err
	}
	if s.Phase.AtLeast(Retiring) {
		return []*rsa.PublicKey{next}, nil
	}
	prev, err := s.Previous.public()
	if err != nil {
		return nil, err
	}
	return []*rsa.PublicKey{prev, next}, nil
}

// JWKS is the key set document the issuer must serve in this phase.
func (s *State) JWKS() ([]byte, error) {
	keys, err := s.Published()
	if err != nil {
		return nil, err
	}
	return oidckeys.JWKS(keys...)
}

// PublishedKIDs are the kids of Published.
func (s *State) PublishedKIDs() []string {
	if s.Phase.AtLeast(Retiring) {
		return []string{s.Next.KID}
	}
	return []string{s.Previous.KID, s.Next.KID}
}

func (k Key) public() (*rsa.PublicKey, error) {
	pub, err := oidckeys.ParsePublicKey([]byte(k.PublicKey))
	if err != nil {
		return nil, err
	}
	if kid, _ := oidckeys.KeyID(pub); kid != k.KID {
		return nil, fmt.Errorf("kid %s does not match its public key (%s)", k.KID, kid)
	}
	return pub, nil
}

func keyOf(s *oidckeys.Signer, file string) (Key, error) {
	kid, err := oidckeys.KeyID(&s.Key.PublicKey)
	return Key{KID: kid, PublicKey: string(s.PublicPEM()), File: file}, err
}

// retiredFile is where a retired key's private half is archived.
func retiredFile(kid string) string { return filepath.Join(RetiredDir, kid+".key") }

// Dirs are the directories of stateDir a rotation writes into.
func Dirs(stateDir string) []string {
	return []string{filepath.Join(stateDir, Dir), filepath.Join(stateDir, RetiredDir)}
}

// stateFile is s as the file to write (0600: it says which key signs).
func (s *State) file(stateDir string) (atomicfs.File, error) {
	s.APIVersion, s.Kind = plan.APIVersion, Kind
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return atomicfs.File{}, err
	}
	return atomicfs.File{Path: filepath.Join(stateDir, StateFile), Data: append(b, '\n'), Mode: 0o600}, nil
}
