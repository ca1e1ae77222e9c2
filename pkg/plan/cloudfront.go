package plan

// A private issuer is served by one CloudFront distribution reading the
// bucket through an origin access control. These are its settings, the same
// whether prepare creates it or a CloudFormation stack declares it.
const (
	// CachingOptimizedPolicyID is CloudFront's managed cache policy of that name.
	CachingOptimizedPolicyID = "658327ea-f89d-4fab-a63d-7e88639e58f6"
	// DistributionOriginID names the bucket origin inside the distribution.
	DistributionOriginID = "oidc"
)

// OACName is the origin access control of name's distribution (OACs carry
// no tags: the name identifies it).
func OACName(name string) string { return BucketName(name) + "-oac" }

// DistributionComment is the comment of name's distribution.
func DistributionComment(name string) string { return "OIDC issuer of " + name + " (oc sts)" }

// OACDescription is the description of name's origin access control.
func OACDescription(name string) string { return "oc sts " + name }
