package provision

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/oc-sts/oc-sts/pkg/plan"
)

// Observed is what AWS has of a plan's resources.
type Observed struct {
	Bucket   BucketState
	Provider ProviderState
	// Roles are the plan's roles that exist, and every other role carrying
	// the ownership tag (candidates for --prune), by name.
	Roles map[string]RoleState
}

// BucketState is the issuer bucket as found.
type BucketState struct {
	Exists bool
	Tags   map[string]string
	// Block is the public access block: BlockPublicAcls, IgnorePublicAcls,
	// BlockPublicPolicy, RestrictPublicBuckets.
	Block   [4]bool
	Policy  string
	Objects map[string]string // key -> ETag (the MD5 of a single-part upload)
}

// ProviderState is the IAM OIDC provider for the plan's issuer URL.
type ProviderState struct {
	Exists    bool
	ClientIDs []string
	Tags      map[string]string
}

// RoleState is an IAM role as found.
type RoleState struct {
	Name, ARN, Path string
	Trust           string
	Inline          map[string]string // policy name -> document
	Attached        []string          // managed policy ARNs
	Boundary        string
	Tags            map[string]string
}

// Observe reads the plan's resources; the bucket, the provider and the
// roles are read concurrently.
func Observe(ctx context.Context, c *Clients, p *plan.Plan) (*Observed, error) {
	o := &Observed{Roles: map[string]RoleState{}}
	err := parallel(ctx, c.Concurrency,
		func(ctx context.Context) (err error) { o.Bucket, err = observeBucket(ctx, c, p.Bucket.Name); return },
		func(ctx context.Context) (err error) {
			o.Provider, err = ReadProvider(ctx, c, p.OIDCProvider.ARN)
			return
		},
		func(ctx context.Context) (err error) {
			o.Roles, err = observeRoles(ctx, c, p.Name, roleNames(p), rolePath(p))
			return
		},
	)
	return o, err
}

// observeBucket reads the bucket's settings side by side; any of them
// answering NoSuchBucket means there is no bucket.
func observeBucket(ctx context.Context, c *Clients, bucket string) (BucketState, error) {
	b := BucketState{Exists: true, Tags: map[string]string{}, Objects: map[string]string{}}
	var mu sync.Mutex
	missing := func(err error) bool {
		if errorCode(err) != "NoSuchBucket" {
			return false
		}
		mu.Lock()
		b.Exists = false
		mu.Unlock()
		return true
	}
	read := func(permission string, call func(context.Context) error, absent string) func(context.Context) error {
		return func(ctx context.Context) error {
			err := call(ctx)
			if err == nil || missing(err) || errorCode(err) == absent {
				return nil
			}
			return readError("the S3 bucket "+bucket, permission, err)
		}
	}
	err := parallel(ctx, 4,
		read("s3:GetBucketTagging", func(ctx context.Context) error {
			out, err := c.S3.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: &bucket})
			if err == nil {
				for _, t := range out.TagSet {
					b.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
				}
			}
			return err
		}, "NoSuchTagSet"),
		read("s3:GetBucketPublicAccessBlock", func(ctx context.Context) error {
			out, err := c.S3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: &bucket})
			if err == nil {
				pab := out.PublicAccessBlockConfiguration
				b.Block = [4]bool{aws.ToBool(pab.BlockPublicAcls), aws.ToBool(pab.IgnorePublicAcls), aws.ToBool(pab.BlockPublicPolicy), aws.ToBool(pab.RestrictPublicBuckets)}
			}
			return err
		}, "NoSuchPublicAccessBlockConfiguration"),
		read("s3:GetBucketPolicy", func(ctx context.Context) error {
			out, err := c.S3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: &bucket})
			if err == nil {
				b.Policy = aws.ToString(out.Policy)
			}
			return err
		}, "NoSuchBucketPolicy"),
		read("s3:ListBucket", func(ctx context.Context) error {
			pages := s3.NewListObjectsV2Paginator(c.S3, &s3.ListObjectsV2Input{Bucket: &bucket})
			for pages.HasMorePages() {
				out, err := pages.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, obj := range out.Contents {
					b.Objects[aws.ToString(obj.Key)] = strings.Trim(aws.ToString(obj.ETag), `"`)
				}
			}
			return nil
		}, ""))
	if !b.Exists {
		return BucketState{Tags: map[string]string{}, Objects: map[string]string{}}, err
	}
	return b, err
}

