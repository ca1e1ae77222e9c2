package provision

import (
	"context"
	"fmt"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Host is the virtual-hosted name of a bucket as the AWS SDK's endpoint
// rules resolve it for region (bucket.s3.cn-north-1.amazonaws.com.cn, ...):
// the host anonymous callers, STS among them, fetch a public issuer from,
// and a private issuer's CloudFront origin. It is computed here, at the
// edge, and handed to the plan (plan.Input.BucketHost), which needs no SDK.
// No network call is made.
func S3Host(region, bucket string) (string, error) {
	e, err := s3.NewDefaultEndpointResolverV2().ResolveEndpoint(context.Background(), s3.EndpointParameters{Region: aws.String(region), Bucket: aws.String(bucket)})
	if err != nil {
		return "", fmt.Errorf("resolving the S3 endpoint of bucket %s in %s: %w", bucket, region, err)
	}
	u, err := url.Parse(e.URI.String())
	if err != nil {
		return "", err
	}
	return u.Host, nil
}
