// Package provision makes AWS match a plan: it observes what exists (by
// the plan's deterministic names and the ownership tag), diffs it against
// the plan, and applies only the difference; destroy removes what is owned.
package provision

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
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
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// Clients are the AWS APIs oc sts calls.
type Clients struct {
	STS        *sts.Client
	IAM        *iam.Client
	S3         *s3.Client
	S3Control  *s3control.Client
	CloudFront *cloudfront.Client
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
				o.MaxAttempts = MaxAttempts
				o.MaxBackoff = 20 * time.Second
				o.RateLimiter = ratelimit.None
			})
		}),
		config.WithAPIOptions([]func(*middleware.Stack) error{logCalls}),
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

func isAccessDenied(err error) bool {
	switch errorCode(err) {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
		return true
	}
	return false
}

// explicitDenyRE reads AWS's explicit-deny message: "User: ARN is not
// authorized to perform: ACTION [on resource: RESOURCE] with an explicit
// deny in a SOURCE[: policy ARN]". S3 quotes the resource; IAM may write
// it "role NAME".
var explicitDenyRE = regexp.MustCompile(`not authorized to perform: (\S+?)(?: on resource: (.+?))? with an explicit deny in an? ([a-z -]+[a-z])`)

// deniedError is an explicit deny, said plainly; the AWS error stays
// reachable with errors.As.
type deniedError struct {
	msg string
	err error
}

func (e *deniedError) Error() string { return e.msg }
func (e *deniedError) Unwrap() error { return e.err }

// explicitDeny rewrites an explicit deny of step as what it is: no
// permission the caller can add itself, and one IAM's policy simulator
// does not see (service control policies, permissions boundaries).
func explicitDeny(step string, err error) (error, bool) {
	m := explicitDenyRE.FindStringSubmatch(err.Error())
	if m == nil || !isAccessDenied(err) {
		return nil, false
	}
	action, resource, source := m[1], strings.Trim(m[2], `"`), m[3]
	what := action
	if resource != "" {
		what += " on " + resource
	}
	by := "an organisation policy or permissions boundary"
	if source != "service control policy" && source != "permissions boundary" {
		by = "an explicit deny"
	}
	return &deniedError{fmt.Sprintf("%s: %s is denied by %s (AWS: \"with an explicit deny in a %s\"), which IAM's policy simulator does not show: ask your AWS administrator to allow it", step, what, by, source), err}, true
}

// expectedOwner is the caller's account for S3's ExpectedBucketOwner (nil
// when unknown).
func (c *Clients) expectedOwner() *string {
	if c.Account == "" {
		return nil
	}
	return &c.Account
}

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