// ReadProvider reads the IAM OIDC provider of an ARN.
func ReadProvider(ctx context.Context, c *Clients, arn string) (ProviderState, error) {
	out, err := c.IAM.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: &arn})
	if errorCode(err) == "NoSuchEntity" {
		return ProviderState{}, nil
	}
	if err != nil {
		return ProviderState{}, readError("the IAM OIDC provider "+arn, "iam:GetOpenIDConnectProvider", err)
	}
	return ProviderState{Exists: true, ClientIDs: out.ClientIDList, Tags: iamTags(out.Tags)}, nil
}

// observeRoles reads every role of the account with its policies and tags
// in one paged call (GetAccountAuthorizationDetails) and keeps the plan's
// and the owned ones; where that call is denied, it reads the plan's roles
// one by one (owned roles outside the plan are then found by ListRoles).
func observeRoles(ctx context.Context, c *Clients, name string, names []string, path string) (map[string]RoleState, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	owned := plan.OwnershipTagKey(name)
	roles := map[string]RoleState{}
	pages := iam.NewGetAccountAuthorizationDetailsPaginator(c.IAM, &iam.GetAccountAuthorizationDetailsInput{
		Filter: []iamtypes.EntityType{iamtypes.EntityTypeRole}, MaxItems: aws.Int32(1000)})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if errorCode(err) == "AccessDenied" {
			return observeRolesOneByOne(ctx, c, name, names, path)
		}
		if err != nil {
			return nil, readError("IAM roles", "iam:GetAccountAuthorizationDetails", err)
		}
		for _, d := range out.RoleDetailList {
			r := RoleState{
				Name: aws.ToString(d.RoleName), ARN: aws.ToString(d.Arn), Path: aws.ToString(d.Path),
				Trust: decodePolicy(aws.ToString(d.AssumeRolePolicyDocument)), Inline: map[string]string{}, Tags: iamTags(d.Tags),
			}
			if !want[r.Name] && r.Tags[owned] != plan.OwnedValue {
				continue
			}
			for _, ip := range d.RolePolicyList {
				r.Inline[aws.ToString(ip.PolicyName)] = decodePolicy(aws.ToString(ip.PolicyDocument))
			}
			for _, ap := range d.AttachedManagedPolicies {
				r.Attached = append(r.Attached, aws.ToString(ap.PolicyArn))
			}
			if d.PermissionsBoundary != nil {
				r.Boundary = aws.ToString(d.PermissionsBoundary.PermissionsBoundaryArn)
			}
			roles[r.Name] = r
		}
	}
	return roles, nil
}

func observeRolesOneByOne(ctx context.Context, c *Clients, name string, planned []string, path string) (map[string]RoleState, error) {
	owned, err := ownedRoleNames(ctx, c, name, path)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, n := range append(planned, owned...) {
		names[n] = true
	}
	roles := map[string]RoleState{}
	var fns []func(context.Context) error
	results := make(chan RoleState, len(names))
	for name := range names {
		fns = append(fns, func(ctx context.Context) error {
			r, ok, err := ReadRole(ctx, c, name)
			if ok {
				results <- r
			}
			return err
		})
	}
	err = parallel(ctx, c.Concurrency, fns...)
	close(results)
	for r := range results {
		roles[r.Name] = r
	}
	return roles, err
}

