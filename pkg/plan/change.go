package plan

// A Change is one difference between the plan and what AWS has: what
// prepare applies, destroy removes and upgrade-check predicts.
type Change struct {
	Resource Resource `json:"resource"`
	Name     string   `json:"name"`
	Action   Action   `json:"action"`
	// Fields name what differs, for updates: trust-policy, policy, tags, ...
	Fields []string `json:"fields,omitempty"`
}

// Resource is the kind of AWS resource a change touches.
type Resource string

const (
	BucketResource       Resource = "s3-bucket"
	ObjectResource       Resource = "s3-object"
	ProviderResource     Resource = "iam-oidc-provider"
	RoleResource         Resource = "iam-role"
	DistributionResource Resource = "cloudfront-distribution"
)

// Action is what a change does.
type Action string

const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

// Fields a change can name.
const (
	FieldTags                = "tags"
	FieldPolicy              = "policy"
	FieldTrustPolicy         = "trust-policy"
	FieldPermissionsBoundary = "permissions-boundary"
	FieldExtraPolicies       = "extra-policies"
	FieldPublicAccessBlock   = "public-access-block"
	FieldBucketPolicy        = "bucket-policy"
	FieldContent             = "content"
	FieldClientIDs           = "client-ids"
	FieldPath                = "path"
)
