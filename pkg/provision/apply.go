package provision

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/oc-sts/oc-sts/pkg/awsread"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// Progress receives one line per step.
type Progress func(format string, args ...any)

// Apply makes the changes. The bucket and its objects, and the provider
// followed by the roles (their trust names the provider), are two
// independent chains run side by side; roles are changed concurrently.
// Every step is idempotent: after a failure or interruption, observing
// again and re-applying converges. A failure is an *ApplyError listing the
// changes made before it.
func Apply(ctx context.Context, c *Clients, p *plan.Plan, o *Observed, changes []plan.Change, progress Progress) error {
	var bucket, objects, provider, roles []plan.Change
	for _, ch := range changes {
		switch ch.Resource {
		case plan.BucketResource:
			bucket = append(bucket, ch)
		case plan.ObjectResource:
			objects = append(objects, ch)
		case plan.ProviderResource:
			provider = append(provider, ch)
		case plan.RoleResource:
			roles = append(roles, ch)
		}
	}
	done := &madeChanges{}
	progress = once(progress)
	err := parallel(ctx, 2,
		func(ctx context.Context) error {
			// Tags, objects and the access settings need only the bucket;
			// the public policy needs the public access block relaxed first.
			fns := []func(context.Context) error{}
			if len(bucket) > 0 {
				ch := bucket[0]
				if ch.Action == plan.Create {
					if err := createBucket(ctx, c, p, progress); err != nil {
						return err
					}
					done.add(ch)
					ch.Fields = []string{plan.FieldTags, plan.FieldPublicAccessBlock, plan.FieldBucketPolicy}
				} else {
					progress("updating S3 bucket %s (%s)", p.Bucket.Name, strings.Join(ch.Fields, ", "))
				}
				settings := []func(context.Context) error{
					func(ctx context.Context) error { return setBucket(ctx, c, p, o, ch.Fields, plan.FieldTags) },
					func(ctx context.Context) error {
						return setBucket(ctx, c, p, o, ch.Fields, plan.FieldPublicAccessBlock, plan.FieldBucketPolicy)
					}}
				if ch.Action == plan.Update {
					both := settings
					settings = []func(context.Context) error{done.of(ch, func(ctx context.Context) error { return parallel(ctx, 2, both...) })}
				}
				fns = append(fns, settings...)
			}
			for _, ch := range objects {
				fns = append(fns, done.of(ch, func(ctx context.Context) error { return putObject(ctx, c, p, ch.Name, progress) }))
			}
			return parallel(ctx, c.Concurrency, fns...)
		},
		func(ctx context.Context) error {
			for _, ch := range provider {
				if err := applyProvider(ctx, c, p, o, ch, progress); err != nil {
					return err
				}
				done.add(ch)
			}
			var fns []func(context.Context) error
			for _, ch := range roles {
				fns = append(fns, func(ctx context.Context) error { return applyRole(ctx, c, p, o, ch, progress, done) })
			}
			return parallel(ctx, c.Concurrency, fns...)
		})
	if err != nil {
		return &ApplyError{Err: err, Done: done.sorted()}
	}
	return nil
}

// ApplyError is a failed Apply and the changes it made before (the ones
// that finished: a bucket is listed once created, a role once created even
// if its policy is not set yet).
type ApplyError struct {
	Err  error
	Done []plan.Change
}

func (e *ApplyError) Error() string { return e.Err.Error() }
func (e *ApplyError) Unwrap() error { return e.Err }

type madeChanges struct {
	mu   sync.Mutex
	list []plan.Change
}

func (m *madeChanges) add(ch plan.Change) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.list = append(m.list, ch)
}

// of records ch once fn has made it.
func (m *madeChanges) of(ch plan.Change, fn func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		err := fn(ctx)
		if err == nil {
			m.add(ch)
		}
		return err
	}
}

