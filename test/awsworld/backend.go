package awsworld

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// backend reads moto's state directly (not through the gate, so the
// gate's own reads are neither logged nor faulted).
type backend struct {
	url string
	iam *iam.Client
	s3  *s3.Client
	cf  *cloudfront.Client
	sts *sts.Client
	// s3c is S3 Control, whose SDK puts the account ID in front of the
	// endpoint's host (123456789012.127.0.0.1): toMoto dials moto whatever the host.
	s3c    *s3control.Client
	toMoto *http.Client
}

func newBackend(motoURL string) backend {
	u, _ := url.Parse(motoURL)
	var d net.Dialer
	toMoto := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, u.Host)
	}}}
	return backend{url: motoURL, toMoto: toMoto}.in("us-east-1")
}

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
		url:    motoURL,
		iam:    iam.NewFromConfig(cfg),
		s3:     s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		cf:     cloudfront.NewFromConfig(cfg),
		sts:    sts.NewFromConfig(cfg),
		s3c:    s3control.NewFromConfig(cfg, func(o *s3control.Options) { o.HTTPClient = b.toMoto }),
		toMoto: b.toMoto,
	}
}

// identity is who moto says every caller is (it has a single account).
type identity struct{ account, arn string }

// caller is moto's caller in the partition of region, asked once.
func (g *Gate) caller(ctx context.Context, region string) (identity, error) {
	part := partitionOf(region)
	g.mu.Lock()
	id, ok := g.ids[part]
	g.mu.Unlock()
	if ok {
		return id, nil
	}
	out, err := g.moto.in(homeRegion(part)).sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return id, err
	}
	id = identity{aws.ToString(out.Account), aws.ToString(out.Arn)}
	g.mu.Lock()
	g.ids[part] = id
	g.mu.Unlock()
	return id, nil
}

// bucketRegion is where moto keeps bucket; ok is false when it has none.
func (b backend) bucketRegion(ctx context.Context, bucket string) (region string, ok bool, err error) {
	loc, err := b.s3.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: &bucket})
	switch {
	case errorCode(err) == "NoSuchBucket":
		return "", false, nil
	case err != nil:
		return "", false, err
	case loc.LocationConstraint == "":
		return "us-east-1", true, nil
	}
	return string(loc.LocationConstraint), true, nil
}

// accountBlock is the account-level public access block (s3control), all
// false when the account has none.
func (b backend) accountBlock(ctx context.Context, account string) (s3types.PublicAccessBlockConfiguration, error) {
	off := s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(false), IgnorePublicAcls: aws.Bool(false), BlockPublicPolicy: aws.Bool(false), RestrictPublicBuckets: aws.Bool(false)}
	out, err := b.s3c.GetPublicAccessBlock(ctx, &s3control.GetPublicAccessBlockInput{AccountId: &account})
	if errorCode(err) == "NoSuchPublicAccessBlockConfiguration" {
		return off, nil
	}
	if err != nil {
		return off, err
	}
	c := out.PublicAccessBlockConfiguration
	return s3types.PublicAccessBlockConfiguration{BlockPublicAcls: c.BlockPublicAcls, IgnorePublicAcls: c.IgnorePublicAcls, BlockPublicPolicy: c.BlockPublicPolicy, RestrictPublicBuckets: c.RestrictPublicBuckets}, nil
}

// access is what decides anonymous and CloudFront access to a bucket in
// region: the bucket's own public access block combined with its account's,
// as S3 applies them (the stricter of the two, setting by setting).
func (g *Gate) access(ctx context.Context, region, bucket string) (bucketAccess, error) {
	moto := g.moto.in(region)
	a, err := moto.bucketAccess(ctx, bucket)
	if err != nil || !a.exists {
		return a, err
	}
	id, err := g.caller(ctx, region)
	if err != nil {
		return a, err
	}
	acct, err := moto.accountBlock(ctx, id.account)
	if err != nil {
		return a, err
	}
	either := func(x, y *bool) *bool { return aws.Bool(aws.ToBool(x) || aws.ToBool(y)) }
	a.block = s3types.PublicAccessBlockConfiguration{
		BlockPublicAcls:       either(a.block.BlockPublicAcls, acct.BlockPublicAcls),
		IgnorePublicAcls:      either(a.block.IgnorePublicAcls, acct.IgnorePublicAcls),
		BlockPublicPolicy:     either(a.block.BlockPublicPolicy, acct.BlockPublicPolicy),
		RestrictPublicBuckets: either(a.block.RestrictPublicBuckets, acct.RestrictPublicBuckets),
	}
	return a, nil
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
