package awsworld

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// A private issuer: a fully blocked bucket served by CloudFront through
// origin access control.
func TestCloudFrontPrivateIssuer(t *testing.T) {
	g, cfg := world(t)
	// Long enough that a loaded machine still asks while it deploys.
	g.SetDeployDelay(2 * time.Second)
	ctx := context.Background()
	const bucket = "private-oidc"
	c := s3Client(cfg)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	putObject(t, c, bucket, "keys.json", `{"keys":[]}`)
	cf := cloudfront.NewFromConfig(cfg)
	d, oac := newOACDistribution(t, cf, bucket)
	id := d.Distribution.Id
	if arn := aws.ToString(d.Distribution.ARN); arn != "arn:aws:cloudfront::123456789012:distribution/"+aws.ToString(id) {
		t.Errorf("distribution ARN %s is not in AWS's form", arn)
	}
	tags, err := cf.ListTagsForResource(ctx, &cloudfront.ListTagsForResourceInput{Resource: d.Distribution.ARN})
	if err != nil || tags.Tags == nil {
		t.Errorf("tags by AWS's ARN: %v", err)
	}
	status := func() string {
		got, err := cf.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		if o := got.Distribution.DistributionConfig.Origins.Items[0]; aws.ToString(o.OriginAccessControlId) != aws.ToString(oac.OriginAccessControl.Id) {
			t.Errorf("origin access control %q not kept on the origin", aws.ToString(o.OriginAccessControlId))
		}
		return aws.ToString(got.Distribution.Status)
	}
	if s := status(); s != "InProgress" {
		t.Errorf("a new distribution is %s, want InProgress", s)
	}
	_, err = cf.DeleteDistribution(ctx, &cloudfront.DeleteDistributionInput{Id: id, IfMatch: d.ETag})
	wantCode(t, "delete while InProgress", err, "DistributionNotDisabled")

	web := webClient(t, g)
	url := "https://" + aws.ToString(d.Distribution.DomainName) + "/keys.json"
	if got := httpStatus(t, web, "GET", url); got != 403 {
		t.Errorf("before the bucket policy grants CloudFront: %d, want 403", got)
	}
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cloudfront.amazonaws.com"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*","Condition":{"StringEquals":{"AWS:SourceArn":%q}}}]}`, bucket, aws.ToString(d.Distribution.ARN))
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: &policy}); err != nil {
		t.Fatalf("an OAC policy is not public, BlockPublicPolicy must allow it: %v", err)
	}
	if got := httpStatus(t, web, "GET", url); got != 200 {
		t.Errorf("through origin access control: %d, want 200", got)
	}
	if got := httpStatus(t, web, "GET", "https://"+bucket+".s3.us-east-1.amazonaws.com/keys.json"); got != 403 {
		t.Errorf("the bucket itself stays private: %d, want 403", got)
	}
	time.Sleep(2100 * time.Millisecond)
	if s := status(); s != "Deployed" {
		t.Errorf("after the deploy delay the distribution is %s, want Deployed", s)
	}
}

// newOACDistribution makes a distribution serving bucket through a new
// origin access control, with oc sts's cache policy.
func newOACDistribution(t *testing.T, cf *cloudfront.Client, bucket string) (*cloudfront.CreateDistributionOutput, *cloudfront.CreateOriginAccessControlOutput) {
	t.Helper()
	ctx := context.Background()
	oac, err := cf.CreateOriginAccessControl(ctx, &cloudfront.CreateOriginAccessControlInput{OriginAccessControlConfig: &cftypes.OriginAccessControlConfig{
		Name: aws.String(bucket + "-oac"), OriginAccessControlOriginType: cftypes.OriginAccessControlOriginTypesS3,
		SigningBehavior: cftypes.OriginAccessControlSigningBehaviorsAlways, SigningProtocol: cftypes.OriginAccessControlSigningProtocolsSigv4}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: &cftypes.DistributionConfig{
		CallerReference: aws.String(bucket), Comment: aws.String(""), Enabled: aws.Bool(true),
		Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{
			Id: aws.String("s3"), DomainName: aws.String(bucket + ".s3.us-east-1.amazonaws.com"),
			OriginAccessControlId: oac.OriginAccessControl.Id, S3OriginConfig: &cftypes.S3OriginConfig{OriginAccessIdentity: aws.String("")}}}},
		DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{TargetOriginId: aws.String("s3"), ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyHttpsOnly,
			CachePolicyId: aws.String("658327ea-f89d-4fab-a63d-7e88639e58f6")}}})
	if err != nil {
		t.Fatal(err)
	}
	return d, oac
}
