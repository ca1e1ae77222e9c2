// Package awsid is the one home of the identifiers AWS knows a cluster's
// resources by, and of the formats they are written in: partitions, ARNs,
// the issuer's URL and host, the token audience and the ownership tag.
//
// It depends on no AWS SDK package: the plan (the pure desired state)
// builds its ARNs here. Where an ARN comes from AWS it is parsed with the
// SDK's aws/arn (provision, clustercheck), and the test holds every ARN
// built here to what aws/arn parses.
package awsid

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Partition is an AWS partition: the ARN prefix and the DNS suffix of its endpoints.
type Partition struct {
	ID        string `json:"id"`
	DNSSuffix string `json:"dnsSuffix"`
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// PartitionFor returns the partition of region; the prefixes are those of
// the AWS SDK's partition table for the partitions OpenShift installs into.
func PartitionFor(region string) (Partition, error) {
	if !regionRE.MatchString(region) {
		return Partition{}, fmt.Errorf("region %q is not an AWS region name (like us-east-1)", region)
	}
	switch {
	case strings.HasPrefix(region, "cn-"):
		return Partition{ID: "aws-cn", DNSSuffix: "amazonaws.com.cn"}, nil
	case strings.HasPrefix(region, "us-gov-"):
		return Partition{ID: "aws-us-gov", DNSSuffix: "amazonaws.com"}, nil
	case strings.HasPrefix(region, "us-iso"), strings.HasPrefix(region, "eu-iso"):
		return Partition{}, fmt.Errorf("region %q is in an isolated partition, which oc sts does not support", region)
	}
	return Partition{ID: "aws", DNSSuffix: "amazonaws.com"}, nil
}

// arn is the one place an ARN is spelled:
// arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE.
func arn(partition, service, region, account, resource string) string {
	return "arn:" + partition + ":" + service + ":" + region + ":" + account + ":" + resource
}

// RoleARN is the ARN of the IAM role name under path (which starts and ends with /).
func RoleARN(partition, account, path, name string) string {
	return arn(partition, "iam", "", account, "role"+path+name)
}

// RoleARNPrefix is what the ARNs of account's roles under path begin with.
func RoleARNPrefix(partition, account, path string) string {
	return RoleARN(partition, account, path, "")
}

// ProviderARN is the ARN of the IAM OIDC provider of an issuer host.
func ProviderARN(partition, account, issuerHost string) string {
	return arn(partition, "iam", "", account, "oidc-provider/"+issuerHost)
}

// UserARN is the ARN of an IAM user (path included in name, if any).
func UserARN(partition, account, name string) string {
	return arn(partition, "iam", "", account, "user/"+name)
}

// ObjectARN is the ARN of an S3 object (S3 ARNs name no region or account).
func ObjectARN(partition, bucket, key string) string {
	return arn(partition, "s3", "", "", bucket+"/"+key)
}

// DistributionARNPrefix is what the ARNs of account's CloudFront
// distributions begin with (CloudFront is global: no region).
func DistributionARNPrefix(partition, account string) string {
	return arn(partition, "cloudfront", "", account, "distribution/")
}

var policyARNRE = regexp.MustCompile(`^(?:[0-9]{12}|aws):policy/[\w+=,.@/-]+$`)

// IsPolicyARN says whether s is an IAM managed policy ARN of partition (a
// customer's or an AWS managed one).
func IsPolicyARN(partition, s string) bool {
	prefix := strings.TrimSuffix(arn(partition, "iam", "", "", ""), ":") // arn:P:iam::, then ACCOUNT:policy/...
	return strings.HasPrefix(s, prefix) && policyARNRE.MatchString(s[len(prefix):])
}

// PolicyARNForm is how a policy ARN of partition looks, for messages.
func PolicyARNForm(partition string) string {
	return arn(partition, "iam", "", "ACCOUNT", "policy/NAME")
}

// IssuerURL is the service-account issuer served from host (https, no
// trailing slash: the cluster's spec.serviceAccountIssuer, the token's iss
// and IAM compare it byte for byte).
func IssuerURL(host string) string { return "https://" + host }

// IssuerHost is the issuer URL without its scheme: the IAM OIDC provider's
// name and the prefix of its condition keys (HOST:sub, HOST:aud).
func IssuerHost(issuerURL string) string { return strings.TrimPrefix(issuerURL, "https://") }

// Audience is the token audience OpenShift components request for AWS.
const Audience = "openshift"

// ClientIDs are the audiences registered on the IAM OIDC provider.
var ClientIDs = []string{Audience, "sts.amazonaws.com"}

// ownershipPrefix is the key prefix of the ownership tag: the same key
// ccoctl uses, so its resources and ours are recognised alike.
const ownershipPrefix = "openshift.io/cloud-credential-operator/"

// OwnershipTagKey marks every resource created for name.
func OwnershipTagKey(name string) string { return ownershipPrefix + name }

// OwnedValue is the value of the ownership tag.
const OwnedValue = "owned"

// Owned says whether tags mark a resource as name's.
func Owned(tags map[string]string, name string) bool {
	return tags[OwnershipTagKey(name)] == OwnedValue
}

// Owner reads the ownership tag back: the name tags mark a resource as
// owned by, or "" (the lexically first when, oddly, there are several).
func Owner(tags map[string]string) string {
	if owners := Owners(tags); len(owners) > 0 {
		return owners[0]
	}
	return ""
}

// Owners are all the names tags mark a resource as owned by, sorted.
func Owners(tags map[string]string) []string {
	var out []string
	for k, v := range tags {
		if name, ok := strings.CutPrefix(k, ownershipPrefix); ok && v == OwnedValue && name != "" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// IsOwnershipTag says whether key is an ownership tag's (of any name).
func IsOwnershipTag(key string) bool { return strings.HasPrefix(key, ownershipPrefix) }
