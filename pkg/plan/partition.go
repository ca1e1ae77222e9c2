package plan

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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

// S3Host is the virtual-hosted name of a bucket as the AWS SDK's endpoint
// rules resolve it for region (bucket.s3.cn-north-1.amazonaws.com.cn, ...):
// the host anonymous callers, STS among them, fetch the issuer from.
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
