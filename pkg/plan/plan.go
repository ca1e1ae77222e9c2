// Package plan computes the desired AWS state of a manual-STS cluster as a
// pure function of its inputs. prepare applies it, verify checks it and
// upgrade-check diffs it; the offline mode prints it.
package plan

import (
	"encoding/json"
	"fmt"

	"github.com/oc-sts/oc-sts/pkg/awsid"
)

// APIVersion and Kind identify the plan document (-o json|yaml, plan.json).
const (
	APIVersion = "oc-sts.openshift.io/v1alpha1"
	Kind       = "Plan"
)

// IssuerKind says where the OIDC discovery documents are served from.
type IssuerKind string

const (
	PublicS3          IssuerKind = "public-s3"
	PrivateCloudFront IssuerKind = "private-cloudfront"
)

// Plan is the desired state. Its JSON form is stable and documented in the README.
type Plan struct {
	APIVersion   string          `json:"apiVersion"`
	Kind         string          `json:"kind"`
	Name         string          `json:"name"`
	AccountID    string          `json:"accountID"`
	Region       string          `json:"region"`
	Partition    awsid.Partition `json:"partition"`
	Issuer       Issuer          `json:"issuer"`
	Bucket       Bucket          `json:"bucket"`
	OIDCProvider Provider        `json:"oidcProvider"`
	Roles        []Role          `json:"roles"`
	// Distribution serves a private issuer; nil for a public one.
	Distribution *Distribution `json:"distribution,omitempty"`
}

// Issuer is the service-account issuer the cluster signs tokens for.
type Issuer struct {
	Kind IssuerKind `json:"kind"`
	// URL is https://host[/path], never with a trailing slash: the cluster's
	// spec.serviceAccountIssuer must match it byte for byte.
	URL string `json:"url"`
	// HostPath is URL without the scheme, the prefix of IAM condition keys.
	HostPath string `json:"hostPath"`
	// KnownAfterApply: the issuer is a private issuer's new CloudFront
	// distribution, whose domain AWS chooses when it is created. Until then
	// URL and HostPath are empty, and so is everything that names them: the
	// discovery document, the provider's ARN and URL, the trust policies and
	// the bucket policy (which names the distribution).
	KnownAfterApply bool `json:"knownAfterApply,omitempty"`
}

// Distribution is the CloudFront distribution serving a private issuer's
// bucket through an origin access control.
type Distribution struct {
	// CallerReference is CloudFront's idempotency key: the bucket name, so
	// a retried or resumed create never makes a second distribution.
	CallerReference string `json:"callerReference"`
	Comment         string `json:"comment"`
	// OriginDomain is the bucket's S3 host, read with OriginAccessControl
	// (an origin access control by that name: OACs carry no tags).
	OriginDomain        string `json:"originDomain"`
	OriginAccessControl string `json:"originAccessControl"`
	CachePolicyID       string `json:"cachePolicyID"`
	Tags                []Tag  `json:"tags"`
	// Domain and ARN are the distribution's once it exists.
	Domain string `json:"domain,omitempty"`
	ARN    string `json:"arn,omitempty"`
}

// Bucket is the S3 bucket holding the discovery documents.
type Bucket struct {
	Name   string `json:"name"`
	Region string `json:"region"`
	// LocationConstraint is CreateBucket's for Region: "" in us-east-1,
	// which S3 refuses to be named.
	LocationConstraint string `json:"locationConstraint,omitempty"`
	Private            bool   `json:"private"`
	// PublicAccessBlock is the bucket's own S3 Block Public Access.
	PublicAccessBlock PublicAccessBlock `json:"publicAccessBlock"`
	Policy            json.RawMessage   `json:"policy"`
	Objects           []Object          `json:"objects"`
	Tags              []Tag             `json:"tags"`
}

// PublicAccessBlock is S3's Block Public Access configuration, in the
// order and with the names of its API.
type PublicAccessBlock struct {
	BlockPublicAcls       bool `json:"blockPublicAcls"`
	IgnorePublicAcls      bool `json:"ignorePublicAcls"`
	BlockPublicPolicy     bool `json:"blockPublicPolicy"`
	RestrictPublicBuckets bool `json:"restrictPublicBuckets"`
}

// IssuerBlock is the issuer bucket's public access block: ACLs are always
// blocked; a public issuer lets its bucket policy through, a private one
// (served by CloudFront) blocks everything.
func IssuerBlock(private bool) PublicAccessBlock {
	return PublicAccessBlock{BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: private, RestrictPublicBuckets: private}
}

// Object is a discovery document; both are public data.
type Object struct {
	Key         string          `json:"key"`
	ContentType string          `json:"contentType"`
	Body        json.RawMessage `json:"body"`
}

// Provider is the IAM OIDC identity provider for the issuer.
type Provider struct {
	ARN       string   `json:"arn"`
	URL       string   `json:"url"`
	ClientIDs []string `json:"clientIDs"`
	Tags      []Tag    `json:"tags"`
}

// Role is the IAM role of one CredentialsRequest.
type Role struct {
	Name                string          `json:"name"`
	ARN                 string          `json:"arn"`
	Path                string          `json:"path"`
	PermissionsBoundary string          `json:"permissionsBoundary,omitempty"`
	TrustPolicy         json.RawMessage `json:"trustPolicy"`
	PolicyName          string          `json:"policyName"`
	Policy              json.RawMessage `json:"policy"`
	Tags                []Tag           `json:"tags"`
	CredentialsRequest  RequestRef      `json:"credentialsRequest"`
}

// Description is what IAM shows for the role: the Secret it serves.
func (r Role) Description() string {
	ref := r.CredentialsRequest
	return fmt.Sprintf("OpenShift %s/%s (CredentialsRequest %s), managed by oc sts", ref.SecretNamespace, ref.SecretName, ref.Name)
}

// RequestRef names the CredentialsRequest a role serves and the Secret it needs.
type RequestRef struct {
	Name            string   `json:"name"`
	File            string   `json:"file"`
	SecretNamespace string   `json:"secretNamespace"`
	SecretName      string   `json:"secretName"`
	ServiceAccounts []string `json:"serviceAccounts"`
}

// Tag is an AWS resource tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// OperatorRequestTag marks a role as a day-2 operator's (oc sts operator),
// naming its CredentialsRequest (namespace/name): such roles are never a
// plan's, so prepare neither prunes nor takes them over.
const OperatorRequestTag = "oc-sts.openshift.io/credentials-request"

// TagOf is the value of key among tags ("" when absent).
func TagOf(tags []Tag, key string) string {
	for _, t := range tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}