// sorted is the plan's order: resource kind, then name.
func (m *madeChanges) sorted() []plan.Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	order := map[plan.Resource]int{plan.BucketResource: 0, plan.ObjectResource: 1, plan.ProviderResource: 2, plan.RoleResource: 3}
	out := slices.Clone(m.list)
	slices.SortStableFunc(out, func(a, b plan.Change) int {
		if d := order[a.Resource] - order[b.Resource]; d != 0 {
			return d
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

func createBucket(ctx context.Context, c *Clients, p *plan.Plan, progress Progress) error {
	name := p.Bucket.Name
	progress("creating S3 bucket %s", name)
	in := &s3.CreateBucketInput{Bucket: &name}
	if p.Bucket.Region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(p.Bucket.Region)}
	}
	_, err := c.S3.CreateBucket(ctx, in)
	switch errorCode(err) {
	case "BucketAlreadyOwnedByYou":
		return nil
	case "BucketAlreadyExists":
		return fmt.Errorf("creating S3 bucket %s: the name is taken by another AWS account; choose another --name", name)
	}
	return stepError("creating S3 bucket "+name, err)
}

// setBucket applies, in order, those of steps that fields name.
func setBucket(ctx context.Context, c *Clients, p *plan.Plan, o *Observed, fields []string, steps ...string) error {
	name := p.Bucket.Name
	for _, f := range steps {
		if !slices.Contains(fields, f) {
			continue
		}
		var err error
		switch f {
		case plan.FieldTags:
			_, err = c.S3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: &name, ExpectedBucketOwner: c.expectedOwner(), Tagging: &s3types.Tagging{TagSet: s3Tags(mergeTags(o.Bucket.Tags, p.Bucket.Tags))}})
		case plan.FieldPublicAccessBlock:
			b := DesiredBlock(p.Bucket.Private)
			_, err = c.S3.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: &name, ExpectedBucketOwner: c.expectedOwner(), PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
				BlockPublicAcls: &b[0], IgnorePublicAcls: &b[1], BlockPublicPolicy: &b[2], RestrictPublicBuckets: &b[3]}})
		case plan.FieldBucketPolicy:
			_, err = c.S3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: &name, ExpectedBucketOwner: c.expectedOwner(), Policy: aws.String(string(p.Bucket.Policy))})
			if isAccessDenied(err) && strings.Contains(err.Error(), "BlockPublicPolicy") {
				return fmt.Errorf("setting the public bucket policy of S3 bucket %s: S3 Block Public Access (BlockPublicPolicy, of the account or the bucket) refuses it: %w; %s", name, err, blockedPublicIssuerFix)
			}
		}
		if err != nil {
			return stepError(fmt.Sprintf("setting the %s of S3 bucket %s", f, name), err)
		}
	}
	return nil
}

func putObject(ctx context.Context, c *Clients, p *plan.Plan, key string, progress Progress) error {
	for _, obj := range p.Bucket.Objects {
		if obj.Key != key {
			continue
		}
		progress("uploading s3://%s/%s", p.Bucket.Name, key)
		_, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &p.Bucket.Name, Key: &obj.Key, ExpectedBucketOwner: c.expectedOwner(), Body: bytes.NewReader(obj.Body), ContentType: &obj.ContentType})
		return stepError("uploading s3://"+p.Bucket.Name+"/"+key, err)
	}
	return nil
}

func applyProvider(ctx context.Context, c *Clients, p *plan.Plan, o *Observed, ch plan.Change, progress Progress) error {
	want := p.OIDCProvider
	if ch.Action == plan.Create {
		progress("creating IAM OIDC provider for %s", want.URL)
		_, err := c.IAM.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: &want.URL, ClientIDList: want.ClientIDs, Tags: iamTagList(want.Tags)})
		if errorCode(err) == "EntityAlreadyExists" {
			return nil // created by an interrupted run; its state is checked by the next one
		}
		return stepError("creating the IAM OIDC provider for "+want.URL, err)
	}
	progress("updating IAM OIDC provider %s (%s)", want.ARN, strings.Join(ch.Fields, ", "))
	for _, f := range ch.Fields {
		switch f {
		case plan.FieldClientIDs:
			for _, id := range want.ClientIDs {
				if slices.Contains(o.Provider.ClientIDs, id) {
					continue
				}
				if _, err := c.IAM.AddClientIDToOpenIDConnectProvider(ctx, &iam.AddClientIDToOpenIDConnectProviderInput{OpenIDConnectProviderArn: &want.ARN, ClientID: aws.String(id)}); err != nil {
					return stepError("adding client ID "+id+" to "+want.ARN, err)
				}
			}
		case plan.FieldTags:
			if _, err := c.IAM.TagOpenIDConnectProvider(ctx, &iam.TagOpenIDConnectProviderInput{OpenIDConnectProviderArn: &want.ARN, Tags: iamTagList(want.Tags)}); err != nil {
				return stepError("tagging "+want.ARN, err)
			}
		}
	}
	return nil
}

