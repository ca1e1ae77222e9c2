package oidckeys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestGenerateThenReuse(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: generates RSA 4096 keys, seconds each")
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "tls.key"), filepath.Join(dir, "state.key")
	s, err := LoadOrGenerate(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != "" || s.Key.N.BitLen() != 4096 {
		t.Fatalf("want a new 4096-bit key, got %d bits from %q", s.Key.N.BitLen(), s.Source)
	}
	if err := os.WriteFile(b, s.PrivatePEM, 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrGenerate(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if again.Source != b || string(again.PrivatePEM) != string(s.PrivatePEM) {
		t.Fatalf("the existing key was not reused (source %q)", again.Source)
	}
	// The same key in both places is fine; a different one is refused.
	os.WriteFile(a, s.PrivatePEM, 0o600)
	if _, err := LoadOrGenerate(a, b); err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	os.WriteFile(a, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)}), 0o600)
	if _, err := LoadOrGenerate(a, b); err == nil || !strings.Contains(err.Error(), "different signer keys") {
		t.Fatalf("two different keys: got %v", err)
	}
}

// A key is adopted only as a regular file of this user, readable by no one
// else, RSA of at least 2048 bits; each refusal says what to do.
func TestAdoptOnlySafeKeys(t *testing.T) {
	dir := t.TempDir()
	k2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	k1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	pemOf := func(k *rsa.PrivateKey) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	}
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o600)
		os.Chmod(p, mode)
		return p
	}
	ok := write("ok.key", pemOf(k2048), 0o600)
	if s, err := LoadOrGenerate(ok); err != nil || s.Source != ok {
		t.Fatalf("a 2048-bit 0600 key: %v", err)
	}
	before, _ := os.Stat(ok)
	link := filepath.Join(dir, "link.key")
	os.Symlink(ok, link)
	for name, tc := range map[string]struct{ path, want string }{
		"world-readable": {write("open.key", pemOf(k2048), 0o644), "has mode 0644, readable by others"},
		"group-readable": {write("group.key", pemOf(k2048), 0o640), "chmod 600"},
		"1024 bits":      {write("small.key", pemOf(k1024), 0o600), "RSA 1024-bit key"},
		"symlink":        {link, "is a symbolic link to " + ok},
		"directory":      {dir, "not a regular file"},
	} {
		if _, err := LoadOrGenerate(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
		}
	}
	if after, _ := os.Stat(ok); after.Mode() != before.Mode() {
		t.Error("a refused key's target was re-moded")
	}
	// A key of another user: root can make one; others find one of root's.
	foreign, owner := "/etc/hostname", 0
	if os.Getuid() == 0 {
		foreign, owner = write("foreign.key", pemOf(k2048), 0o600), 4242
		os.Chown(foreign, owner, owner)
	}
	if _, err := LoadOrGenerate(foreign); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("is owned by uid %d, not by you", owner)) {
		t.Errorf("another user's file: %v", err)
	}
}

func TestParsePrivateKey(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	if k, err := ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})); err != nil || !k.Equal(rsaKey) {
		t.Errorf("PKCS#8 RSA: %v", err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	for name, data := range map[string][]byte{
		"EC key":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
		"not PEM":    []byte("hello"),
		"public key": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}),
	} {
		if _, err := ParsePrivateKey(data); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

// The kid must be what kube-apiserver puts in tokens; computed here by
// openssl from the public key PEM, independently of Go's encoders.
func TestKeyIDMatchesOpenSSL(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	s := &Signer{Key: key}
	kid, err := KeyID(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary")
	cmd.Stdin = strings.NewReader(string(s.PublicPEM()))
	sum, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	if want := base64.RawURLEncoding.EncodeToString(sum); kid != want {
		t.Errorf("kid %s, openssl says %s", kid, want)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if h := sha256.Sum256(der); base64.RawURLEncoding.EncodeToString(h[:]) != kid {
		t.Error("kid is not the SHA-256 of the DER public key")
	}
}

// A token signed with the key verifies with the published JWKS, found by kid.
func TestJWKSVerifiesTokens(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks, err := JWKS(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	kid, _ := KeyID(&key.PublicKey)
	keys := set.Key(kid)
	if len(keys) != 1 || keys[0].Algorithm != "RS256" || keys[0].Use != "sig" {
		t.Fatalf("JWKS %s has no RS256 signing key %s", jwks, kid)
	}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, nil)
	obj, _ := signer.Sign([]byte(`{"sub":"x"}`))
	if _, err := obj.Verify(keys[0].Key); err != nil {
		t.Errorf("verify with JWKS key: %v", err)
	}
}

func TestDiscoveryDocument(t *testing.T) {
	doc, _ := DiscoveryDocument("https://x-oidc.s3.us-east-1.amazonaws.com")
	var d Discovery
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	if d.Issuer != "https://x-oidc.s3.us-east-1.amazonaws.com" || d.JWKSURI != d.Issuer+"/keys.json" || d.IDTokenSigningAlgValuesSupported[0] != "RS256" {
		t.Errorf("discovery %+v", d)
	}
}
