package awsid_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	. "github.com/oc-sts/oc-sts/pkg/awsid"
)

// Every ARN built here is what the SDK's aws/arn parses back into the
// same parts.
func TestARNsParseWithTheSDK(t *testing.T) {
	for _, tc := range []struct {
		got                                   string
		partition, service, account, resource string
	}{
		{RoleARN("aws", "123456789012", "/", "c-ns-s"), "aws", "iam", "123456789012", "role/c-ns-s"},
		{RoleARN("aws-cn", "123456789012", "/openshift/", "r"), "aws-cn", "iam", "123456789012", "role/openshift/r"},
		{ProviderARN("aws-us-gov", "123456789012", "c-oidc.s3.us-gov-west-1.amazonaws.com"), "aws-us-gov", "iam", "123456789012", "oidc-provider/c-oidc.s3.us-gov-west-1.amazonaws.com"},
		{UserARN("aws", "123456789012", "admin"), "aws", "iam", "123456789012", "user/admin"},
		{ObjectARN("aws", "c-oidc", "keys.json"), "aws", "s3", "", "c-oidc/keys.json"},
		{DistributionARNPrefix("aws", "123456789012") + "E1", "aws", "cloudfront", "123456789012", "distribution/E1"},
	} {
		a, err := arn.Parse(tc.got)
		if err != nil || a.Partition != tc.partition || a.Service != tc.service || a.Region != "" || a.AccountID != tc.account || a.Resource != tc.resource {
			t.Errorf("%s parses as %+v %v", tc.got, a, err)
		}
	}
}

func TestPolicyARNs(t *testing.T) {
	for s, want := range map[string]bool{
		"arn:aws:iam::123456789012:policy/boundary":         true,
		"arn:aws:iam::aws:policy/ReadOnlyAccess":            true,
		"arn:aws:iam::123456789012:policy/path/to/boundary": true,
		"arn:aws-cn:iam::123456789012:policy/boundary":      false, // another partition
		"arn:aws:iam::123456789012:role/boundary":           false,
		"arn:aws:iam::12345:policy/boundary":                false,
	} {
		if got := IsPolicyARN("aws", s); got != want {
			t.Errorf("IsPolicyARN(aws, %s) = %v", s, got)
		}
	}
}

func TestOwnershipTagReadBack(t *testing.T) {
	tags := map[string]string{"team": "x", OwnershipTagKey("c"): OwnedValue}
	if Owner(tags) != "c" || !Owned(tags, "c") || Owned(tags, "d") {
		t.Errorf("owner %q", Owner(tags))
	}
	if Owner(map[string]string{OwnershipTagKey("c"): "shared"}) != "" {
		t.Error("a value other than owned names no owner")
	}
}
