package awsworld

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func s3Client(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

func putObject(t *testing.T, c *s3.Client, bucket, key, body string) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

// publicReadPolicy grants anonymous s3:GetObject on the given keys only.
func publicReadPolicy(partition, bucket string, keys ...string) string {
	var res []string
	for _, k := range keys {
		res = append(res, fmt.Sprintf("%q", s3ARN(partition, bucket, k)))
	}
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":[%s]}]}`, strings.Join(res, ","))
}

func setBlock(t *testing.T, c *s3.Client, bucket string, policy, restrict bool) {
	t.Helper()
	_, err := c.PutPublicAccessBlock(context.Background(), &s3.PutPublicAccessBlockInput{Bucket: &bucket, PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
		BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: &policy, RestrictPublicBuckets: &restrict}})
	if err != nil {
		t.Fatal(err)
	}
}

// A public issuer bucket as AWS has it: blocked by default, readable
// anonymously only where the policy grants, over HTTPS through a proxy.
func TestS3PublicAccessAsAWS(t *testing.T) {
	g, cfg := world(t)
	ctx := context.Background()
	c := s3Client(cfg)
	const bucket = "issuer-bucket"
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	pab, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
	if err != nil || !aws.ToBool(pab.PublicAccessBlockConfiguration.BlockPublicPolicy) || !aws.ToBool(pab.PublicAccessBlockConfiguration.RestrictPublicBuckets) {
		t.Fatalf("a new bucket must block public access: %v %+v", err, pab)
	}
	putObject(t, c, bucket, "keys.json", `{"keys":[]}`)
	putObject(t, c, bucket, "secret", "private")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("acl"), Body: strings.NewReader("x"), ACL: s3types.ObjectCannedACLPublicRead})
	wantCode(t, "public-read ACL on a bucket with ACLs disabled", err, "AccessControlListNotSupported")

	policy := publicReadPolicy("aws", bucket, "keys.json")
	_, err = c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: &policy})
	wantCode(t, "public policy while BlockPublicPolicy", err, "AccessDenied")
	setBlock(t, c, bucket, false, false)
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: &policy}); err != nil {
		t.Fatal(err)
	}

	web := webClient(t, g)
	host := "https://" + bucket + ".s3.us-east-1.amazonaws.com"
	for _, tc := range []struct {
		method, url string
		want        int
	}{
		{"GET", host + "/keys.json", 200},
		{"HEAD", host + "/keys.json", 200},
		{"GET", "https://s3.us-east-1.amazonaws.com/" + bucket + "/keys.json", 200},
		{"GET", host + "/secret", 403},
		{"GET", host + "/", 403}, // not listable
		{"PUT", host + "/keys.json", 403},
		{"DELETE", host + "/keys.json", 403},
		{"GET", "https://no-such-bucket.s3.us-east-1.amazonaws.com/keys.json", 404},
	} {
		if got := httpStatus(t, web, tc.method, tc.url); got != tc.want {
			t.Errorf("anonymous %s %s: %d, want %d", tc.method, tc.url, got, tc.want)
		}
	}
	setBlock(t, c, bucket, false, true)
	if got := httpStatus(t, web, "GET", host+"/keys.json"); got != http.StatusForbidden {
		t.Errorf("RestrictPublicBuckets on: anonymous GET %d, want 403", got)
	}
	calls := g.Calls()
	if last := calls[len(calls)-1]; last.Service != "https" || last.Operation != "GET "+bucket+".s3.us-east-1.amazonaws.com/keys.json" {
		t.Errorf("web fetch logged as %+v", last)
	}
}
