package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"

	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// Observed is what AWS has of a plan's resources.
type Observed struct {
	Bucket   BucketState
	Provider ProviderState
	// Roles are the plan's roles that exist, and every other role carrying
	// the ownership tag (candidates for --prune), by name.
	Roles map[string]RoleState
	// AccountBlock is the account-level S3 public access block (same order
	// as BucketState.Block), read for a public issuer; nil when unread.
	AccountBlock *[4]bool
	// Warnings are what could not be checked, for the user to know.
	Warnings []string
}

// BucketState is the issuer bucket as found.
type BucketState struct {
	Exists bool
	// Foreign: the name is taken by another AWS account (bucket names are
	// global); nothing else of the bucket can be read.
	Foreign bool
	// InOtherRegion: the bucket is ours but in Region, not the plan's
	// (Region is "" when S3 did not say which).
	InOtherRegion bool
	Region        string
	Tags          map[string]string
	// Block is the public access block: BlockPublicAcls, IgnorePublicAcls,
	// BlockPublicPolicy, RestrictPublicBuckets.
	Block   [4]bool
	Policy  string
	Objects map[string]string // key -> ETag (the MD5 of a single-part upload)
	// PublishedJWKS is the keys.json in the bucket, read only when it
	// differs from the plan's (a key is about to be replaced).
	PublishedJWKS []byte
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

// Observe reads the plan's resources; the bucket, the provider, the roles
// and the account's S3 Block Public Access are read concurrently.
func Observe(ctx context.Context, c *Clients, p *plan.Plan) (*Observed, error) {
	o := &Observed{Roles: map[string]RoleState{}}
	err := parallel(ctx, c.Concurrency,
		func(ctx context.Context) (err error) {
			if o.Bucket, err = observeBucket(ctx, c, p.Bucket.Name); err != nil {
				return err
			}
			o.Bucket.PublishedJWKS, err = publishedJWKS(ctx, c, p, o.Bucket)
			return err
		},
		func(ctx context.Context) (err error) {
			o.Provider, err = ReadProvider(ctx, c, p.OIDCProvider.ARN)
			return
		},
		func(ctx context.Context) (err error) {
			o.Roles, err = observeRoles(ctx, c, p.Name, roleNames(p), rolePath(p))
			return
		},
		func(ctx context.Context) error {
			if p.Bucket.Private { // a private issuer needs no public access
				return nil
			}
			block, warning, err := accountBlock(ctx, c, p.AccountID)
			o.AccountBlock = block
			if warning != "" {
				o.Warnings = append(o.Warnings, warning)
			}
			return err
		},
	)
	return o, err
}

// accountBlock reads the account-level S3 Block Public Access (s3control):
// it overrides every bucket's own. A denied read is a warning, not an error.
func accountBlock(ctx context.Context, c *Clients, account string) (*[4]bool, string, error) {
	out, err := c.S3Control.GetPublicAccessBlock(ctx, &s3control.GetPublicAccessBlockInput{AccountId: &account})
	switch {
	case errorCode(err) == "NoSuchPublicAccessBlockConfiguration":
		return &[4]bool{}, "", nil
	case isAccessDenied(err):
		return nil, fmt.Sprintf("could not read the S3 Block Public Access settings of account %s (s3:GetAccountPublicAccessBlock is denied): if they block public bucket policies, the issuer's bucket policy will be refused after the other resources are made; --private-bucket needs no public access", account), nil
	case err != nil:
		return nil, "", readError("the S3 Block Public Access settings of account "+account, "s3:GetAccountPublicAccessBlock", err)
	}
	b := out.PublicAccessBlockConfiguration
	return &[4]bool{aws.ToBool(b.BlockPublicAcls), aws.ToBool(b.IgnorePublicAcls), aws.ToBool(b.BlockPublicPolicy), aws.ToBool(b.RestrictPublicBuckets)}, "", nil
}

// maxJWKS bounds the published keys.json read (a JWKS of a few keys is a few KB).
const maxJWKS = 1 << 20

// publishedJWKS reads the bucket's keys.json when it is not the plan's.
func publishedJWKS(ctx context.Context, c *Clients, p *plan.Plan, b BucketState) ([]byte, error) {
	etag, ok := b.Objects[oidckeys.JWKSPath]
	if !ok || b.Foreign || b.InOtherRegion {
		return nil, nil
	}
	for _, obj := range p.Bucket.Objects {
		if obj.Key == oidckeys.JWKSPath && etag == ContentMD5(obj.Body) {
			return nil, nil
		}
	}
	what := "s3://" + p.Bucket.Name + "/" + oidckeys.JWKSPath
	out, err := c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &p.Bucket.Name, Key: aws.String(oidckeys.JWKSPath), ExpectedBucketOwner: c.expectedOwner()})
	if err != nil {
		return nil, readError(what, "s3:GetObject", err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, maxJWKS+1))
	if err != nil {
		return nil, readError(what, "s3:GetObject", err)
	}
	if len(body) > maxJWKS {
		return nil, fmt.Errorf("%s is over %d bytes: it is no JWKS oc sts wrote", what, maxJWKS)
	}
	return body, nil
}

