// Package oidckeys owns the service-account signer key and the OIDC
// discovery documents published for it.
package oidckeys

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// KeyBits is the size of a newly generated signer key.
const KeyBits = 4096

// Signer is the RSA key kube-apiserver signs service-account tokens with.
type Signer struct {
	Key        *rsa.PrivateKey
	PrivatePEM []byte // exactly as found on disk when reused
	Source     string // the file it was read from, or "" when generated
}

// PublicPEM is the PKIX public key in PEM form.
func (s *Signer) PublicPEM() []byte {
	der, _ := x509.MarshalPKIXPublicKey(&s.Key.PublicKey)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// LoadOrGenerate reuses the signer key found at any of paths and generates a
// new one only when none exists. Two different keys are an error: replacing
// a signer key invalidates every token of a running cluster, so the user
// must choose.
func LoadOrGenerate(paths ...string) (*Signer, error) {
	var found *Signer
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading signer key: %w", err)
		}
		key, err := ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %v: remove or fix the file (a new key breaks every token signed with the old one)", p, err)
		}
		if found != nil && !found.Key.Equal(key) {
			return nil, fmt.Errorf("%s and %s hold different signer keys: keep the one the cluster uses and delete the other", found.Source, p)
		}
		if found == nil {
			found = &Signer{Key: key, PrivatePEM: data, Source: p}
		}
	}
	if found != nil {
		return found, nil
	}
	key, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return nil, fmt.Errorf("generating signer key: %w", err)
	}
	return &Signer{Key: key, PrivatePEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})}, nil
}

// ParsePrivateKey reads an RSA private key in PKCS#1 or PKCS#8 PEM form.
func ParsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("more than one PEM block")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key is %T, kube-apiserver needs RSA", k)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
}
