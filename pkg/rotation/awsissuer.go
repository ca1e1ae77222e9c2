package rotation

import (
	"bytes"
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
// converge engine with the plan the state dir keeps, of which a rotation
// changes the key set document only.
type AWSIssuer struct {
	Clients     *provision.Clients
	Plan        *plan.Plan
	Progress    provision.Progress
	WaitTimeout time.Duration
	// last spares a run reading AWS twice for the same key set (the plan,
	// then the change): it is used until the run changes AWS, and for
	// observationTTL at most (a run may wait hours before retiring).
	last *observation
}

const observationTTL = time.Minute

type observation struct {
	at      time.Time
	jwks    []byte
	plan    *plan.Plan
	aws     *provision.Observed
	changes []plan.Change
}

func (a *AWSIssuer) URL() string { return a.Plan.Issuer.URL }

func (a *AWSIssuer) observe(ctx context.Context, jwks []byte) (*observation, error) {
	if a.last != nil && bytes.Equal(a.last.jwks, jwks) && time.Since(a.last.at) < observationTTL {
		return a.last, nil
	}
	p := WithJWKS(a.Plan, jwks)
	o, err := provision.Observe(ctx, a.Clients, p)
	if err != nil {
		return nil, err
	}
	if !o.Bucket.Exists || o.Bucket.Foreign || o.Bucket.InOtherRegion {
		return nil, fmt.Errorf("the issuer bucket %s is not in AWS account %s (%s): run oc sts prepare with this state dir first", p.Bucket.Name, a.Clients.Account, p.Bucket.Region)
	}
	all, err := provision.Diff(p, o, false)
	if err != nil {
		return nil, err
	}
	obs := &observation{at: time.Now(), jwks: jwks, plan: p, aws: o}
	for _, ch := range all {
		if ch.Resource == plan.ObjectResource && ch.Name == oidckeys.JWKSPath {
			obs.changes = append(obs.changes, ch)
		}
	}
	if len(all) > len(obs.changes) {
		a.Progress("note: AWS also differs from the plan elsewhere (%d changes); a rotation changes only %s: oc sts prepare repairs the rest", len(all)-len(obs.changes), oidckeys.JWKSPath)
	}
	a.last = obs
	return obs, nil
}

func (a *AWSIssuer) Observe(ctx context.Context, jwks []byte) ([]byte, []plan.Change, error) {
	obs, err := a.observe(ctx, jwks)
	if err != nil {
		return nil, nil, err
	}
	switch _, ok := obs.aws.Bucket.Objects[oidckeys.JWKSPath]; {
	case !ok:
		return nil, obs.changes, nil
	case obs.aws.Bucket.PublishedJWKS != nil: // read because it differs
		return obs.aws.Bucket.PublishedJWKS, obs.changes, nil
	}
	return planned(obs.plan), obs.changes, nil
}

func (a *AWSIssuer) Publish(ctx context.Context, jwks []byte) error {
	obs, err := a.observe(ctx, jwks)
	if err != nil || len(obs.changes) == 0 {
		return err
	}
	a.last = nil
	return provision.Apply(ctx, a.Clients, obs.plan, obs.aws, obs.changes, a.Progress)
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

// planned is p's key set document.
func planned(p *plan.Plan) []byte {
	for _, o := range p.Bucket.Objects {
		if o.Key == oidckeys.JWKSPath {
			return o.Body
		}
	}
	return nil
}
