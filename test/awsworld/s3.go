package awsworld

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3 as AWS has it since April 2023, where moto differs: new buckets block
// all public access and disable ACLs; a public bucket policy is refused
// while BlockPublicPolicy is on, for the bucket or for its whole account
// (s3control PutPublicAccessBlock: moto stores it and applies none of it);
// anonymous callers get exactly what the bucket policy (or, with ACLs
// enabled, a public ACL) grants — no listing unless granted, HEAD wherever
// GET is allowed, nothing of a bucket of another account.

var accessDenied = &apiError{http.StatusForbidden, "AccessDenied", "Access Denied"}

// anonymousS3 answers an unsigned request for bucket/key at an endpoint of
// region; pinned when the host named the region (a regional endpoint
// redirects requests for buckets elsewhere, the global one finds them).
func (g *Gate) anonymousS3(w http.ResponseWriter, r *http.Request, region, bucket, key string, pinned bool) {
	if _, ok := g.foreignOwner(bucket); ok {
		accessDenied.write(w, "s3")
		return
	}
	a, err := g.access(r.Context(), region, bucket)
	if err != nil || !a.exists {
		g.proxy.ServeHTTP(w, r) // moto's own answer: NoSuchBucket
		return
	}
	if at, ok, err := g.moto.in(region).bucketRegion(r.Context(), bucket); pinned && err == nil && ok && at != region {
		permanentRedirect(w, bucket, at)
		return
	}
	d := a.policy.decide(policyRequest{who: anonymous, action: s3ActionOf(r.Method, key, r.URL.Query()), resource: s3ARN(a.partition, bucket, key)})
	switch {
	case d == allowed && !aws.ToBool(a.block.RestrictPublicBuckets):
		signAsOwner(r, region)
		g.proxy.ServeHTTP(w, r)
	case d != explicitDeny && a.aclsEnabled && !aws.ToBool(a.block.IgnorePublicAcls):
		g.proxy.ServeHTTP(w, r) // moto evaluates public ACLs itself
	default:
		accessDenied.write(w, "s3")
	}
}

// s3Guards refuses what S3 refuses and moto accepts.
func (g *Gate) s3Guards(ctx context.Context, region string, r *http.Request, body []byte) *apiError {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	setsPolicy := r.Method == http.MethodPut && key == "" && q.Has("policy")
	canned := r.Header.Get("x-amz-acl")
	setsACL := r.Method == http.MethodPut && (q.Has("acl") || canned != "" && canned != "bucket-owner-full-control")
	if !setsPolicy && !setsACL || bucket == "" {
		return nil
	}
	a, err := g.access(ctx, region, bucket)
	if err != nil || !a.exists {
		return nil
	}
	if setsACL && !a.aclsEnabled {
		return &apiError{http.StatusBadRequest, "AccessControlListNotSupported", "The bucket does not allow ACLs"}
	}
	if setsPolicy && aws.ToBool(a.block.BlockPublicPolicy) {
		if doc, err := parsePolicy(string(body)); err == nil && doc.public() {
			id, _ := g.caller(ctx, region)
			return &apiError{http.StatusForbidden, "AccessDenied", fmt.Sprintf("User: %s is not authorized to perform: s3:PutBucketPolicy on resource: %q because public policies are blocked by the BlockPublicPolicy block public access setting.", id.arn, s3ARN(a.partition, bucket, ""))}
		}
	}
	return nil
}

// afterS3 gives a bucket moto has just created S3's defaults for new buckets.
func (g *Gate) afterS3(resp *http.Response, call Call) error {
	path := strings.TrimPrefix(resp.Request.URL.Path, "/")
	if call.Operation != "PUT /"+path || strings.Contains(path, "/") || resp.Request.URL.RawQuery != "" || resp.StatusCode != http.StatusOK {
		return nil
	}
	ctx := context.Background()
	moto := g.moto.in(call.Region)
	on := aws.Bool(true)
	if _, err := moto.s3.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: &path, PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
		BlockPublicAcls: on, IgnorePublicAcls: on, BlockPublicPolicy: on, RestrictPublicBuckets: on}}); err != nil {
		return fmt.Errorf("new-bucket defaults: %w", err)
	}
	_, err := moto.s3.PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{Bucket: &path, OwnershipControls: &s3types.OwnershipControls{
		Rules: []s3types.OwnershipControlsRule{{ObjectOwnership: s3types.ObjectOwnershipBucketOwnerEnforced}}}})
	return err
}

// public is AWS's test for a public bucket policy, reduced to what matters
// here: an Allow to everyone with no condition pinning the caller.
func (d policyDoc) public() bool {
	for _, st := range d.Statement {
		if strings.EqualFold(st.Effect, "Allow") && st.principalMatches(anonymous) && len(st.Condition) == 0 {
			return true
		}
	}
	return false
}

// s3Subresources are the bucket sub-resources (query markers) and the IAM
// actions of reading, changing and deleting each.
var s3Subresources = []struct{ marker, get, set, del string }{
	{"tagging", "s3:GetBucketTagging", "s3:PutBucketTagging", "s3:PutBucketTagging"},
	{"policy", "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"},
	{"publicAccessBlock", "s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"},
	{"ownershipControls", "s3:GetBucketOwnershipControls", "s3:PutBucketOwnershipControls", "s3:PutBucketOwnershipControls"},
	{"acl", "s3:GetBucketAcl", "s3:PutBucketAcl", ""},
	{"location", "s3:GetBucketLocation", "", ""},
	{"delete", "", "s3:DeleteObject", ""}, // POST ?delete: DeleteObjects
}

// s3ActionOf is the IAM action of an S3 request for bucket/key.
func s3ActionOf(method, key string, q url.Values) string {
	read := method == http.MethodGet || method == http.MethodHead
	if key == "" {
		for _, s := range s3Subresources {
			switch {
			case !q.Has(s.marker):
			case read:
				return s.get
			case method == http.MethodDelete:
				return s.del
			default:
				return s.set
			}
		}
	}
	switch {
	case key == "" && read:
		return "s3:ListBucket"
	case key == "" && method == http.MethodPut:
		return "s3:CreateBucket"
	case key == "" && method == http.MethodDelete:
		return "s3:DeleteBucket"
	case read:
		return "s3:GetObject"
	case method == http.MethodPut:
		return "s3:PutObject"
	case method == http.MethodDelete:
		return "s3:DeleteObject"
	}
	return "s3:" + method
}

func s3ARN(partition, bucket, key string) string {
	if key == "" {
		return fmt.Sprintf("arn:%s:s3:::%s", partition, bucket)
	}
	return fmt.Sprintf("arn:%s:s3:::%s/%s", partition, bucket, key)
}

// signAsOwner marks a request the gate has authorised, so moto serves it
// as it serves the bucket owner (moto does not check signatures).
func signAsOwner(r *http.Request, region string) {
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=gate/20260101/"+region+"/s3/aws4_request, SignedHeaders=host, Signature=0")
}
