// Package stsmanifests renders the cluster manifests of a manual-STS
// install: one credentials Secret per role and the Authentication config.
package stsmanifests

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/oc-sts/oc-sts/pkg/plan"
)

// AuthenticationFile is the only name under which the installer applies the
// Authentication manifest; any other name is silently ignored.
const AuthenticationFile = "cluster-authentication-02-config.yaml"

// TokenFile is where OpenShift mounts the projected service-account token.
const TokenFile = "/var/run/secrets/openshift/serviceaccount/token"

// SecretFile is the manifest file name of a role's credentials Secret.
func SecretFile(r plan.Role) string {
	return fmt.Sprintf("%s-%s-credentials.yaml", r.CredentialsRequest.SecretNamespace, r.CredentialsRequest.SecretName)
}

type meta struct {
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace,omitempty"`
}

// CredentialsKey is the Secret data key holding the AWS shared config.
const CredentialsKey = "credentials"

// Credentials is what a credentials Secret's CredentialsKey says.
type Credentials struct {
	RoleARN   string
	TokenFile string // web_identity_token_file
	Regional  bool   // sts_regional_endpoints = regional
	// StaticKeys: aws_access_key_id or aws_secret_access_key is present:
	// long-lived keys, not STS.
	StaticKeys bool
}

// RenderCredentials is the AWS shared-config content of a role's Secret.
func RenderCredentials(roleARN string) string {
	return fmt.Sprintf("[default]\nsts_regional_endpoints = regional\nrole_arn = %s\nweb_identity_token_file = %s", roleARN, TokenFile)
}

// ParseCredentials reads the AWS shared-config content of a credentials
// Secret, as the SDKs read it: key = value lines, any section.
func ParseCredentials(data string) Credentials {
	var c Credentials
	for _, line := range strings.Split(data, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch v = strings.TrimSpace(v); strings.TrimSpace(k) {
		case "role_arn":
			c.RoleARN = v
		case "web_identity_token_file":
			c.TokenFile = v
		case "sts_regional_endpoints":
			c.Regional = v == "regional"
		case "aws_access_key_id", "aws_secret_access_key":
			c.StaticKeys = true
		}
	}
	return c
}

// Secret renders the credentials Secret a CredentialsRequest's component reads.
func Secret(r plan.Role) []byte {
	return render(struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   meta              `yaml:"metadata"`
		Type       string            `yaml:"type"`
		StringData map[string]string `yaml:"stringData"`
	}{"v1", "Secret", meta{r.CredentialsRequest.SecretName, r.CredentialsRequest.SecretNamespace}, "Opaque",
		map[string]string{CredentialsKey: RenderCredentials(r.ARN)}})
}

type authSpec struct {
	ServiceAccountIssuer string `yaml:"serviceAccountIssuer"`
}

// Authentication renders the cluster Authentication config with the issuer.
func Authentication(issuerURL string) []byte {
	return render(struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Metadata   meta     `yaml:"metadata"`
		Spec       authSpec `yaml:"spec"`
	}{"config.openshift.io/v1", "Authentication", meta{Name: "cluster"}, authSpec{issuerURL}})
}

func render(v any) []byte {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		panic(err) // plain structs of strings
	}
	return b.Bytes()
}

// IsCredentialsSecretFor reports whether data is a credentials Secret
// manifest naming a role whose ARN starts with roleARNPrefix: one that an
// earlier prepare wrote for the same cluster.
func IsCredentialsSecretFor(data []byte, roleARNPrefix string) bool {
	var s struct {
		Kind       string            `yaml:"kind"`
		StringData map[string]string `yaml:"stringData"`
	}
	if yaml.Unmarshal(data, &s) != nil || s.Kind != "Secret" {
		return false
	}
	c := ParseCredentials(s.StringData[CredentialsKey])
	return strings.HasPrefix(c.RoleARN, roleARNPrefix) && c.TokenFile == TokenFile
}
