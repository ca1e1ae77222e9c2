package provision

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// A private issuer is a fully blocked bucket served by a CloudFront
// distribution through origin access control (OAC, not the legacy OAI).

// Distribution is the issuer's CloudFront distribution as found.
type Distribution struct {
	ID, ARN, Domain string
	Status          string // InProgress or Deployed
	Enabled         bool
	OAC             string // origin access control ID
}

// cachingOptimized is CloudFront's managed cache policy of that name.
const cachingOptimized = "658327ea-f89d-4fab-a63d-7e88639e58f6"

func oacName(name string) string { return plan.BucketName(name) + "-oac" }

// FindDistribution finds name's distribution by its ownership tag; hint (a
// domain from an earlier plan) is checked first, so a re-run reads one tag set.
func FindDistribution(ctx context.Context, c *Clients, name, hint string) (*Distribution, error) {
	var summaries []cftypes.DistributionSummary
	pages := cloudfront.NewListDistributionsPaginator(c.CloudFront, &cloudfront.ListDistributionsInput{})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, readError("CloudFront distributions", "cloudfront:ListDistributions", err)
		}
		if out.DistributionList != nil {
			summaries = append(summaries, out.DistributionList.Items...)
		}
	}
	for i, s := range summaries {
		if aws.ToString(s.DomainName) == hint {
			summaries[0], summaries[i] = summaries[i], summaries[0]
		}
	}
	for _, s := range summaries {
		tags, err := c.CloudFront.ListTagsForResource(ctx, &cloudfront.ListTagsForResourceInput{Resource: s.ARN})
		if err != nil {
			return nil, readError("CloudFront distribution "+aws.ToString(s.Id), "cloudfront:ListTagsForResource", err)
		}
		if !ownedCF(tags.Tags, name) {
			continue
		}
		return getDistribution(ctx, c, aws.ToString(s.Id))
	}
	return nil, nil
}

func ownedCF(tags *cftypes.Tags, name string) bool {
	if tags == nil {
		return false
	}
	for _, t := range tags.Items {
		if aws.ToString(t.Key) == awsid.OwnershipTagKey(name) && aws.ToString(t.Value) == awsid.OwnedValue {
			return true
		}
	}
	return false
}

func getDistribution(ctx context.Context, c *Clients, id string) (*Distribution, error) {
	out, err := c.CloudFront.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: &id})
	if err != nil {
		return nil, readError("CloudFront distribution "+id, "cloudfront:GetDistribution", err)
	}
	d := out.Distribution
	got := &Distribution{ID: id, ARN: aws.ToString(d.ARN), Domain: aws.ToString(d.DomainName), Status: aws.ToString(d.Status), Enabled: aws.ToBool(d.DistributionConfig.Enabled)}
	if o := d.DistributionConfig.Origins; o != nil && len(o.Items) > 0 {
		got.OAC = aws.ToString(o.Items[0].OriginAccessControlId)
	}
	return got, nil
}

// CreateDistribution makes the OAC and the distribution for name's bucket.
// The caller reference is the bucket name, so a retried or resumed create
// cannot make a second distribution.
func CreateDistribution(ctx context.Context, c *Clients, name, region string, tags []plan.Tag, progress Progress) (*Distribution, error) {
	bucketHost, err := S3Host(region, plan.BucketName(name))
	if err != nil {
		return nil, err
	}
	oac, err := ensureOAC(ctx, c, name, progress)
	if err != nil {
		return nil, err
	}
	progress("creating CloudFront distribution for %s", bucketHost)
	var cfTags []cftypes.Tag
	for _, t := range tags {
		cfTags = append(cfTags, cftypes.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
	}
	out, err := c.CloudFront.CreateDistributionWithTags(ctx, &cloudfront.CreateDistributionWithTagsInput{DistributionConfigWithTags: &cftypes.DistributionConfigWithTags{
		Tags: &cftypes.Tags{Items: cfTags},
		DistributionConfig: &cftypes.DistributionConfig{
			CallerReference: aws.String(plan.BucketName(name)),
			Comment:         aws.String("OIDC issuer of " + name + " (oc sts)"),
			Enabled:         aws.Bool(true),
			Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{
				Id: aws.String("oidc"), DomainName: aws.String(bucketHost), OriginAccessControlId: &oac,
				S3OriginConfig: &cftypes.S3OriginConfig{OriginAccessIdentity: aws.String("")},
			}}},
			DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{
				TargetOriginId: aws.String("oidc"), ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyHttpsOnly, CachePolicyId: aws.String(cachingOptimized),
			},
		},
	}})
	if errorCode(err) == "DistributionAlreadyExists" {
		d, ferr := FindDistribution(ctx, c, name, "")
		if ferr != nil || d == nil {
			return nil, fmt.Errorf("CloudFront says a distribution with caller reference %s exists but none is tagged %s: %v", plan.BucketName(name), awsid.OwnershipTagKey(name), ferr)
		}
		return d, nil
	}
	if err != nil {
		return nil, stepError("creating the CloudFront distribution", err)
	}
	d := out.Distribution
	return &Distribution{ID: aws.ToString(d.Id), ARN: aws.ToString(d.ARN), Domain: aws.ToString(d.DomainName), Status: aws.ToString(d.Status), Enabled: true, OAC: oac}, nil
}

