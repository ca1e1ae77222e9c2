package awsworld

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// backend reads moto's state directly (not through the gate, so the
// gate's own reads are neither logged nor faulted).
type backend struct {
	url string
	iam *iam.Client
	s3  *s3.Client
	cf  *cloudfront.Client
}

func newBackend(motoURL string) backend { return backend{url: motoURL}.in("us-east-1") }

// in is the backend as seen from region: moto keeps IAM (and more) per partition.
func (b backend) in(region string) backend {
	if region == "" {
		region = "us-east-1"
	}
	motoURL := b.url
	cfg := aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("gate", "gate", ""),
		BaseEndpoint: aws.String(motoURL),
	}
	return backend{
		url: motoURL,
		iam: iam.NewFromConfig(cfg),
		s3:  s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		cf:  cloudfront.NewFromConfig(cfg),
	}
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// bucketAccess is what decides anonymous and CloudFront access to a bucket.
type bucketAccess struct {
	exists      bool
	block       s3types.PublicAccessBlockConfiguration
	aclsEnabled bool
	partition   string
	policy      policyDoc
}

func (b backend) bucketAccess(ctx context.Context, bucket string) (bucketAccess, error) {
	var a bucketAccess
	pab, err := b.s3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: &bucket})
	switch {
	case err == nil:
		a.block = *pab.PublicAccessBlockConfiguration
	case errorCode(err) == "NoSuchBucket":
		return a, nil
	case errorCode(err) != "NoSuchPublicAccessBlockConfiguration":
		return a, err
	}
	a.exists = true
	a.aclsEnabled = true
	a.partition = "aws"
	if loc, err := b.s3.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: &bucket}); err == nil {
		a.partition = partitionOf(string(loc.LocationConstraint))
	}
	own, err := b.s3.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: &bucket})
	if err == nil {
		for _, r := range own.OwnershipControls.Rules {
			a.aclsEnabled = r.ObjectOwnership != s3types.ObjectOwnershipBucketOwnerEnforced
		}
	} else if errorCode(err) != "OwnershipControlsNotFoundError" {
		return a, err
	}
	pol, err := b.s3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: &bucket})
	if err == nil {
		a.policy, err = parsePolicy(aws.ToString(pol.Policy))
		return a, err
	}
	if errorCode(err) != "NoSuchBucketPolicy" {
		return a, err
	}
	return a, nil
}

// roleTrust returns a role's trust policy, or ok=false when it does not exist.
func (b backend) roleTrust(ctx context.Context, roleName string) (doc string, ok bool, err error) {
	out, err := b.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: &roleName})
	if errorCode(err) == "NoSuchEntity" {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return decodePolicy(aws.ToString(out.Role.AssumeRolePolicyDocument)), true, nil
}

// decodePolicy undoes IAM's URL-encoding of policy documents in responses.
func decodePolicy(doc string) string {
	if strings.HasPrefix(doc, "%7B") {
		if d, err := url.QueryUnescape(doc); err == nil {
			return d
		}
	}
	return doc
}

// homeRegion is a region of partition, to reach that partition's moto state.
func homeRegion(partition string) string {
	switch partition {
	case "aws-cn":
		return "cn-north-1"
	case "aws-us-gov":
		return "us-gov-west-1"
	}
	return "us-east-1"
}

func partitionOf(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

func (b backend) reset(ctx context.Context) error {
	return (&Moto{URL: b.url}).Reset(ctx)
}
