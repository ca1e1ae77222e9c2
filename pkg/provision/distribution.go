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
// The distribution's domain is the issuer: a new one is known only after it
// is created, so it is the first link of the apply.

var (
	cfCreateOAC          = declare(DistributionResource, "CreateOriginAccessControl", "cloudfront:ListOriginAccessControls", "cloudfront:CreateOriginAccessControl")
	cfCreateDistribution = declare(DistributionResource, "CreateDistributionWithTags", "cloudfront:CreateDistribution", "cloudfront:TagResource")
	cfWaitDeployed       = declare(DistributionResource, "GetDistribution", "cloudfront:GetDistribution")
	cfDisable            = declare(DistributionResource, "UpdateDistribution", "cloudfront:GetDistributionConfig", "cloudfront:UpdateDistribution")
	cfDelete             = declare(DistributionResource, "DeleteDistribution", "cloudfront:DeleteDistribution")
	cfDeleteOAC          = declare(DistributionResource, "DeleteOriginAccessControl", "cloudfront:ListOriginAccessControls", "cloudfront:GetOriginAccessControl", "cloudfront:DeleteOriginAccessControl")
	cfFind               = reads("ListDistributions, ListTagsForResource, GetDistribution", "cloudfront:ListDistributions", "cloudfront:ListTagsForResource", "cloudfront:GetDistribution")
)

// Distribution is the issuer's CloudFront distribution as found.
type Distribution struct {
	ID, ARN, Domain string
	Status          string // InProgress or Deployed
	Enabled         bool
	OAC             string // origin access control ID
}

// FindDistribution finds name's distribution by its ownership tag; hint (a
// domain from an earlier plan, or a cluster's issuer) is checked first, so a
// re-run reads one tag set.
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
	m := map[string]string{}
	for _, t := range tags.Items {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return awsid.Owned(m, name)
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

// distributionDelta is the creation of a private issuer's distribution;
// created is what CloudFront made.
type distributionDelta struct {
	want    *plan.Distribution
	created *Distribution
}

// steps: the origin access control, then the distribution reading the
// bucket through it.
func (d *distributionDelta) steps(a *applier, ch *Change) {
	c, want := a.c, d.want
	var oac string
	made := a.g.call(cfCreateOAC, func(ctx context.Context) (err error) {
		oac, err = ensureOAC(ctx, c, want.OriginAccessControl, a.plan.Name, a.progress)
		return err
	})
	a.first = a.g.call(cfCreateDistribution, func(ctx context.Context) error {
		a.progress("creating CloudFront distribution for %s", want.OriginDomain)
		var tags []cftypes.Tag
		for _, t := range want.Tags {
			tags = append(tags, cftypes.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
		}
		out, err := c.CloudFront.CreateDistributionWithTags(ctx, &cloudfront.CreateDistributionWithTagsInput{DistributionConfigWithTags: &cftypes.DistributionConfigWithTags{
			Tags: &cftypes.Tags{Items: tags},
			DistributionConfig: &cftypes.DistributionConfig{
				CallerReference: aws.String(want.CallerReference),
				Comment:         aws.String(want.Comment),
				Enabled:         aws.Bool(true),
				Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{
					Id: aws.String(plan.DistributionOriginID), DomainName: aws.String(want.OriginDomain), OriginAccessControlId: &oac,
					S3OriginConfig: &cftypes.S3OriginConfig{OriginAccessIdentity: aws.String("")},
				}}},
				DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{
					TargetOriginId: aws.String(plan.DistributionOriginID), ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyHttpsOnly, CachePolicyId: aws.String(want.CachePolicyID),
				},
			},
		}})
		if errorCode(err) == "DistributionAlreadyExists" {
			found, ferr := FindDistribution(ctx, c, a.plan.Name, "")
			if ferr != nil || found == nil {
				return fmt.Errorf("CloudFront says a distribution with caller reference %s exists but none is tagged %s: %v", want.CallerReference, awsid.OwnershipTagKey(a.plan.Name), ferr)
			}
			d.created = found
			return nil
		}
		if err != nil {
			return stepError("creating the CloudFront distribution", err)
		}
		dist := out.Distribution
		d.created = &Distribution{ID: aws.ToString(dist.Id), ARN: aws.ToString(dist.ARN), Domain: aws.ToString(dist.DomainName), Status: aws.ToString(dist.Status), Enabled: true, OAC: oac}
		return nil
	}, made).then(a.made.add(ch))
}

