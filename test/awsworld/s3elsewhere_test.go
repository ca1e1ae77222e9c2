package awsworld

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	s3ctypes "github.com/aws/aws-sdk-go-v2/service/s3control/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// s3controlClient reaches the gate as a product does with HTTP_PROXY set:
// S3 Control puts the account ID in front of the endpoint's host.
func s3controlClient(cfg aws.Config) *s3control.Client {
	proxy, _ := url.Parse(gateURL)
	return s3control.NewFromConfig(cfg, func(o *s3control.Options) {
		o.HTTPClient = &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	})
}

func blockAccount(t *testing.T, c *s3control.Client, on bool) {
	t.Helper()
	_, err := c.PutPublicAccessBlock(context.Background(), &s3control.PutPublicAccessBlockInput{AccountId: aws.String("123456789012"), PublicAccessBlockConfiguration: &s3ctypes.PublicAccessBlockConfiguration{
		BlockPublicAcls: aws.Bool(on), IgnorePublicAcls: aws.Bool(on), BlockPublicPolicy: aws.Bool(on), RestrictPublicBuckets: aws.Bool(on)}})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMotoS3Gaps shows what moto does that S3 does not: it applies no
// account-level Block Public Access, ignores the expected bucket owner,
// serves a bucket to a request signed for another region, and has one
// account whatever the credentials (so no bucket name can be taken).
func TestMotoS3Gaps(t *testing.T) {
	if err := moto.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b := newBackend(moto.URL)
	if _, err := b.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("gap")}); err != nil {
		t.Fatal(err)
	}
	setBlock(t, b.s3, "gap", false, false)
	blockAccount(t, b.s3c, true)
	if _, err := b.s3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("gap"), Policy: aws.String(publicReadPolicy("aws", "gap", "k"))}); err != nil {
		t.Errorf("moto now applies account-level BlockPublicPolicy (%v): the gate's rule is redundant", err)
	}
	if _, err := b.s3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("gap"), ExpectedBucketOwner: aws.String("999999999999")}); err != nil {
		t.Errorf("moto now checks the expected bucket owner (%v): the gate's rule is redundant", err)
	}
	west := b.in("us-west-2")
	if _, err := west.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("gap-west"), CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: "us-west-2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("gap-west")}); errorCode(err) != "NoSuchBucketPolicy" {
		t.Errorf("moto now redirects a request signed for another region (%v): the gate's rule is redundant", err)
	}
	other := sts.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(moto.URL), Credentials: credentials.NewStaticCredentialsProvider("210987654321", "other", "")})
	if id, err := other.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil || aws.ToString(id.Account) != "123456789012" {
		t.Errorf("moto now has more than one account (%v %v): foreign buckets could live in moto", err, id)
	}
}

func TestGateAccountBlockPublicAccess(t *testing.T) {
	g, cfg := world(t)
	ctx := context.Background()
	c := s3Client(cfg)
	const bucket = "account-blocked"
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	putObject(t, c, bucket, "keys.json", `{"keys":[]}`)
	setBlock(t, c, bucket, false, false)
	ctl := s3controlClient(cfg)
	blockAccount(t, ctl, true)
	got, err := ctl.GetPublicAccessBlock(ctx, &s3control.GetPublicAccessBlockInput{AccountId: aws.String("123456789012")})
	if err != nil || !aws.ToBool(got.PublicAccessBlockConfiguration.BlockPublicPolicy) {
		t.Fatalf("s3control through the gate: %v", err)
	}
	policy := publicReadPolicy("aws", bucket, "keys.json")
	_, err = c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: &policy})
	wantCode(t, "public policy under the account's BlockPublicPolicy", err, "AccessDenied")
	if want := `User: arn:aws:sts::123456789012:user/moto is not authorized to perform: s3:PutBucketPolicy on resource: "arn:aws:s3:::account-blocked" because public policies are blocked by the BlockPublicPolicy block public access setting.`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("S3's wording expected, got %v", err)
	}
	blockAccount(t, ctl, false)
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: &policy}); err != nil {
		t.Fatal(err)
	}
	web := webClient(t, g)
	host := "https://" + bucket + ".s3.us-east-1.amazonaws.com/keys.json"
	if got := httpStatus(t, web, "GET", host); got != 200 {
		t.Fatalf("public read: %d", got)
	}
	blockAccount(t, ctl, true) // RestrictPublicBuckets of the account overrides the bucket's policy
	if got := httpStatus(t, web, "GET", host); got != 403 {
		t.Errorf("public read under the account's RestrictPublicBuckets: %d, want 403", got)
	}
	var ops []string
	for _, call := range g.Calls() {
		if call.Service == "s3control" {
			ops = append(ops, call.Operation)
		}
	}
	if len(ops) != 4 || ops[1] != "GET /v20180820/configuration/publicAccessBlock" {
		t.Errorf("s3control calls in the log: %v", ops)
	}
}

