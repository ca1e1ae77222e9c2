// Package plan computes the desired AWS state of a manual-STS cluster as a
// pure function of its inputs. prepare applies it, verify checks it and
// upgrade-check diffs it; the offline mode prints it.
package plan

import (
	"encoding/json"
	"fmt"
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
	APIVersion   string    `json:"apiVersion"`
	Kind         string    `json:"kind"`
	Name         string    `json:"name"`
	AccountID    string    `json:"accountID"`
	Region       string    `json:"region"`
	Partition    Partition `json:"partition"`
	Issuer       Issuer    `json:"issuer"`
	Bucket       Bucket    `json:"bucket"`
	OIDCProvider Provider  `json:"oidcProvider"`
	Roles        []Role    `json:"roles"`
	// Changes are the differences from AWS found by an online run (what it
	// applied, or with --dry-run would apply); empty offline.
	Changes []Change `json:"changes,omitempty"`
}

// Issuer is the service-account issuer the cluster signs tokens for.
type Issuer struct {
	Kind IssuerKind `json:"kind"`
	// URL is https://host[/path], never with a trailing slash: the cluster's
	// spec.serviceAccountIssuer must match it byte for byte.
	URL string `json:"url"`
	// HostPath is URL without the scheme, the prefix of IAM condition keys.
	HostPath string `json:"hostPath"`
}

// Bucket is the S3 bucket holding the discovery documents.
type Bucket struct {
	Name    string          `json:"name"`
	Region  string          `json:"region"`
	Private bool            `json:"private"`
	Policy  json.RawMessage `json:"policy"`
	Objects []Object        `json:"objects"`
	Tags    []Tag           `json:"tags"`
}

// PublicAccessBlock is the bucket's: BlockPublicAcls, IgnorePublicAcls,
// BlockPublicPolicy, RestrictPublicBuckets. A public issuer lets only the
// bucket policy through (ACLs stay blocked); a private one blocks all.
func (b Bucket) PublicAccessBlock() [4]bool { return [4]bool{true, true, b.Private, b.Private} }

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

// OwnershipTagKey marks every resource created for name (the same key
// ccoctl uses, so its resources and ours are recognised alike).
func OwnershipTagKey(name string) string { return "openshift.io/cloud-credential-operator/" + name }

// OwnedValue is the value of the ownership tag.
const OwnedValue = "owned"

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
