package provision

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// destroy's plan is "nothing of name's": every resource that carries its
// ownership tag is deleted, and nothing else.

// Owned is every resource that carries name's ownership tag.
type Owned struct {
	Name      string
	Bucket    string // "" when there is no owned bucket
	Objects   []string
	Providers []string
	Roles     map[string]RoleState
	// Distribution serves a private issuer; nil for a public one.
	Distribution *Distribution
}

// changes are the deletions, with what each deletes.
func (o Owned) changes(wait time.Duration) []Change {
	var out []Change
	for _, key := range o.Objects {
		out = append(out, Change{Resource: ObjectResource, Name: key, Action: Delete, delta: noSteps{}})
	}
	if o.Bucket != "" {
		out = append(out, Change{Resource: BucketResource, Name: o.Bucket, Action: Delete, delta: &bucketDeleteDelta{name: o.Bucket}})
	}
	if d := o.Distribution; d != nil {
		out = append(out, Change{Resource: DistributionResource, Name: d.ID + " (" + d.Domain + ")", Action: Delete,
			delta: &distributionDeleteDelta{found: d, oacName: plan.OACName(o.Name), wait: wait}})
	}
	for _, p := range o.Providers {
		out = append(out, Change{Resource: ProviderResource, Name: p, Action: Delete, delta: &providerDeleteDelta{arn: p}})
	}
	for _, r := range slices.Sorted(maps.Keys(o.Roles)) {
		have := o.Roles[r]
		out = append(out, Change{Resource: RoleResource, Name: r, Action: Delete, delta: &roleDeleteDelta{have: have}})
	}
	return out
}

// noSteps: the change is made by another's steps (an object by its bucket's).
type noSteps struct{}

func (noSteps) steps(*applier, *Change) {}

// bucketDeleteDelta empties and deletes the bucket; its objects' changes
// are made with the one call that deletes them all.
type bucketDeleteDelta struct{ name string }

func (d *bucketDeleteDelta) steps(a *applier, ch *Change) {
	var objects []*Change
	for i := range a.changes {
		if a.changes[i].Resource == ObjectResource && a.changes[i].Action == Delete {
			objects = append(objects, &a.changes[i])
		}
	}
	deleteBucketSteps(a, d.name, objects, ch)
}

// roleDeleteDelta deletes an owned role with its policies.
type roleDeleteDelta struct{ have RoleState }

func (d *roleDeleteDelta) steps(a *applier, ch *Change) {
	shown := a.g.add(nil, func(context.Context) error {
		a.progress("deleting IAM role %s", d.have.Name)
		return nil
	})
	deleteRoleSteps(a, d.have, shown).then(a.made.add(ch))
}

// findOwned looks for name's resources by their deterministic names (the
// bucket), the provider and distribution lists (a handful per account) and
// the roles (under rolePath when it narrows the search), keeping only those
// tagged as owned.
func findOwned(ctx context.Context, c *Clients, name, rolePath string) (Owned, error) {
	o := Owned{Name: name}
	err := parallel(ctx, c.Concurrency,
		func(ctx context.Context) error {
			b, err := observeBucket(ctx, c, plan.BucketName(name))
			if b.InOtherRegion {
				return fmt.Errorf("the S3 bucket %s is in %s, not in %s: run oc sts destroy --name %s --region %s", plan.BucketName(name), cmp.Or(b.Region, "another region"), c.Region, name, cmp.Or(b.Region, "REGION"))
			}
			if err != nil || !awsid.Owned(b.Tags, name) { // another account's bucket has no tags we can read
				return err
			}
			o.Bucket = plan.BucketName(name)
			for k := range b.Objects {
				o.Objects = append(o.Objects, k)
			}
			sort.Strings(o.Objects)
			return nil
		},
		func(ctx context.Context) (err error) {
			o.Providers, err = ownedProviders(ctx, c, name)
			return err
		},
		func(ctx context.Context) (err error) {
			if rolePath != "/" { // the narrower query: only the roles under the path
				o.Roles, err = observeRolesOneByOne(ctx, c, name, nil, rolePath)
			} else {
				o.Roles, err = observeRoles(ctx, c, name, nil, rolePath)
			}
			return err
		},
		func(ctx context.Context) (err error) {
			if PrivateIssuerSupported(c.Region) != nil {
				return nil
			}
			o.Distribution, err = FindDistribution(ctx, c, name, "")
			return err
		})
	return o, err
}