// observeBucket reads the bucket's settings side by side; any of them
// answering NoSuchBucket means there is no bucket. Every read names our
// account as the expected owner: a bucket of that name owned by another
// account (names are global) answers AccessDenied, which ListBuckets then
// tells from a permission we lack; a bucket of ours in another region
// answers with a redirect naming it.
func observeBucket(ctx context.Context, c *Clients, bucket string) (BucketState, error) {
	b := BucketState{Exists: true, Tags: map[string]string{}, Objects: map[string]string{}}
	var mu sync.Mutex
	var denied []error
	read := func(permission string, call func(context.Context) error, absent string) func(context.Context) error {
		return func(ctx context.Context) error {
			err := call(ctx)
			if err == nil || errorCode(err) == absent {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			region, elsewhere := regionOf(err)
			switch {
			case errorCode(err) == "NoSuchBucket":
				b.Exists = false
			case elsewhere:
				b.InOtherRegion = true
				b.Region = cmp.Or(b.Region, region)
			case isAccessDenied(err) && !explicitDenyRE.MatchString(err.Error()):
				denied = append(denied, readError("the S3 bucket "+bucket, permission, err))
			default:
				return readError("the S3 bucket "+bucket, permission, err)
			}
			return nil
		}
	}
	owner := c.expectedOwner()
	err := parallel(ctx, 4,
		read("s3:GetBucketTagging", func(ctx context.Context) error {
			out, err := c.S3.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: &bucket, ExpectedBucketOwner: owner})
			if err == nil {
				for _, t := range out.TagSet {
					b.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
				}
			}
			return err
		}, "NoSuchTagSet"),
		read("s3:GetBucketPublicAccessBlock", func(ctx context.Context) error {
			out, err := c.S3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: &bucket, ExpectedBucketOwner: owner})
			if err == nil {
				pab := out.PublicAccessBlockConfiguration
				b.Block = [4]bool{aws.ToBool(pab.BlockPublicAcls), aws.ToBool(pab.IgnorePublicAcls), aws.ToBool(pab.BlockPublicPolicy), aws.ToBool(pab.RestrictPublicBuckets)}
			}
			return err
		}, "NoSuchPublicAccessBlockConfiguration"),
		read("s3:GetBucketPolicy", func(ctx context.Context) error {
			out, err := c.S3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: &bucket, ExpectedBucketOwner: owner})
			if err == nil {
				b.Policy = aws.ToString(out.Policy)
			}
			return err
		}, "NoSuchBucketPolicy"),
		read("s3:ListBucket", func(ctx context.Context) error {
			pages := s3.NewListObjectsV2Paginator(c.S3, &s3.ListObjectsV2Input{Bucket: &bucket, ExpectedBucketOwner: owner})
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
	none := BucketState{Tags: map[string]string{}, Objects: map[string]string{}}
	switch {
	case err != nil:
		return b, err
	case !b.Exists:
		return none, nil
	case b.InOtherRegion:
		none.Exists, none.InOtherRegion, none.Region = true, true, b.Region
		return none, nil
	case len(denied) > 0:
		ours, err := ownBucket(ctx, c, bucket)
		if err != nil {
			return b, fmt.Errorf("%w (or the bucket belongs to another AWS account: S3 bucket names are global, and s3:ListAllMyBuckets, which would tell, is denied too: %v)", errors.Join(denied...), err)
		}
		if !ours {
			none.Exists, none.Foreign = true, true
			return none, nil
		}
		return b, errors.Join(denied...)
	}
	return b, nil
}

// ownBucket says whether the caller's account has a bucket of that name.
func ownBucket(ctx context.Context, c *Clients, bucket string) (bool, error) {
	pages := s3.NewListBucketsPaginator(c.S3, &s3.ListBucketsInput{Prefix: &bucket})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return false, err
		}
		for _, b := range out.Buckets {
			if aws.ToString(b.Name) == bucket {
				return true, nil
			}
		}
	}
	return false, nil
}

// expectingRE is the region in S3's AuthorizationHeaderMalformed message.
var expectingRE = regexp.MustCompile(`expecting '([a-z0-9-]+)'`)

// regionOf reads S3's answer that a bucket is in another region than the
// request's: 301 PermanentRedirect from a regional endpoint (the region in
// x-amz-bucket-region), 400 AuthorizationHeaderMalformed from the global
// one (the region in the message).
func regionOf(err error) (string, bool) {
	if code := errorCode(err); code != "PermanentRedirect" && code != "AuthorizationHeaderMalformed" {
		return "", false
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		if region := re.Response.Header.Get("x-amz-bucket-region"); region != "" {
			return region, true
		}
	}
	if m := expectingRE.FindStringSubmatch(err.Error()); m != nil {
		return m[1], true
	}
	return "", true
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
	if denied, ok := explicitDeny("reading "+what, err); ok {
		return denied
	}
	if isAccessDenied(err) {
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

// ReadRoles reads the named roles and every other role under path that
// carries name's ownership tag (day-2 operators' roles among them).
func ReadRoles(ctx context.Context, c *Clients, name string, names []string, path string) (map[string]RoleState, error) {
	return observeRoles(ctx, c, name, names, path)
}