// ownedRoleNames lists the roles under path whose name starts with name-
// and that carry name's ownership tag.
func ownedRoleNames(ctx context.Context, c *Clients, name, path string) ([]string, error) {
	var out []string
	pages := iam.NewListRolesPaginator(c.IAM, &iam.ListRolesInput{PathPrefix: &path})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, readError("IAM roles under "+path, "iam:ListRoles", err)
		}
		for _, r := range page.Roles {
			n := aws.ToString(r.RoleName)
			if !strings.HasPrefix(n, name+"-") {
				continue
			}
			tags, err := c.IAM.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: &n})
			if err != nil {
				return nil, readError("the IAM role "+n, "iam:ListRoleTags", err)
			}
			if iamTags(tags.Tags)[plan.OwnershipTagKey(name)] == plan.OwnedValue {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// ReadRole reads a role with its trust, inline and attached policies and
// boundary; ok is false when it does not exist.
func ReadRole(ctx context.Context, c *Clients, name string) (RoleState, bool, error) {
	got, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: &name})
	if errorCode(err) == "NoSuchEntity" {
		return RoleState{}, false, nil
	}
	if err != nil {
		return RoleState{}, false, readError("the IAM role "+name, "iam:GetRole", err)
	}
	role := got.Role
	r := RoleState{Name: name, ARN: aws.ToString(role.Arn), Path: aws.ToString(role.Path), Trust: decodePolicy(aws.ToString(role.AssumeRolePolicyDocument)),
		Inline: map[string]string{}, Tags: iamTags(role.Tags)}
	if role.PermissionsBoundary != nil {
		r.Boundary = aws.ToString(role.PermissionsBoundary.PermissionsBoundaryArn)
	}
	inline, err := c.IAM.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: &name})
	if err != nil {
		return r, true, readError("the IAM role "+name, "iam:ListRolePolicies", err)
	}
	for _, pn := range inline.PolicyNames {
		doc, err := c.IAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: &name, PolicyName: aws.String(pn)})
		if err != nil {
			return r, true, readError("the IAM role "+name, "iam:GetRolePolicy", err)
		}
		r.Inline[pn] = decodePolicy(aws.ToString(doc.PolicyDocument))
	}
	attached, err := c.IAM.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: &name})
	if err != nil {
		return r, true, readError("the IAM role "+name, "iam:ListAttachedRolePolicies", err)
	}
	for _, ap := range attached.AttachedPolicies {
		r.Attached = append(r.Attached, aws.ToString(ap.PolicyArn))
	}
	return r, true, nil
}

func iamTags(tags []iamtypes.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// decodePolicy undoes IAM's URL-encoding (RFC 3986) of policy documents.
func decodePolicy(doc string) string {
	if !strings.HasPrefix(doc, "%7B") {
		return doc
	}
	if d, err := url.PathUnescape(doc); err == nil {
		return d
	}
	return doc
}

// readError says what could not be read and which permission it takes.
func readError(what, permission string, err error) error {
	if code := errorCode(err); code == "AccessDenied" || code == "AccessDeniedException" || code == "UnauthorizedOperation" {
		return fmt.Errorf("reading %s: access denied: the caller needs %s", what, permission)
	}
	return fmt.Errorf("reading %s: %w", what, err)
}

func roleNames(p *plan.Plan) []string {
	var out []string
	for _, r := range p.Roles {
		out = append(out, r.Name)
	}
	return out
}

func rolePath(p *plan.Plan) string {
	if len(p.Roles) == 0 {
		return "/"
	}
	return p.Roles[0].Path
}

// PolicyDocument is the default version of a managed policy.
func PolicyDocument(ctx context.Context, c *Clients, arn string) (string, error) {
	p, err := c.IAM.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: &arn})
	if err != nil {
		return "", readError("the IAM policy "+arn, "iam:GetPolicy", err)
	}
	v, err := c.IAM.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: &arn, VersionId: p.Policy.DefaultVersionId})
	if err != nil {
		return "", readError("the IAM policy "+arn, "iam:GetPolicyVersion", err)
	}
	return decodePolicy(aws.ToString(v.PolicyVersion.Document)), nil
}
