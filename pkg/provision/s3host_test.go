package provision

import "testing"

// The issuer host is the bucket's virtual-hosted name in its region's
// partition, as the SDK's endpoint rules give it (and STS fetches it).
func TestS3Host(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1":     "mycluster-oidc.s3.us-east-1.amazonaws.com",
		"us-east-2":     "mycluster-oidc.s3.us-east-2.amazonaws.com",
		"us-gov-west-1": "mycluster-oidc.s3.us-gov-west-1.amazonaws.com",
		"cn-north-1":    "mycluster-oidc.s3.cn-north-1.amazonaws.com.cn",
	} {
		if got, err := S3Host(region, "mycluster-oidc"); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", region, got, err, want)
		}
	}
}
