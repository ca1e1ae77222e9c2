package provision

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

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

// Changes are the deletions destroy makes.
func (o Owned) Changes() []plan.Change {
	var out []plan.Change
	for _, key := range o.Objects {
		out = append(out, plan.Change{Resource: plan.ObjectResource, Name: key, Action: plan.Delete})
	}
	if o.Bucket != "" {
		out = append(out, plan.Change{Resource: plan.BucketResource, Name: o.Bucket, Action: plan.Delete})
	}
	if o.Distribution != nil {
		out = append(out, plan.Change{Resource: plan.DistributionResource, Name: o.Distribution.ID + " (" + o.Distribution.Domain + ")", Action: plan.Delete})
	}
	for _, p := range o.Providers {
		out = append(out, plan.Change{Resource: plan.ProviderResource, Name: p, Action: plan.Delete})
	}
	for _, r := range slices.Sorted(maps.Keys(o.Roles)) {
		out = append(out, plan.Change{Resource: plan.RoleResource, Name: r, Action: plan.Delete})
	}
	return out
}

// FindOwned looks for name's resources by their deterministic names (the
// bucket), the provider and distribution lists (a handful per account) and
// the roles (under rolePath when it narrows the search), keeping only those
// tagged as owned.
func FindOwned(ctx context.Context, c *Clients, name, rolePath string) (Owned, error) {
	o := Owned{Name: name}
	key := awsid.OwnershipTagKey(name)
	err := parallel(ctx, c.Concurrency,
		func(ctx context.Context) error {
			b, err := observeBucket(ctx, c, plan.BucketName(name))
			if b.InOtherRegion {
				return fmt.Errorf("the S3 bucket %s is in %s, not in %s: run oc sts destroy --name %s --region %s", plan.BucketName(name), cmp.Or(b.Region, "another region"), c.S3.Options().Region, name, cmp.Or(b.Region, "REGION"))
			}
			if err != nil || b.Tags[key] != awsid.OwnedValue { // another account's bucket has no tags we can read
				return err
			}
			o.Bucket = plan.BucketName(name)
			for k := range b.Objects {
				o.Objects = append(o.Objects, k)
			}
			sort.Strings(o.Objects)
			return nil
		},
		func(ctx context.Context) error {
			list, err := c.IAM.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
			if err != nil {
				return readError("IAM OIDC providers", "iam:ListOpenIDConnectProviders", err)
			}
			for _, p := range list.OpenIDConnectProviderList {
				got, err := ReadProvider(ctx, c, aws.ToString(p.Arn))
				if err != nil {
					return err
				}
				if got.Tags[key] == awsid.OwnedValue {
					o.Providers = append(o.Providers, aws.ToString(p.Arn))
				}
			}
			return nil
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
			if PrivateIssuerSupported(c.CloudFront.Options().Region) != nil {
				return nil
			}
			o.Distribution, err = FindDistribution(ctx, c, name, "")
			return err
		})
	return o, err
}

// Destroy deletes what o holds, waiting at most wait for a distribution
// to be disabled.
func Destroy(ctx context.Context, c *Clients, o Owned, wait time.Duration, progress Progress) error {
	var roleFns []func(context.Context) error
	for _, name := range slices.Sorted(maps.Keys(o.Roles)) {
		roleFns = append(roleFns, func(ctx context.Context) error {
			progress("deleting IAM role %s", name)
			return deleteRole(ctx, c, o.Roles[name])
		})
	}
	return parallel(ctx, 4,
		func(ctx context.Context) error { return parallel(ctx, c.Concurrency, roleFns...) },
		func(ctx context.Context) error {
			if o.Distribution == nil {
				return nil
			}
			return DeleteDistribution(ctx, c, o.Name, o.Distribution, wait, progress)
		},
		func(ctx context.Context) error {
			for _, arn := range o.Providers {
				progress("deleting IAM OIDC provider %s", arn)
				_, err := c.IAM.DeleteOpenIDConnectProvider(ctx, &iam.DeleteOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(arn)})
				if err != nil && errorCode(err) != "NoSuchEntity" {
					return stepError("deleting IAM OIDC provider "+arn, err)
				}
			}
			return nil
		},
		func(ctx context.Context) error {
			if o.Bucket == "" {
				return nil
			}
			progress("deleting S3 bucket %s and its %d objects", o.Bucket, len(o.Objects))
			if len(o.Objects) > 0 {
				var ids []s3types.ObjectIdentifier
				for _, k := range o.Objects {
					ids = append(ids, s3types.ObjectIdentifier{Key: aws.String(k)})
				}
				out, err := c.S3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &o.Bucket, ExpectedBucketOwner: c.expectedOwner(), Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
				if err != nil {
					return stepError("emptying S3 bucket "+o.Bucket, err)
				}
				if len(out.Errors) > 0 {
					return fmt.Errorf("emptying S3 bucket %s: %s: %s", o.Bucket, aws.ToString(out.Errors[0].Key), aws.ToString(out.Errors[0].Message))
				}
			}
			_, err := c.S3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &o.Bucket, ExpectedBucketOwner: c.expectedOwner()})
			if errorCode(err) == "NoSuchBucket" {
				return nil
			}
			return stepError("deleting S3 bucket "+o.Bucket, err)
		})
}
