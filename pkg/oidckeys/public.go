package oidckeys

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParsePublicKey reads an RSA public key in PKIX PEM form, under either
// block type found in OpenShift: "PUBLIC KEY", or "RSA PUBLIC KEY" as the
// kube-apiserver operator labels the PKIX keys it generates.
func ParsePublicKey(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if block.Type != "PUBLIC KEY" && block.Type != "RSA PUBLIC KEY" {
		return nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, kube-apiserver signs with RSA", k)
	}
	return pub, nil
}
