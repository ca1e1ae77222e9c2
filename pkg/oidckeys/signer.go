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
	"syscall"

	"github.com/oc-sts/oc-sts/pkg/limits"
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

// MinAdoptedBits is the smallest existing key LoadOrGenerate reuses.
const MinAdoptedBits = 2048

// LoadOrGenerate reuses the signer key found at any of paths and generates a
// new one only when none exists. Two different keys are an error: replacing
// a signer key invalidates every token of a running cluster, so the user
// must choose. A key is adopted only when it is safe to: a regular file
// (not a link), owned by this user, readable by no one else, RSA of at
// least MinAdoptedBits; anything else was not written by oc sts or the
// installer and is refused, never silently re-moded or replaced.
func LoadOrGenerate(paths ...string) (*Signer, error) {
	var found *Signer
	for _, p := range paths {
		data, err := readKeyFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		key, err := ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %v: remove or fix the file (a new key breaks every token signed with the old one)", p, err)
		}
		if bits := key.N.BitLen(); bits < MinAdoptedBits {
			return nil, fmt.Errorf("%s is an RSA %d-bit key: a service-account signer needs at least %d bits; remove it to have oc sts generate an RSA %d key", p, bits, MinAdoptedBits, KeyBits)
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

// readKeyFile reads a key file that this user alone controls.
func readKeyFile(path string) ([]byte, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(path)
		return nil, fmt.Errorf("%s is a symbolic link to %s: a signer key is adopted only as a regular file; put the key itself there", path, target)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file: remove it", path)
	case owner(st) != os.Getuid():
		return nil, fmt.Errorf("%s is owned by uid %d, not by you (uid %d): a signer key someone else controls is not adopted; remove it, or chown it if it is yours", path, owner(st), os.Getuid())
	case st.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("%s has mode %04o, readable by others: the key may be known outside; if it is not, chmod 600 %s, else remove it", path, st.Mode().Perm(), path)
	}
	data, err := limits.ReadFileNoFollow(path, limits.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("reading signer key: %w", err)
	}
	return data, nil
}

func owner(st fs.FileInfo) int {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(sys.Uid)
	}
	return os.Getuid()
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
