package oidckeys

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"

	jose "github.com/go-jose/go-jose/v4"
)

// Object keys of the discovery documents under the issuer URL.
const (
	DiscoveryPath = ".well-known/openid-configuration"
	JWKSPath      = "keys.json"
)

// KeyID is the "kid" kube-apiserver puts in tokens it signs with pub:
// base64url (unpadded) of the SHA-256 of the DER PKIX public key.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// JWKS is the JSON Web Key Set holding the public signer keys.
func JWKS(pubs ...*rsa.PublicKey) ([]byte, error) {
	set := jose.JSONWebKeySet{}
	for _, pub := range pubs {
		kid, err := KeyID(pub)
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"})
	}
	return json.MarshalIndent(set, "", "  ")
}

// Discovery is the OpenID provider configuration AWS reads from the issuer.
type Discovery struct {
	Issuer                           string   `json:"issuer"`
	JWKSURI                          string   `json:"jwks_uri"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                  []string `json:"claims_supported"`
}

// DiscoveryDocument renders the discovery document for issuer (no trailing slash).
func DiscoveryDocument(issuer string) ([]byte, error) {
	return json.MarshalIndent(Discovery{
		Issuer:                           issuer,
		JWKSURI:                          issuer + "/" + JWKSPath,
		ResponseTypesSupported:           []string{"id_token"},
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: []string{"RS256"},
		ClaimsSupported:                  []string{"aud", "exp", "sub", "iat", "iss"},
	}, "", "  ")
}
