package clustercheck

import (
	"strings"

	"github.com/go-jose/go-jose/v4"
	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
)

// Facts are what verify read; Evaluate judges them.
type Facts struct {
	Cluster   ClusterFacts
	Published Published
	AWS       AWSFacts
	// Exchanges are the token-exchange outcomes by CredentialsRequest
	// (namespace/name); absent without --token-exchange.
	Exchanges map[string]error
}

// ClusterFacts are read from the cluster's API.
type ClusterFacts struct {
	RootSecret      bool               // kube-system/aws-creds exists
	CredentialsMode string             // CloudCredential cluster spec.credentialsMode; "" when there is none
	Issuer          string             // Authentication cluster spec.serviceAccountIssuer
	JWKS            jose.JSONWebKeySet // the keys the API server accepts (/openid/v1/jwks)
	// SigningKID is the kid of a fresh token: the key the API server signs
	// with now; "" when no token could be had.
	SigningKID string
	Requests   []Request
}

// Request is an AWS CredentialsRequest of the cluster and its Secret.
type Request struct {
	Namespace, Name string
	SecretNamespace string
	SecretName      string
	ServiceAccounts []string
	Statements      []ccov1.StatementEntry
	Secret          Secret
	// STSRoleARN is spec.providerSpec.stsIAMRoleARN: the role a day-2
	// operator put in its request, from which the cloud-credential-operator
	// writes the Secret.
	STSRoleARN string
	// Payload: the release payload's own (the cluster-version operator's
	// include.release.openshift.io/ annotations), not a day-2 operator's.
	Payload bool
}

// Key names a request as namespace/name.
func (r Request) Key() string { return r.Namespace + "/" + r.Name }

// Secret is a credentials Secret as found.
type Secret struct {
	Found       bool
	RoleARN     string
	TokenFile   string
	Regional    bool // sts_regional_endpoints = regional
	StaticKeys  bool // aws_access_key_id or aws_secret_access_key present
	Unparseable bool
}

// Published is what an anonymous caller gets from the issuer URL.
type Published struct {
	DiscoveryErr error
	Issuer       string // the discovery document's issuer
	JWKSErr      error
	JWKS         jose.JSONWebKeySet
}

// AWSFacts are read from IAM.
type AWSFacts struct {
	ProviderARN string
	Provider    *Provider        // nil when there is none
	Roles       map[string]*Role // by ARN; nil value when the role does not exist
}

// Provider is the IAM OIDC provider for the issuer.
type Provider struct{ ClientIDs []string }

// Role is what decides what a role's sessions may do.
type Role struct {
	Trust    string
	Policies []string // inline and attached managed policy documents
	Boundary string   // the permissions boundary document, if any
	Tags     map[string]string
}

// payloadAnnotation marks the release payload's own manifests.
const payloadAnnotation = "include.release.openshift.io/"

// IsPayload says an object came from the release payload.
func IsPayload(annotations map[string]string) bool {
	for k := range annotations {
		if strings.HasPrefix(k, payloadAnnotation) {
			return true
		}
	}
	return false
}