func ensureOAC(ctx context.Context, c *Clients, name, owner string, progress Progress) (string, error) {
	if id, err := findOAC(ctx, c, name); id != "" || err != nil {
		return id, err
	}
	progress("creating CloudFront origin access control %s", name)
	out, err := c.CloudFront.CreateOriginAccessControl(ctx, &cloudfront.CreateOriginAccessControlInput{OriginAccessControlConfig: &cftypes.OriginAccessControlConfig{
		Name: aws.String(name), OriginAccessControlOriginType: cftypes.OriginAccessControlOriginTypesS3,
		SigningBehavior: cftypes.OriginAccessControlSigningBehaviorsAlways, SigningProtocol: cftypes.OriginAccessControlSigningProtocolsSigv4,
		Description: aws.String(plan.OACDescription(owner)),
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
			if aws.ToString(o.Name) == name {
				return aws.ToString(o.Id), nil
			}
		}
	}
	return "", nil
}

// waitDeployed polls until the distribution is Deployed, for at most timeout.
func waitDeployed(ctx context.Context, c *Clients, id string, timeout time.Duration, progress Progress) error {
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

// distributionDeleteDelta deletes an owned distribution and its origin
// access control (destroy).
type distributionDeleteDelta struct {
	found   *Distribution
	oacName string
	wait    time.Duration
}

// steps: disable, wait for that to deploy (CloudFront deletes only a
// disabled, deployed distribution), delete it, then its origin access control.
func (d *distributionDeleteDelta) steps(a *applier, ch *Change) {
	c, id := a.c, d.found.ID
	var etag *string
	disabled := a.g.call(cfDisable, func(ctx context.Context) error {
		cfg, err := c.CloudFront.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: &id})
		if err != nil {
			return stepError("reading CloudFront distribution "+id, err)
		}
		etag = cfg.ETag
		if !aws.ToBool(cfg.DistributionConfig.Enabled) {
			return nil
		}
		a.progress("disabling CloudFront distribution %s", id)
		cfg.DistributionConfig.Enabled = aws.Bool(false)
		out, err := c.CloudFront.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: &id, IfMatch: etag, DistributionConfig: cfg.DistributionConfig})
		if err != nil {
			return stepError("disabling CloudFront distribution "+id, err)
		}
		etag = out.ETag
		return nil
	})
	deployed := a.g.call(cfWaitDeployed, func(ctx context.Context) error { return waitDeployed(ctx, c, id, d.wait, a.progress) }, disabled)
	deleted := a.g.call(cfDelete, func(ctx context.Context) error {
		a.progress("deleting CloudFront distribution %s", id)
		if _, err := c.CloudFront.DeleteDistribution(ctx, &cloudfront.DeleteDistributionInput{Id: &id, IfMatch: etag}); err != nil && errorCode(err) != "NoSuchDistribution" {
			return stepError("deleting CloudFront distribution "+id, err)
		}
		return nil
	}, deployed)
	a.g.call(cfDeleteOAC, func(ctx context.Context) error {
		oac, err := findOAC(ctx, c, d.oacName)
		if err != nil || oac == "" {
			return err
		}
		a.progress("deleting origin access control %s", d.oacName)
		got, err := c.CloudFront.GetOriginAccessControl(ctx, &cloudfront.GetOriginAccessControlInput{Id: &oac})
		if err != nil {
			return stepError("reading origin access control "+oac, err)
		}
		_, err = c.CloudFront.DeleteOriginAccessControl(ctx, &cloudfront.DeleteOriginAccessControlInput{Id: &oac, IfMatch: got.ETag})
		return stepError("deleting origin access control "+oac, err)
	}, deleted).then(a.made.add(ch))
}

// PrivateIssuerSupported says whether the region's partition has CloudFront.
func PrivateIssuerSupported(region string) error {
	if strings.HasPrefix(region, "us-gov-") {
		return fmt.Errorf("--private-bucket: CloudFront is not offered in AWS GovCloud (region %s); use the public issuer bucket", region)
	}
	return nil
}