// applyRole makes one role change, recording it in done once made (a
// created role as soon as it exists).
func applyRole(ctx context.Context, c *Clients, p *plan.Plan, o *Observed, ch plan.Change, progress Progress, done *madeChanges) error {
	if ch.Action == plan.Delete {
		progress("deleting IAM role %s (no longer in the plan)", ch.Name)
		return done.of(ch, func(ctx context.Context) error { return deleteRole(ctx, c, o.Roles[ch.Name]) })(ctx)
	}
	var want plan.Role
	for _, r := range p.Roles {
		if r.Name == ch.Name {
			want = r
		}
	}
	fields := ch.Fields
	if ch.Action == plan.Update && fields[0] == plan.FieldPath {
		progress("re-creating IAM role %s under path %s", want.Name, want.Path)
		if err := deleteRole(ctx, c, o.Roles[want.Name]); err != nil {
			return err
		}
		ch.Action = plan.Create
	}
	if ch.Action == plan.Create {
		progress("creating IAM role %s", want.Name)
		if err := createRole(ctx, c, want, progress); err != nil {
			return err
		}
		done.add(plan.Change{Resource: plan.RoleResource, Name: want.Name, Action: plan.Create})
		fields = []string{plan.FieldPolicy}
	} else {
		progress("updating IAM role %s (%s)", want.Name, strings.Join(fields, ", "))
	}
	have := o.Roles[want.Name]
	for _, f := range fields {
		var err error
		switch f {
		case plan.FieldTrustPolicy:
			err = eventually(ctx, progress, "the OIDC provider", "UpdateAssumeRolePolicy", func() error {
				_, err := c.IAM.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: &want.Name, PolicyDocument: aws.String(string(want.TrustPolicy))})
				return err
			}, providerNotVisible)
		case plan.FieldPolicy:
			err = eventually(ctx, progress, "the new roles", "PutRolePolicy", func() error {
				_, err := c.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: &want.Name, PolicyName: &want.PolicyName, PolicyDocument: aws.String(string(want.Policy))})
				return err
			}, roleNotVisible)
		case plan.FieldExtraPolicies:
			err = removeExtraPolicies(ctx, c, have, want.PolicyName)
		case plan.FieldPermissionsBoundary:
			if want.PermissionsBoundary == "" {
				_, err = c.IAM.DeleteRolePermissionsBoundary(ctx, &iam.DeleteRolePermissionsBoundaryInput{RoleName: &want.Name})
			} else {
				_, err = c.IAM.PutRolePermissionsBoundary(ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: &want.Name, PermissionsBoundary: &want.PermissionsBoundary})
			}
		case plan.FieldTags:
			_, err = c.IAM.TagRole(ctx, &iam.TagRoleInput{RoleName: &want.Name, Tags: iamTagList(want.Tags)})
		}
		if err != nil {
			return stepError(fmt.Sprintf("setting the %s of IAM role %s", f, want.Name), err)
		}
	}
	if ch.Action == plan.Update {
		done.add(ch)
	}
	return nil
}

// createRole creates the role with its trust, tags and boundary in one call,
// so a role never exists without the ownership tag.
func createRole(ctx context.Context, c *Clients, r plan.Role, progress Progress) error {
	in := &iam.CreateRoleInput{
		RoleName: &r.Name, Path: &r.Path, AssumeRolePolicyDocument: aws.String(string(r.TrustPolicy)), Tags: iamTagList(r.Tags),
		Description: aws.String(fmt.Sprintf("OpenShift %s/%s (CredentialsRequest %s), managed by oc sts", r.CredentialsRequest.SecretNamespace, r.CredentialsRequest.SecretName, r.CredentialsRequest.Name)),
	}
	if r.PermissionsBoundary != "" {
		in.PermissionsBoundary = &r.PermissionsBoundary
	}
	err := eventually(ctx, progress, "the new OIDC provider", "CreateRole", func() error {
		_, err := c.IAM.CreateRole(ctx, in)
		return err
	}, providerNotVisible)
	if errorCode(err) == "EntityAlreadyExists" {
		return nil // created by an interrupted run or a retried call
	}
	return stepError("creating IAM role "+r.Name, err)
}

func removeExtraPolicies(ctx context.Context, c *Clients, have RoleState, keep string) error {
	for name := range have.Inline {
		if name == keep {
			continue
		}
		if _, err := c.IAM.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: &have.Name, PolicyName: aws.String(name)}); err != nil && errorCode(err) != "NoSuchEntity" {
			return err
		}
	}
	for _, arn := range have.Attached {
		if _, err := c.IAM.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: &have.Name, PolicyArn: aws.String(arn)}); err != nil && errorCode(err) != "NoSuchEntity" {
			return err
		}
	}
	return nil
}

// deleteRole removes a role's policies, then the role.
func deleteRole(ctx context.Context, c *Clients, r RoleState) error {
	if err := removeExtraPolicies(ctx, c, r, ""); err != nil {
		return stepError("removing the policies of IAM role "+r.Name, err)
	}
	_, err := c.IAM.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: &r.Name})
	if errorCode(err) == "NoSuchEntity" {
		return nil
	}
	return stepError("deleting IAM role "+r.Name, err)
}

// providerNotVisible: IAM refuses a trust naming a provider it has just
// created until the provider is visible to it.
func providerNotVisible(err error) bool {
	return errorCode(err) == "MalformedPolicyDocument" && strings.Contains(err.Error(), "Invalid principal")
}

func roleNotVisible(err error) bool { return errorCode(err) == "NoSuchEntity" }

func stepError(step string, err error) error { return awsread.StepError(step, err) }

func mergeTags(have map[string]string, want []plan.Tag) map[string]string {
	out := map[string]string{}
	for k, v := range have {
		out[k] = v
	}
	for _, t := range want {
		out[t.Key] = t.Value
	}
	return out
}

func s3Tags(m map[string]string) []s3types.Tag {
	var out []s3types.Tag
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, s3types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

func iamTagList(tags []plan.Tag) []iamtypes.Tag {
	out := make([]iamtypes.Tag, 0, len(tags))
	for _, t := range tags {
		out = append(out, iamtypes.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
	}
	return out
}