func ensureOAC(ctx context.Context, c *Clients, name string, progress Progress) (string, error) {
	if id, err := findOAC(ctx, c, name); id != "" || err != nil {
		return id, err
	}
	progress("creating CloudFront origin access control %s", oacName(name))
	out, err := c.CloudFront.CreateOriginAccessControl(ctx, &cloudfront.CreateOriginAccessControlInput{OriginAccessControlConfig: &cftypes.OriginAccessControlConfig{
		Name: aws.String(oacName(name)), OriginAccessControlOriginType: cftypes.OriginAccessControlOriginTypesS3,
		SigningBehavior: cftypes.OriginAccessControlSigningBehaviorsAlways, SigningProtocol: cftypes.OriginAccessControlSigningProtocolsSigv4,
		Description: aws.String("oc sts " + name),
	}})
	if err != nil {
		return "", stepError("creating the origin access control", err)
	}
	return aws.ToString(out.OriginAccessControl.Id), nil
}

// findOAC finds the origin access control by its name (OACs carry no tags).
func findOAC(ctx context.Context, c *Clients, name string) (string, error) {
	out, err := c.CloudFront.ListOriginAccessControls(ctx, &cloudfront.ListOriginAccessControlsInput{})
	if err != nil {
		return "", readError("origin access controls", "cloudfront:ListOriginAccessControls", err)
	}
	if out.OriginAccessControlList != nil {
		for _, o := range out.OriginAccessControlList.Items {
			if aws.ToString(o.Name) == oacName(name) {
				return aws.ToString(o.Id), nil
			}
		}
	}
	return "", nil
}

// WaitDeployed polls until the distribution is Deployed, for at most timeout.
func WaitDeployed(ctx context.Context, c *Clients, id string, timeout time.Duration, progress Progress) error {
	deadline := time.Now().Add(timeout)
	delay := time.Second
	for start := time.Now(); ; {
		d, err := getDistribution(ctx, c, id)
		if err != nil {
			return err
		}
		if d.Status == "Deployed" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CloudFront distribution %s is still %s after %v: run the same command again later to go on", id, d.Status, timeout)
		}
		progress("waiting for CloudFront distribution %s to deploy (%s, %v so far)", id, d.Status, time.Since(start).Round(time.Second))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(delay, time.Until(deadline)+time.Millisecond)):
		}
		delay = min(2*delay, 15*time.Second)
	}
}

// DeleteDistribution disables the distribution, waits for that to deploy,
// deletes it, then its origin access control.
func DeleteDistribution(ctx context.Context, c *Clients, name string, d *Distribution, timeout time.Duration, progress Progress) error {
	cfg, err := c.CloudFront.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: &d.ID})
	if err != nil {
		return stepError("reading CloudFront distribution "+d.ID, err)
	}
	etag := cfg.ETag
	if aws.ToBool(cfg.DistributionConfig.Enabled) {
		progress("disabling CloudFront distribution %s", d.ID)
		cfg.DistributionConfig.Enabled = aws.Bool(false)
		out, err := c.CloudFront.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: &d.ID, IfMatch: etag, DistributionConfig: cfg.DistributionConfig})
		if err != nil {
			return stepError("disabling CloudFront distribution "+d.ID, err)
		}
		etag = out.ETag
	}
	if err := WaitDeployed(ctx, c, d.ID, timeout, progress); err != nil {
		return err
	}
	progress("deleting CloudFront distribution %s", d.ID)
	if _, err := c.CloudFront.DeleteDistribution(ctx, &cloudfront.DeleteDistributionInput{Id: &d.ID, IfMatch: etag}); err != nil && errorCode(err) != "NoSuchDistribution" {
		return stepError("deleting CloudFront distribution "+d.ID, err)
	}
	id, err := findOAC(ctx, c, name)
	if err != nil || id == "" {
		return err
	}
	progress("deleting origin access control %s", oacName(name))
	got, err := c.CloudFront.GetOriginAccessControl(ctx, &cloudfront.GetOriginAccessControlInput{Id: &id})
	if err != nil {
		return stepError("reading origin access control "+id, err)
	}
	_, err = c.CloudFront.DeleteOriginAccessControl(ctx, &cloudfront.DeleteOriginAccessControlInput{Id: &id, IfMatch: got.ETag})
	return stepError("deleting origin access control "+id, err)
}

// PrivateIssuerSupported says whether the region's partition has CloudFront.
func PrivateIssuerSupported(region string) error {
	if strings.HasPrefix(region, "us-gov-") {
		return fmt.Errorf("--private-bucket: CloudFront is not offered in AWS GovCloud (region %s); use the public issuer bucket", region)
	}
	return nil
}
