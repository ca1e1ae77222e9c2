// Package provision makes AWS match a plan with one converge engine,
// Converge: it observes what exists (by the plan's deterministic names and
// the ownership tag), diffs it against the plan, shows the difference,
// checks the caller's permissions for exactly the calls it will make, and
// applies only the difference, every call as soon as what it depends on is
// done. Each resource's file (bucket, objects, provider, role, distribution)
// holds its observe, diff and apply, and declares the IAM actions of each
// call beside the call.
package provision

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/oc-sts/oc-sts/pkg/awsread"
)

// The parts of the AWS APIs oc sts calls: the SDK's clients in use, small
// fakes in the fast tests.
type (
	STSAPI interface {
		GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
		AssumeRoleWithWebIdentity(context.Context, *sts.AssumeRoleWithWebIdentityInput, ...func(*sts.Options)) (*sts.AssumeRoleWithWebIdentityOutput, error)
	}
	IAMAPI interface {
		awsread.IAM
		iam.GetAccountAuthorizationDetailsAPIClient
		iam.ListRolesAPIClient
		ListRoleTags(context.Context, *iam.ListRoleTagsInput, ...func(*iam.Options)) (*iam.ListRoleTagsOutput, error)
		ListOpenIDConnectProviders(context.Context, *iam.ListOpenIDConnectProvidersInput, ...func(*iam.Options)) (*iam.ListOpenIDConnectProvidersOutput, error)
		CreateOpenIDConnectProvider(context.Context, *iam.CreateOpenIDConnectProviderInput, ...func(*iam.Options)) (*iam.CreateOpenIDConnectProviderOutput, error)
		AddClientIDToOpenIDConnectProvider(context.Context, *iam.AddClientIDToOpenIDConnectProviderInput, ...func(*iam.Options)) (*iam.AddClientIDToOpenIDConnectProviderOutput, error)
		TagOpenIDConnectProvider(context.Context, *iam.TagOpenIDConnectProviderInput, ...func(*iam.Options)) (*iam.TagOpenIDConnectProviderOutput, error)
		DeleteOpenIDConnectProvider(context.Context, *iam.DeleteOpenIDConnectProviderInput, ...func(*iam.Options)) (*iam.DeleteOpenIDConnectProviderOutput, error)
		CreateRole(context.Context, *iam.CreateRoleInput, ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
		DeleteRole(context.Context, *iam.DeleteRoleInput, ...func(*iam.Options)) (*iam.DeleteRoleOutput, error)
		UpdateAssumeRolePolicy(context.Context, *iam.UpdateAssumeRolePolicyInput, ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error)
		PutRolePolicy(context.Context, *iam.PutRolePolicyInput, ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
		DeleteRolePolicy(context.Context, *iam.DeleteRolePolicyInput, ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
		DetachRolePolicy(context.Context, *iam.DetachRolePolicyInput, ...func(*iam.Options)) (*iam.DetachRolePolicyOutput, error)
		PutRolePermissionsBoundary(context.Context, *iam.PutRolePermissionsBoundaryInput, ...func(*iam.Options)) (*iam.PutRolePermissionsBoundaryOutput, error)
		DeleteRolePermissionsBoundary(context.Context, *iam.DeleteRolePermissionsBoundaryInput, ...func(*iam.Options)) (*iam.DeleteRolePermissionsBoundaryOutput, error)
		TagRole(context.Context, *iam.TagRoleInput, ...func(*iam.Options)) (*iam.TagRoleOutput, error)
		SimulatePrincipalPolicy(context.Context, *iam.SimulatePrincipalPolicyInput, ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error)
	}
	S3API interface {
		s3.ListObjectsV2APIClient
		s3.ListBucketsAPIClient
		GetBucketTagging(context.Context, *s3.GetBucketTaggingInput, ...func(*s3.Options)) (*s3.GetBucketTaggingOutput, error)
		GetPublicAccessBlock(context.Context, *s3.GetPublicAccessBlockInput, ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error)
		GetBucketPolicy(context.Context, *s3.GetBucketPolicyInput, ...func(*s3.Options)) (*s3.GetBucketPolicyOutput, error)
		GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
		CreateBucket(context.Context, *s3.CreateBucketInput, ...func(*s3.Options)) (*s3.CreateBucketOutput, error)
		PutBucketTagging(context.Context, *s3.PutBucketTaggingInput, ...func(*s3.Options)) (*s3.PutBucketTaggingOutput, error)
		PutPublicAccessBlock(context.Context, *s3.PutPublicAccessBlockInput, ...func(*s3.Options)) (*s3.PutPublicAccessBlockOutput, error)
		PutBucketPolicy(context.Context, *s3.PutBucketPolicyInput, ...func(*s3.Options)) (*s3.PutBucketPolicyOutput, error)
		PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
		DeleteObjects(context.Context, *s3.DeleteObjectsInput, ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
		DeleteBucket(context.Context, *s3.DeleteBucketInput, ...func(*s3.Options)) (*s3.DeleteBucketOutput, error)
	}
	S3ControlAPI interface {
		GetPublicAccessBlock(context.Context, *s3control.GetPublicAccessBlockInput, ...func(*s3control.Options)) (*s3control.GetPublicAccessBlockOutput, error)
	}
	CloudFrontAPI interface {
		cloudfront.ListDistributionsAPIClient
		ListTagsForResource(context.Context, *cloudfront.ListTagsForResourceInput, ...func(*cloudfront.Options)) (*cloudfront.ListTagsForResourceOutput, error)
		GetDistribution(context.Context, *cloudfront.GetDistributionInput, ...func(*cloudfront.Options)) (*cloudfront.GetDistributionOutput, error)
		GetDistributionConfig(context.Context, *cloudfront.GetDistributionConfigInput, ...func(*cloudfront.Options)) (*cloudfront.GetDistributionConfigOutput, error)
		CreateDistributionWithTags(context.Context, *cloudfront.CreateDistributionWithTagsInput, ...func(*cloudfront.Options)) (*cloudfront.CreateDistributionWithTagsOutput, error)
		UpdateDistribution(context.Context, *cloudfront.UpdateDistributionInput, ...func(*cloudfront.Options)) (*cloudfront.UpdateDistributionOutput, error)
		DeleteDistribution(context.Context, *cloudfront.DeleteDistributionInput, ...func(*cloudfront.Options)) (*cloudfront.DeleteDistributionOutput, error)
		ListOriginAccessControls(context.Context, *cloudfront.ListOriginAccessControlsInput, ...func(*cloudfront.Options)) (*cloudfront.ListOriginAccessControlsOutput, error)
		CreateOriginAccessControl(context.Context, *cloudfront.CreateOriginAccessControlInput, ...func(*cloudfront.Options)) (*cloudfront.CreateOriginAccessControlOutput, error)
		GetOriginAccessControl(context.Context, *cloudfront.GetOriginAccessControlInput, ...func(*cloudfront.Options)) (*cloudfront.GetOriginAccessControlOutput, error)
		DeleteOriginAccessControl(context.Context, *cloudfront.DeleteOriginAccessControlInput, ...func(*cloudfront.Options)) (*cloudfront.DeleteOriginAccessControlOutput, error)
		CreateInvalidation(context.Context, *cloudfront.CreateInvalidationInput, ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error)
		GetInvalidation(context.Context, *cloudfront.GetInvalidationInput, ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error)
	}
)

// The SDK's clients are what the interfaces describe.
var (
	_ STSAPI        = (*sts.Client)(nil)
	_ IAMAPI        = (*iam.Client)(nil)
	_ S3API         = (*s3.Client)(nil)
	_ S3ControlAPI  = (*s3control.Client)(nil)
	_ CloudFrontAPI = (*cloudfront.Client)(nil)
)

// Clients are the AWS APIs oc sts calls.
type Clients struct {
	STS        STSAPI
	IAM        IAMAPI
	S3         S3API
	S3Control  S3ControlAPI
	CloudFront CloudFrontAPI
	// Region is the clients' region.
	Region string
	// Concurrency bounds the calls in flight at once.
	Concurrency int
	// Account is the caller's account (set by WhoAmI): every S3 call names
	// it as the bucket's expected owner, so a bucket of the same name in
	// another account is never read or written.
	Account string
}

// LoadConfig reads the default credential chain (environment, profile, SSO,
// AWS_ENDPOINT_URL*) for region. Throttling, 5xx and dropped connections are
// retried with exponential backoff, without the client-side retry quota
// that would give up under sustained throttling.
func LoadConfig(ctx context.Context, profile, region string) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 10
				o.MaxBackoff = 20 * time.Second
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("loading AWS configuration: %w", err)
	}
	return cfg, nil
}

// NewClients builds the clients from cfg.
func NewClients(cfg aws.Config) *Clients {
	return &Clients{
		STS:         sts.NewFromConfig(cfg),
		IAM:         iam.NewFromConfig(cfg),
		S3:          s3.NewFromConfig(cfg),
		S3Control:   s3control.NewFromConfig(cfg),
		CloudFront:  cloudfront.NewFromConfig(cfg),
		Region:      cfg.Region,
		Concurrency: 8,
	}
}

func errorCode(err error) string { return awsread.ErrorCode(err) }

func isAccessDenied(err error) bool { return awsread.AccessDenied(err) }

func readError(what, permission string, err error) error {
	return awsread.ReadError(what, permission, err)
}

func stepError(step string, err error) error { return awsread.StepError(step, err) }

// expectedOwner is the caller's account for S3's ExpectedBucketOwner (nil
// when unknown).
func (c *Clients) expectedOwner() *string {
	if c.Account == "" {
		return nil
	}
	return &c.Account
}

// Progress receives one line per step.
type Progress func(format string, args ...any)

// IAM propagation: a provider or role just created is not visible
// everywhere at once, for seconds. eventually retries for about 30 s in all.
var (
	propagationAttempts = 9
	propagationDelay    = 250 * time.Millisecond
	propagationMaxDelay = 8 * time.Second
)

// eventually retries call (the API operation op) with backoff while
// transient says IAM has not propagated what (a new provider or role) yet,
// saying so on progress.
func eventually(ctx context.Context, progress Progress, what, op string, call func() error, transient func(error) bool) error {
	delay := propagationDelay
	waited := time.Duration(0)
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil || !transient(err) {
			return err
		}
		if attempt == propagationAttempts {
			return fmt.Errorf("IAM had not propagated %s after %v: %w", what, waited.Round(time.Second), err)
		}
		progress("IAM has not propagated %s yet (%s: %s); retry %d of %d in %v", what, op, errorCode(err), attempt, propagationAttempts-1, delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		waited += delay
		delay = min(2*delay, propagationMaxDelay)
	}
}

// once drops the lines already shown: roles waiting side by side for the
// same provider say so once per retry, not once per role.
func once(progress Progress) Progress {
	var mu sync.Mutex
	shown := map[string]bool{}
	return func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		mu.Lock()
		seen := shown[line]
		shown[line] = true
		mu.Unlock()
		if !seen {
			progress("%s", line)
		}
	}
}

// parallel runs fns with at most limit at once and joins their errors:
// independent reads all get their chance.
func parallel(ctx context.Context, limit int, fns ...func(context.Context) error) error {
	sem := make(chan struct{}, max(limit, 1))
	errs := make([]error, len(fns))
	done := make(chan struct{})
	for i, fn := range fns {
		go func() {
			defer func() { done <- struct{}{} }()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			errs[i] = fn(ctx)
		}()
	}
	for range fns {
		<-done
	}
	return errors.Join(errs...)
}