func TestGateForeignBucketAndExpectedOwner(t *testing.T) {
	g, cfg := world(t)
	ctx := context.Background()
	c := s3Client(cfg)
	g.ForeignBucket("squatted-oidc", "210987654321")
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("squatted-oidc")})
	wantCode(t, "CreateBucket of a name another account owns", err, "BucketAlreadyExists")
	_, err = c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("squatted-oidc")})
	wantCode(t, "reading another account's bucket", err, "AccessDenied")
	if got := httpStatus(t, webClient(t, g), "GET", "https://squatted-oidc.s3.us-east-1.amazonaws.com/keys.json"); got != 403 {
		t.Errorf("anonymous read of another account's bucket: %d, want 403", got)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("mine")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("mine"), ExpectedBucketOwner: aws.String("210987654321")})
	wantCode(t, "another expected owner", err, "AccessDenied")
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("mine"), ExpectedBucketOwner: aws.String("123456789012")}); err != nil {
		t.Errorf("the right expected owner: %v", err)
	}
	if last := g.Calls()[len(g.Calls())-1]; last.ExpectedBucketOwner != "123456789012" {
		t.Errorf("the expected owner is not in the call log: %+v", last)
	}
}

// What the SDK surfaces for a bucket of another region: S3's code, and the
// region in a header (regional endpoint) or in the message (global endpoint).
func TestGateBucketInAnotherRegion(t *testing.T) {
	g, cfg := world(t)
	ctx := context.Background()
	west := cfg.Copy()
	west.Region = "us-west-2"
	if _, err := s3Client(west).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("far-oidc"), CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: "us-west-2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3Client(west).GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("far-oidc")}); errorCode(err) != "NoSuchBucketPolicy" {
		t.Errorf("from its own region: %v", err)
	}
	c := s3Client(cfg)
	_, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("far-oidc")})
	wantCode(t, "regional endpoint of another region", err, "PermanentRedirect")
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusMovedPermanently || re.Response.Header.Get("x-amz-bucket-region") != "us-west-2" {
		t.Errorf("the SDK should surface status 301 and x-amz-bucket-region: %v", err)
	}
	g.S3GlobalEndpoint(true)
	_, err = c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("far-oidc")})
	wantCode(t, "global endpoint", err, "AuthorizationHeaderMalformed")
	if err == nil || !strings.Contains(err.Error(), "the region 'us-east-1' is wrong; expecting 'us-west-2'") {
		t.Errorf("the region is named in the message: %v", err)
	}
	if loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("far-oidc")}); err != nil || loc.LocationConstraint != "us-west-2" {
		t.Errorf("GetBucketLocation answers from any region: %v", err)
	}
	web := webClient(t, g)
	for url, want := range map[string]int{
		"https://far-oidc.s3.us-east-1.amazonaws.com/keys.json": http.StatusMovedPermanently, // another region's endpoint
		"https://s3.us-east-1.amazonaws.com/far-oidc/keys.json": http.StatusMovedPermanently,
		"https://far-oidc.s3.us-west-2.amazonaws.com/keys.json": http.StatusForbidden, // its own: not public
		"https://far-oidc.s3.amazonaws.com/keys.json":           http.StatusForbidden, // the global endpoint finds it
	} {
		if got := httpStatus(t, web, "GET", url); got != want {
			t.Errorf("anonymous GET %s: %d, want %d", url, got, want)
		}
	}
}
