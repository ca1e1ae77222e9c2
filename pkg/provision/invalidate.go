package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

// ErrInvalidationDenied: the caller may not invalidate the distribution's
// cache (cloudfront:CreateInvalidation); cached copies expire on their own.
var ErrInvalidationDenied = errors.New("cloudfront:CreateInvalidation is denied")

// Invalidate makes CloudFront drop its cached copies of paths and waits,
// at most timeout, until it has (status Completed). reference names the
// content invalidated: a re-run with the same one is answered with the
// same invalidation, not a second one.
func Invalidate(ctx context.Context, c *Clients, distributionID string, paths []string, reference string, timeout time.Duration, progress Progress) error {
	progress("invalidating CloudFront distribution %s's cached %v", distributionID, paths)
	out, err := c.CloudFront.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{DistributionId: &distributionID, InvalidationBatch: &cftypes.InvalidationBatch{
		CallerReference: &reference, Paths: &cftypes.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths},
	}})
	if isAccessDenied(err) {
		return fmt.Errorf("%w for distribution %s: %v", ErrInvalidationDenied, distributionID, err)
	}
	if err != nil {
		return stepError("invalidating CloudFront distribution "+distributionID, err)
	}
	id := aws.ToString(out.Invalidation.Id)
	deadline := time.Now().Add(timeout)
	for delay, start := time.Second, time.Now(); ; delay = min(2*delay, 10*time.Second) {
		got, err := c.CloudFront.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: &distributionID, Id: &id})
		if err != nil {
			return readError("CloudFront invalidation "+id, "cloudfront:GetInvalidation", err)
		}
		status := aws.ToString(got.Invalidation.Status)
		if status == "Completed" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CloudFront invalidation %s of distribution %s is still %s after %v: run the same command again later to go on", id, distributionID, status, timeout)
		}
		progress("waiting for CloudFront invalidation %s (%s, %v so far)", id, status, time.Since(start).Round(time.Second))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(delay, time.Until(deadline)+time.Millisecond)):
		}
	}
}
