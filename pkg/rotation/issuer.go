package rotation

import (
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/provision"
)

// Issuer is where AWS reads the cluster's keys: its storage is changed
// through the converge engine, what it serves is read as anyone reads it.
type Issuer interface {
	URL() string
	// Observe reads the key set document the issuer's storage holds (nil
	// when there is none) and the changes that make it jwks.
	Observe(ctx context.Context, jwks []byte) (stored []byte, changes []provision.Change, err error)
	// Publish makes the storage hold jwks; no mutating call when it does.
	Publish(ctx context.Context, jwks []byte) error
	// Refresh makes caches in front of the storage (CloudFront) serve what
	// it holds now, as far as it can; nothing for a plain S3 issuer.
	Refresh(ctx context.Context, jwks []byte) error
	// Served is the key set anyone gets from the issuer anonymously over
	// HTTPS now (discovery document, then its jwks_uri).
	Served(ctx context.Context) (jose.JSONWebKeySet, error)
}

// kidsOf lists the kids of a stored key set document.
func kidsOf(doc []byte) ([]string, error) {
	if doc == nil {
		return nil, nil
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("the published %s is not a JWKS: %w", oidckeys.JWKSPath, err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids, nil
}

// servesExactly says how served differs from want: every wanted key under
// its kid (as kube-apiserver computes it: STS picks the key by the token's
// kid) and no other; "" when it matches.
func servesExactly(served jose.JSONWebKeySet, want []*rsa.PublicKey) string {
	var problems []string
	matched := 0
	for _, pub := range want {
		kid, _ := oidckeys.KeyID(pub)
		thumb, _ := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
		keys := served.Key(kid)
		switch {
		case len(keys) == 0:
			problems = append(problems, "lacks "+shortKID(kid))
		case !slices.ContainsFunc(keys, func(k jose.JSONWebKey) bool {
			got, err := k.Thumbprint(crypto.SHA256)
			return err == nil && string(got) == string(thumb)
		}):
			problems = append(problems, "serves another key under kid "+shortKID(kid))
		default:
			matched++
		}
	}
	if extra := len(served.Keys) - matched; extra > 0 && len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("also serves %d other keys", extra))
	}
	return strings.Join(problems, ", ")
}
