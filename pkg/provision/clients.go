// Package provision makes AWS match a plan: it observes what exists (by
// the plan's deterministic names and the ownership tag), diffs it against
// the plan, and applies only the difference; destroy removes what is owned.
package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// Clients are the AWS APIs oc sts calls.
type Clients struct {
	STS        *sts.Client
	IAM        *iam.Client
	S3         *s3.Client
	CloudFront *cloudfront.Client
	// Concurrency bounds the calls in flight at once.
	Concurrency int
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
		CloudFront:  cloudfront.NewFromConfig(cfg),
		Concurrency: 8,
	}
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// eventually retries fn while transient says IAM has not caught up yet
// (a provider or role just created is not visible everywhere at once).
func eventually(ctx context.Context, fn func() error, transient func(error) bool) error {
	delay := 250 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || !transient(err) || attempt == 8 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 8*time.Second)
	}
}

// parallel runs fns with at most limit at once and joins their errors:
// independent steps all get their chance, so a re-run has less to do.
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
