package awsworld

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// CloudFront serves a changed object stale until its cached copy expires
// or an invalidation of its path completes; the invalidation is InProgress
// until then.
func TestCloudFrontCacheAndInvalidation(t *testing.T) {
	g, cfg := world(t)
	g.SetCloudFrontCache(time.Hour, 700*time.Millisecond)
	ctx := context.Background()
	const bucket = "cached-oidc"
	c := s3Client(cfg)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	putObject(t, c, bucket, "keys.json", `{"keys":["old"]}`)
	cf := cloudfront.NewFromConfig(cfg)
	d, _ := newOACDistribution(t, cf, bucket)
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cloudfront.amazonaws.com"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*","Condition":{"StringEquals":{"AWS:SourceArn":%q}}}]}`, bucket, aws.ToString(d.Distribution.ARN))
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: &policy}); err != nil {
		t.Fatal(err)
	}
	web := webClient(t, g)
	url := "https://" + aws.ToString(d.Distribution.DomainName) + "/keys.json"
	get := func() string {
		resp, err := web.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get(); got != `{"keys":["old"]}` {
		t.Fatalf("first fetch: %s", got)
	}
	putObject(t, c, bucket, "keys.json", `{"keys":["new"]}`)
	if got := get(); got != `{"keys":["old"]}` {
		t.Errorf("a cached object is served stale until it expires or is invalidated; got %s", got)
	}
	inv, err := cf.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{DistributionId: d.Distribution.Id, InvalidationBatch: &cftypes.InvalidationBatch{
		CallerReference: aws.String("ref"), Paths: &cftypes.Paths{Quantity: aws.Int32(1), Items: []string{"/keys.json"}}}})
	if err != nil {
		t.Fatal(err)
	}
	status := func() string {
		got, err := cf.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: d.Distribution.Id, Id: inv.Invalidation.Id})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(got.Invalidation.Status)
	}
	if s := aws.ToString(inv.Invalidation.Status); s != "InProgress" || status() != "InProgress" {
		t.Errorf("a new invalidation is %s / %s, want InProgress", s, status())
	}
	if got := get(); got != `{"keys":["old"]}` {
		t.Errorf("still stale while the invalidation is in progress; got %s", got)
	}
	time.Sleep(800 * time.Millisecond)
	if s := status(); s != "Completed" {
		t.Errorf("after the delay the invalidation is %s, want Completed (AWS's spelling)", s)
	}
	if got := get(); got != `{"keys":["new"]}` {
		t.Errorf("after the invalidation: %s", got)
	}
}
