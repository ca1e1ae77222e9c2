package rotation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
)

// AWSIssuer is an issuer oc sts prepare made: discovery documents in S3,
// served by S3 itself or by CloudFront. Its storage changes go through the
// converge engine, on the issuer's objects alone (prepare converges the
// rest), with the plan the state dir keeps.
type AWSIssuer struct {
	Clients     *provision.Clients
	Plan        *plan.Plan
	Progress    provision.Progress
	WaitTimeout time.Duration
}

func (a *AWSIssuer) URL() string { return a.Plan.Issuer.URL }

// converge makes (or with dryRun, finds) the changes that make the issuer's
// objects hold jwks. The rotator decides which published keys may go
// (retire drops the old one only once its tokens have expired), so the
// engine's guard against dropping keys is lifted.
func (a *AWSIssuer) converge(ctx context.Context, jwks []byte, dryRun bool) (*provision.Result, error) {
	p := a.Plan
	host, err := provision.S3Host(p.Region, p.Bucket.Name)
	if err != nil {
		return nil, err
	}
	in := plan.Input{Name: p.Name, AccountID: p.AccountID, Region: p.Region, JWKS: jwks, BucketHost: host, IssuerKind: p.Issuer.Kind, IssuerOnly: true}
	if d := p.Distribution; d != nil {
		in.CloudFrontDomain, in.DistributionARN = d.Domain, d.ARN
	}
	return provision.Converge(ctx, a.Clients,
		provision.Input{Plan: in, Issuer: p.Issuer.URL, Only: []provision.Resource{provision.ObjectResource}, Previous: p},
		provision.Options{DryRun: dryRun, ReplacePublishedKeys: true, WaitTimeout: a.WaitTimeout},
		engineUI{a.Progress})
}

func (a *AWSIssuer) Observe(ctx context.Context, jwks []byte) ([]byte, []provision.Change, error) {
	res, err := a.converge(ctx, jwks, true)
	if err != nil {
		return nil, nil, err
	}
	b := res.Observed.Bucket
	switch _, ok := b.Objects[oidckeys.JWKSPath]; {
	case !ok:
		return nil, res.Changes, nil
	case b.PublishedJWKS != nil: // read because it differs
		return b.PublishedJWKS, res.Changes, nil
	}
	return planned(res.Plan), res.Changes, nil
}

func (a *AWSIssuer) Publish(ctx context.Context, jwks []byte) error {
	_, err := a.converge(ctx, jwks, false)
	return err
}

// Refresh invalidates a CloudFront issuer's cached key set document (the
// managed CachingOptimized policy keeps objects a day).
func (a *AWSIssuer) Refresh(ctx context.Context, jwks []byte) error {
	if a.Plan.Issuer.Kind != plan.PrivateCloudFront {
		return nil
	}
	d, err := provision.FindDistribution(ctx, a.Clients, a.Plan.Name, a.Plan.Issuer.HostPath)
	if err != nil {
		return err
	}
	if d == nil || d.Domain != a.Plan.Issuer.HostPath {
		return fmt.Errorf("no CloudFront distribution of %s serves %s: run oc sts prepare with this state dir", a.Plan.Name, a.Plan.Issuer.URL)
	}
	// Refresh runs only once a fetch got a stale copy, so an invalidation is
	// due every time: a reference of the key set alone would, after the same
	// set was published before (a stage run again after it was put back),
	// be answered with that earlier, completed invalidation, clearing nothing.
	ref := fmt.Sprintf("oc-sts-%s-%d", provision.ContentMD5(jwks), time.Now().UnixNano())
	err = provision.Invalidate(ctx, a.Clients, d.ID, []string{"/" + oidckeys.JWKSPath}, ref, a.WaitTimeout, a.Progress)
	if errors.Is(err, provision.ErrInvalidationDenied) {
		a.Progress("warning: %v: waiting for CloudFront's cached copy to expire instead (up to a day)", err)
		return nil
	}
	return err
}

func (a *AWSIssuer) Served(ctx context.Context) (jose.JSONWebKeySet, error) {
	pub := clustercheck.FetchPublished(ctx, a.Plan.Issuer.URL)
	switch {
	case pub.DiscoveryErr != nil:
		return jose.JSONWebKeySet{}, pub.DiscoveryErr
	case pub.Issuer != a.Plan.Issuer.URL:
		return jose.JSONWebKeySet{}, fmt.Errorf("the discovery document names issuer %q", pub.Issuer)
	case pub.JWKSErr != nil:
		return jose.JSONWebKeySet{}, pub.JWKSErr
	}
	return pub.JWKS, nil
}

// engineUI is what the converge engine shows of a rotation's AWS steps:
// their progress. The rotator has shown its steps and asked before it
// takes them, so there is nothing more to show or ask.
type engineUI struct{ progress provision.Progress }

func (u engineUI) Progress(format string, args ...any) { u.progress(format, args...) }
func (engineUI) Changes(provision.Preview)             {}
func (engineUI) Confirm(string) error                  { return nil }

// planned is p's key set document.
func planned(p *plan.Plan) []byte {
	for _, o := range p.Bucket.Objects {
		if o.Key == oidckeys.JWKSPath {
			return o.Body
		}
	}
	return nil
}
