package provision

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// fakeAWS is a small in-memory AWS behind the interfaces Converge needs,
// for the fast tests: S3 buckets and objects (new buckets block public
// access, as since 2023), IAM roles and providers, the policy simulator, a
// CloudFront distribution deployed at once. It logs every call, can deny
// operations and can cut the network after the k-th call (a crash).
type fakeAWS struct {
	mu        sync.Mutex
	account   string
	buckets   map[string]*fakeBucket
	providers map[string]*fakeProvider // by ARN
	roles     map[string]*fakeRole
	dists     map[string]*fakeDist // by ID
	oacs      map[string]string    // ID -> name
	// simDenied are actions the policy simulator denies; denied are
	// operations that fail with AccessDenied.
	simDenied map[string]bool
	denied    map[string]bool
	// cutAfter > 0 fails every call after that many: the network is gone.
	cutAfter int
	calls    []string
}

type fakeBucket struct {
	tags    map[string]string
	block   [4]bool
	policy  string
	objects map[string][]byte
}

type fakeProvider struct {
	url       string
	clientIDs []string
	tags      map[string]string
}

type fakeRole struct {
	path, trust, boundary string
	inline                map[string]string
	attached              []string
	tags                  map[string]string
}

type fakeDist struct {
	arn, domain string
	enabled     bool
	tags        map[string]string
	oac, ref    string
}

func newFakeAWS() *fakeAWS {
	return &fakeAWS{account: "123456789012", buckets: map[string]*fakeBucket{}, providers: map[string]*fakeProvider{}, roles: map[string]*fakeRole{},
		dists: map[string]*fakeDist{}, oacs: map[string]string{}, simDenied: map[string]bool{}, denied: map[string]bool{}}
}

// clients are Clients on f.
func (f *fakeAWS) clients() *Clients {
	return &Clients{STS: fakeSTS{f}, IAM: fakeIAM{f}, S3: fakeS3{f}, S3Control: fakeS3Control{f}, CloudFront: fakeCloudFront{f}, Region: "us-east-2", Concurrency: 8}
}

func apiErr(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }

// call logs op and says whether it may go on (the lock is held on success).
func (f *fakeAWS) call(op string) error {
	f.mu.Lock()
	f.calls = append(f.calls, op)
	if f.cutAfter > 0 && len(f.calls) > f.cutAfter {
		f.mu.Unlock()
		return fmt.Errorf("%s: dial tcp: connection refused", op)
	}
	if f.denied[op] {
		f.mu.Unlock()
		return apiErr("AccessDenied", "User: arn:aws:iam::123456789012:user/test is not authorized to perform: "+op)
	}
	return nil
}

// mutating are the calls that change something, in order.
func (f *fakeAWS) mutating() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if !strings.HasPrefix(c, "Get") && !strings.HasPrefix(c, "List") && c != "SimulatePrincipalPolicy" {
			out = append(out, c)
		}
	}
	return out
}

// state renders everything the account holds, for comparing end states.
func (f *fakeAWS) state() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var lines []string
	for n, b := range f.buckets {
		lines = append(lines, fmt.Sprintf("bucket %s tags=%v block=%v policy=%s", n, b.tags, b.block, b.policy))
		for k, v := range b.objects {
			lines = append(lines, fmt.Sprintf("object %s/%s %s", n, k, v))
		}
	}
	for a, p := range f.providers {
		lines = append(lines, fmt.Sprintf("provider %s %s %v %v", a, p.url, p.clientIDs, p.tags))
	}
	for n, r := range f.roles {
		lines = append(lines, fmt.Sprintf("role %s%s trust=%s inline=%v attached=%v boundary=%s tags=%v", r.path, n, r.trust, r.inline, r.attached, r.boundary, r.tags))
	}
	for id, d := range f.dists {
		lines = append(lines, fmt.Sprintf("distribution %s %s enabled=%v oac=%s", id, d.domain, d.enabled, f.oacs[d.oac]))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

type fakeSTS struct{ f *fakeAWS }

func (s fakeSTS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	if err := s.f.call("GetCallerIdentity"); err != nil {
		return nil, err
	}
	defer s.f.mu.Unlock()
	return &sts.GetCallerIdentityOutput{Account: aws.String(s.f.account), Arn: aws.String("arn:aws:iam::" + s.f.account + ":user/test")}, nil
}

func (s fakeSTS) AssumeRoleWithWebIdentity(context.Context, *sts.AssumeRoleWithWebIdentityInput, ...func(*sts.Options)) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	return nil, apiErr("NotImplemented", "the fake has no web identity")
}

type fakeS3 struct{ f *fakeAWS }

// bucket is the bucket of a call (lock held), or NoSuchBucket.
func (s fakeS3) bucket(op string, name *string) (*fakeBucket, error) {
	if err := s.f.call(op); err != nil {
		return nil, err
	}
	b := s.f.buckets[aws.ToString(name)]
	if b == nil {
		s.f.mu.Unlock()
		return nil, apiErr("NoSuchBucket", "The specified bucket does not exist")
	}
	return b, nil
}

func (s fakeS3) GetBucketTagging(_ context.Context, in *s3.GetBucketTaggingInput, _ ...func(*s3.Options)) (*s3.GetBucketTaggingOutput, error) {
	b, err := s.bucket("GetBucketTagging", in.Bucket)
	if err != nil {
		return nil, err
	}
	defer s.f.mu.Unlock()
	if len(b.tags) == 0 {
		return nil, apiErr("NoSuchTagSet", "The TagSet does not exist")
	}
	return &s3.GetBucketTaggingOutput{TagSet: s3Tags(b.tags)}, nil
}

func (s fakeS3) GetPublicAccessBlock(_ context.Context, in *s3.GetPublicAccessBlockInput, _ ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error) {
	b, err := s.bucket("GetPublicAccessBlock", in.Bucket)
	if err != nil {
		return nil, err
	}
	defer s.f.mu.Unlock()
	return &s3.GetPublicAccessBlockOutput{PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
		BlockPublicAcls: &b.block[0], IgnorePublicAcls: &b.block[1], BlockPublicPolicy: &b.block[2], RestrictPublicBuckets: &b.block[3]}}, nil
}

func (s fakeS3) GetBucketPolicy(_ context.Context, in *s3.GetBucketPolicyInput, _ ...func(*s3.Options)) (*s3.GetBucketPolicyOutput, error) {
	b, err := s.bucket("GetBucketPolicy", in.Bucket)
	if err != nil {
		return nil, err
	}
	defer s.f.mu.Unlock()
	if b.policy == "" {
		return nil, apiErr("NoSuchBucketPolicy", "The bucket policy does not exist")
	}
	return &s3.GetBucketPolicyOutput{Policy: aws.String(b.policy)}, nil
}

func (s fakeS3) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	b, err := s.bucket("ListObjectsV2", in.Bucket)
	if err != nil {
		return nil, err
	}
	defer s.f.mu.Unlock()
	out := &s3.ListObjectsV2Output{}
	for _, k := range slices.Sorted(maps.Keys(b.objects)) {
		sum := md5.Sum(b.objects[k])
		out.Contents = append(out.Contents, s3types.Object{Key: aws.String(k), ETag: aws.String(`"` + hex.EncodeToString(sum[:]) + `"`)})
	}
	return out, nil
}

func (s fakeS3) ListBuckets(context.Context, *s3.ListBucketsInput, ...func(*s3.Options)) (*s3.ListBucketsOutput, error) {
	if err := s.f.call("ListBuckets"); err != nil {
		return nil, err
	}
	defer s.f.mu.Unlock()
	out := &s3.ListBucketsOutput{}
	for n := range s.f.buckets {
		out.Buckets = append(out.Buckets, s3types.Bucket{Name: aws.String(n)})
	}
	return out, nil
}

func (s fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	b, err := s.bucket("GetObject", in.Bucket)
	if err != nil {
		return nil, err
	}
	defer s.f.mu.Unlock()
	body, ok := b.objects[aws.ToString(in.Key)]
	if !ok {
		return nil, apiErr("NoSuchKey", "The specified key does not exist.")
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(body))}, nil
}

func (s fakeS3) CreateBucket(_ context.Context, in *s3.CreateBucketInput, _ ...func(*s3.Options)) (*s3.CreateBucketOutput, error) {
	if err := s.f.call("CreateBucket"); err != nil {
		return nil, err
	}
	defer s.f.mu.Unlock()
	if s.f.buckets[aws.ToString(in.Bucket)] != nil {
		return nil, apiErr("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded")
	}
	s.f.buckets[aws.ToString(in.Bucket)] = &fakeBucket{tags: map[string]string{}, block: [4]bool{true, true, true, true}, objects: map[string][]byte{}}
	return &s3.CreateBucketOutput{}, nil
}

func (s fakeS3) PutBucketTagging(_ context.Context, in *s3.PutBucketTaggingInput, _ ...func(*s3.Options)) (*s3.PutBucketTaggingOutput, error) {
	b, err := s.bucket("PutBucketTagging", in.Bucket)
	if err != nil {
		return nil, err
	}
	defer s.f.mu.Unlock()
	b.tags = map[string]string{}
	for _, t := range in.Tagging.TagSet {
		b.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return &s3.PutBucketTaggingOutput{}, nil
}

func (s fakeS3) PutPublicAccessBlock(_ context.Context, in *s3.PutPublicAccessBlockInput, _ ...func(*s3.Options)) (*s3.PutPublicAccessBlockOutput, error) {
	b, err := s.bucket("PutPublicAccessBlock", in.Bucket)
	if err != nil {
		return nil, err
	}
	defer s.f.mu.Unlock()
	c := in.PublicAccessBlockConfiguration
	b.block = [4]bool{aws.ToBool(c.BlockPublicAcls), aws.ToBool(c.IgnorePublicAcls), aws.ToBool(c.BlockPublicPolicy), aws.ToBool(c.RestrictPublicBuckets)}
	return &s3.PutPublicAccessBlockOutput{}, nil
}

func (s fakeS3) PutBucketPolicy(_ context.Context, in *s3.PutBucketPolicyInput, _ ...func(*s3.Options)) (*s3.PutBucketPolicyOutput, error) {
	b, err := s.bucket("PutBucketPolicy", in.Bucket)
	if err != nil {
		return nil, err
	}
	defer s.f.mu.Unlock()
	if b.block[2] && strings.Contains(aws.ToString(in.Policy), `"Principal":"*"`) {
		return nil, apiErr("AccessDenied", "User is not authorized to perform: s3:PutBucketPolicy because public policies are blocked by the BlockPublicPolicy block public access setting.")
	}
	b.policy = aws.ToString(in.Policy)
	return &s3.PutBucketPolicyOutput{}, nil
}

func (s fakeS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	b, err := s.bucket("PutObject", in.Bucket)
	if err != nil {
		return nil, err
	}
	defer s.f.mu.Unlock()
	body, _ := io.ReadAll(in.Body)
	b.objects[aws.ToString(in.Key)] = body
	return &s3.PutObjectOutput{}, nil
}

func (s fakeS3) DeleteObjects(_ context.Context, in *s3.DeleteObjectsInput, _ ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	b, err := s.bucket("DeleteObjects", in.Bucket)
	if err != nil {
		return nil, err
	}
	defer s.f.mu.Unlock()
	for _, o := range in.Delete.Objects {
		delete(b.objects, aws.ToString(o.Key))
	}
	return &s3.DeleteObjectsOutput{}, nil
}

func (s fakeS3) DeleteBucket(_ context.Context, in *s3.DeleteBucketInput, _ ...func(*s3.Options)) (*s3.DeleteBucketOutput, error) {
	b, err := s.bucket("DeleteBucket", in.Bucket)
	if err != nil {
		return nil, err
	}
	defer s.f.mu.Unlock()
	if len(b.objects) > 0 {
		return nil, apiErr("BucketNotEmpty", "The bucket you tried to delete is not empty")
	}
	delete(s.f.buckets, aws.ToString(in.Bucket))
	return &s3.DeleteBucketOutput{}, nil
}

type fakeS3Control struct{ f *fakeAWS }

func (s fakeS3Control) GetPublicAccessBlock(context.Context, *s3control.GetPublicAccessBlockInput, ...func(*s3control.Options)) (*s3control.GetPublicAccessBlockOutput, error) {
	if err := s.f.call("GetAccountPublicAccessBlock"); err != nil {
		return nil, err
	}
	defer s.f.mu.Unlock()
	return nil, apiErr("NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found")
}

type fakeIAM struct{ f *fakeAWS }

func (i fakeIAM) role(op string, name *string) (*fakeRole, error) {
	if err := i.f.call(op); err != nil {
		return nil, err
	}
	r := i.f.roles[aws.ToString(name)]
	if r == nil {
		i.f.mu.Unlock()
		return nil, apiErr("NoSuchEntity", "The role with name "+aws.ToString(name)+" cannot be found.")
	}
	return r, nil
}

func iamTagsOf(m map[string]string) []iamtypes.Tag {
	var out []iamtypes.Tag
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, iamtypes.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

func tagMap(tags []iamtypes.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func (i fakeIAM) arn(path, name string) string {
	return "arn:aws:iam::" + i.f.account + ":role" + path + name
}

func (i fakeIAM) GetRole(_ context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	r, err := i.role("GetRole", in.RoleName)
	if err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	role := &iamtypes.Role{RoleName: in.RoleName, Path: &r.path, Arn: aws.String(i.arn(r.path, *in.RoleName)), AssumeRolePolicyDocument: &r.trust, Tags: iamTagsOf(r.tags)}
	if r.boundary != "" {
		role.PermissionsBoundary = &iamtypes.AttachedPermissionsBoundary{PermissionsBoundaryArn: &r.boundary}
	}
	return &iam.GetRoleOutput{Role: role}, nil
}

func (i fakeIAM) ListRolePolicies(_ context.Context, in *iam.ListRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error) {
	r, err := i.role("ListRolePolicies", in.RoleName)
	if err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	return &iam.ListRolePoliciesOutput{PolicyNames: slices.Sorted(maps.Keys(r.inline))}, nil
}

func (i fakeIAM) GetRolePolicy(_ context.Context, in *iam.GetRolePolicyInput, _ ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error) {
	r, err := i.role("GetRolePolicy", in.RoleName)
	if err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	return &iam.GetRolePolicyOutput{PolicyDocument: aws.String(r.inline[aws.ToString(in.PolicyName)])}, nil
}

func (i fakeIAM) ListAttachedRolePolicies(_ context.Context, in *iam.ListAttachedRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error) {
	r, err := i.role("ListAttachedRolePolicies", in.RoleName)
	if err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	out := &iam.ListAttachedRolePoliciesOutput{}
	for _, a := range r.attached {
		out.AttachedPolicies = append(out.AttachedPolicies, iamtypes.AttachedPolicy{PolicyArn: aws.String(a)})
	}
	return out, nil
}

func (i fakeIAM) GetPolicy(context.Context, *iam.GetPolicyInput, ...func(*iam.Options)) (*iam.GetPolicyOutput, error) {
	return nil, apiErr("NoSuchEntity", "no managed policies in the fake")
}

func (i fakeIAM) GetPolicyVersion(context.Context, *iam.GetPolicyVersionInput, ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error) {
	return nil, apiErr("NoSuchEntity", "no managed policies in the fake")
}

func (i fakeIAM) GetAccountAuthorizationDetails(context.Context, *iam.GetAccountAuthorizationDetailsInput, ...func(*iam.Options)) (*iam.GetAccountAuthorizationDetailsOutput, error) {
	if err := i.f.call("GetAccountAuthorizationDetails"); err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	out := &iam.GetAccountAuthorizationDetailsOutput{}
	for _, n := range slices.Sorted(maps.Keys(i.f.roles)) {
		r := i.f.roles[n]
		d := iamtypes.RoleDetail{RoleName: aws.String(n), Path: aws.String(r.path), Arn: aws.String(i.arn(r.path, n)), AssumeRolePolicyDocument: aws.String(r.trust), Tags: iamTagsOf(r.tags)}
		for _, pn := range slices.Sorted(maps.Keys(r.inline)) {
			d.RolePolicyList = append(d.RolePolicyList, iamtypes.PolicyDetail{PolicyName: aws.String(pn), PolicyDocument: aws.String(r.inline[pn])})
		}
		for _, a := range r.attached {
			d.AttachedManagedPolicies = append(d.AttachedManagedPolicies, iamtypes.AttachedPolicy{PolicyArn: aws.String(a)})
		}
		if r.boundary != "" {
			d.PermissionsBoundary = &iamtypes.AttachedPermissionsBoundary{PermissionsBoundaryArn: aws.String(r.boundary)}
		}
		out.RoleDetailList = append(out.RoleDetailList, d)
	}
	return out, nil
}

func (i fakeIAM) ListRoles(_ context.Context, in *iam.ListRolesInput, _ ...func(*iam.Options)) (*iam.ListRolesOutput, error) {
	if err := i.f.call("ListRoles"); err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	out := &iam.ListRolesOutput{}
	for n, r := range i.f.roles {
		if strings.HasPrefix(r.path, aws.ToString(in.PathPrefix)) {
			out.Roles = append(out.Roles, iamtypes.Role{RoleName: aws.String(n), Path: aws.String(r.path)})
		}
	}
	return out, nil
}

func (i fakeIAM) ListRoleTags(_ context.Context, in *iam.ListRoleTagsInput, _ ...func(*iam.Options)) (*iam.ListRoleTagsOutput, error) {
	r, err := i.role("ListRoleTags", in.RoleName)
	if err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	return &iam.ListRoleTagsOutput{Tags: iamTagsOf(r.tags)}, nil
}

func (i fakeIAM) GetOpenIDConnectProvider(_ context.Context, in *iam.GetOpenIDConnectProviderInput, _ ...func(*iam.Options)) (*iam.GetOpenIDConnectProviderOutput, error) {
	if err := i.f.call("GetOpenIDConnectProvider"); err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	p := i.f.providers[aws.ToString(in.OpenIDConnectProviderArn)]
	if p == nil {
		return nil, apiErr("NoSuchEntity", "OpenIDConnect Provider not found")
	}
	return &iam.GetOpenIDConnectProviderOutput{Url: aws.String(strings.TrimPrefix(p.url, "https://")), ClientIDList: slices.Clone(p.clientIDs), Tags: iamTagsOf(p.tags)}, nil
}

func (i fakeIAM) ListOpenIDConnectProviders(context.Context, *iam.ListOpenIDConnectProvidersInput, ...func(*iam.Options)) (*iam.ListOpenIDConnectProvidersOutput, error) {
	if err := i.f.call("ListOpenIDConnectProviders"); err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	out := &iam.ListOpenIDConnectProvidersOutput{}
	for _, a := range slices.Sorted(maps.Keys(i.f.providers)) {
		out.OpenIDConnectProviderList = append(out.OpenIDConnectProviderList, iamtypes.OpenIDConnectProviderListEntry{Arn: aws.String(a)})
	}
	return out, nil
}

func (i fakeIAM) CreateOpenIDConnectProvider(_ context.Context, in *iam.CreateOpenIDConnectProviderInput, _ ...func(*iam.Options)) (*iam.CreateOpenIDConnectProviderOutput, error) {
	if err := i.f.call("CreateOpenIDConnectProvider"); err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	arn := "arn:aws:iam::" + i.f.account + ":oidc-provider/" + strings.TrimPrefix(aws.ToString(in.Url), "https://")
	if i.f.providers[arn] != nil {
		return nil, apiErr("EntityAlreadyExists", "Provider with url "+aws.ToString(in.Url)+" already exists.")
	}
	i.f.providers[arn] = &fakeProvider{url: aws.ToString(in.Url), clientIDs: slices.Clone(in.ClientIDList), tags: tagMap(in.Tags)}
	return &iam.CreateOpenIDConnectProviderOutput{OpenIDConnectProviderArn: &arn}, nil
}

func (i fakeIAM) provider(op string, arn *string) (*fakeProvider, error) {
	if err := i.f.call(op); err != nil {
		return nil, err
	}
	p := i.f.providers[aws.ToString(arn)]
	if p == nil {
		i.f.mu.Unlock()
		return nil, apiErr("NoSuchEntity", "OpenIDConnect Provider not found")
	}
	return p, nil
}

func (i fakeIAM) AddClientIDToOpenIDConnectProvider(_ context.Context, in *iam.AddClientIDToOpenIDConnectProviderInput, _ ...func(*iam.Options)) (*iam.AddClientIDToOpenIDConnectProviderOutput, error) {
	p, err := i.provider("AddClientIDToOpenIDConnectProvider", in.OpenIDConnectProviderArn)
	if err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	p.clientIDs = append(p.clientIDs, aws.ToString(in.ClientID))
	return &iam.AddClientIDToOpenIDConnectProviderOutput{}, nil
}

func (i fakeIAM) TagOpenIDConnectProvider(_ context.Context, in *iam.TagOpenIDConnectProviderInput, _ ...func(*iam.Options)) (*iam.TagOpenIDConnectProviderOutput, error) {
	p, err := i.provider("TagOpenIDConnectProvider", in.OpenIDConnectProviderArn)
	if err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	maps.Copy(p.tags, tagMap(in.Tags))
	return &iam.TagOpenIDConnectProviderOutput{}, nil
}

func (i fakeIAM) DeleteOpenIDConnectProvider(_ context.Context, in *iam.DeleteOpenIDConnectProviderInput, _ ...func(*iam.Options)) (*iam.DeleteOpenIDConnectProviderOutput, error) {
	if _, err := i.provider("DeleteOpenIDConnectProvider", in.OpenIDConnectProviderArn); err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	delete(i.f.providers, aws.ToString(in.OpenIDConnectProviderArn))
	return &iam.DeleteOpenIDConnectProviderOutput{}, nil
}

func (i fakeIAM) CreateRole(_ context.Context, in *iam.CreateRoleInput, _ ...func(*iam.Options)) (*iam.CreateRoleOutput, error) {
	if err := i.f.call("CreateRole"); err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	name := aws.ToString(in.RoleName)
	if i.f.roles[name] != nil {
		return nil, apiErr("EntityAlreadyExists", "Role with name "+name+" already exists.")
	}
	i.f.roles[name] = &fakeRole{path: aws.ToString(in.Path), trust: aws.ToString(in.AssumeRolePolicyDocument), boundary: aws.ToString(in.PermissionsBoundary), inline: map[string]string{}, tags: tagMap(in.Tags)}
	return &iam.CreateRoleOutput{}, nil
}

func (i fakeIAM) DeleteRole(_ context.Context, in *iam.DeleteRoleInput, _ ...func(*iam.Options)) (*iam.DeleteRoleOutput, error) {
	r, err := i.role("DeleteRole", in.RoleName)
	if err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	if len(r.inline) > 0 || len(r.attached) > 0 {
		return nil, apiErr("DeleteConflict", "Cannot delete entity, must delete policies first.")
	}
	delete(i.f.roles, aws.ToString(in.RoleName))
	return &iam.DeleteRoleOutput{}, nil
}

func (i fakeIAM) UpdateAssumeRolePolicy(_ context.Context, in *iam.UpdateAssumeRolePolicyInput, _ ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error) {
	r, err := i.role("UpdateAssumeRolePolicy", in.RoleName)
	if err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	r.trust = aws.ToString(in.PolicyDocument)
	return &iam.UpdateAssumeRolePolicyOutput{}, nil
}

func (i fakeIAM) PutRolePolicy(_ context.Context, in *iam.PutRolePolicyInput, _ ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error) {
	r, err := i.role("PutRolePolicy", in.RoleName)
	if err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	r.inline[aws.ToString(in.PolicyName)] = aws.ToString(in.PolicyDocument)
	return &iam.PutRolePolicyOutput{}, nil
}

func (i fakeIAM) DeleteRolePolicy(_ context.Context, in *iam.DeleteRolePolicyInput, _ ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error) {
	r, err := i.role("DeleteRolePolicy", in.RoleName)
	if err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	delete(r.inline, aws.ToString(in.PolicyName))
	return &iam.DeleteRolePolicyOutput{}, nil
}

func (i fakeIAM) DetachRolePolicy(_ context.Context, in *iam.DetachRolePolicyInput, _ ...func(*iam.Options)) (*iam.DetachRolePolicyOutput, error) {
	r, err := i.role("DetachRolePolicy", in.RoleName)
	if err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	r.attached = slices.DeleteFunc(r.attached, func(a string) bool { return a == aws.ToString(in.PolicyArn) })
	return &iam.DetachRolePolicyOutput{}, nil
}

func (i fakeIAM) PutRolePermissionsBoundary(_ context.Context, in *iam.PutRolePermissionsBoundaryInput, _ ...func(*iam.Options)) (*iam.PutRolePermissionsBoundaryOutput, error) {
	r, err := i.role("PutRolePermissionsBoundary", in.RoleName)
	if err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	r.boundary = aws.ToString(in.PermissionsBoundary)
	return &iam.PutRolePermissionsBoundaryOutput{}, nil
}

func (i fakeIAM) DeleteRolePermissionsBoundary(_ context.Context, in *iam.DeleteRolePermissionsBoundaryInput, _ ...func(*iam.Options)) (*iam.DeleteRolePermissionsBoundaryOutput, error) {
	r, err := i.role("DeleteRolePermissionsBoundary", in.RoleName)
	if err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	r.boundary = ""
	return &iam.DeleteRolePermissionsBoundaryOutput{}, nil
}

func (i fakeIAM) TagRole(_ context.Context, in *iam.TagRoleInput, _ ...func(*iam.Options)) (*iam.TagRoleOutput, error) {
	r, err := i.role("TagRole", in.RoleName)
	if err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	maps.Copy(r.tags, tagMap(in.Tags))
	return &iam.TagRoleOutput{}, nil
}

func (i fakeIAM) SimulatePrincipalPolicy(_ context.Context, in *iam.SimulatePrincipalPolicyInput, _ ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error) {
	if err := i.f.call("SimulatePrincipalPolicy"); err != nil {
		return nil, err
	}
	defer i.f.mu.Unlock()
	out := &iam.SimulatePrincipalPolicyOutput{}
	for _, a := range in.ActionNames {
		d := iamtypes.PolicyEvaluationDecisionTypeAllowed
		if i.f.simDenied[a] {
			d = iamtypes.PolicyEvaluationDecisionTypeImplicitDeny
		}
		out.EvaluationResults = append(out.EvaluationResults, iamtypes.EvaluationResult{EvalActionName: aws.String(a), EvalDecision: d})
	}
	return out, nil
}

type fakeCloudFront struct{ f *fakeAWS }

func (c fakeCloudFront) ListDistributions(context.Context, *cloudfront.ListDistributionsInput, ...func(*cloudfront.Options)) (*cloudfront.ListDistributionsOutput, error) {
	if err := c.f.call("ListDistributions"); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	list := &cftypes.DistributionList{}
	for _, id := range slices.Sorted(maps.Keys(c.f.dists)) {
		d := c.f.dists[id]
		list.Items = append(list.Items, cftypes.DistributionSummary{Id: aws.String(id), ARN: aws.String(d.arn), DomainName: aws.String(d.domain)})
	}
	return &cloudfront.ListDistributionsOutput{DistributionList: list}, nil
}

func (c fakeCloudFront) byARN(arn string) *fakeDist {
	for _, d := range c.f.dists {
		if d.arn == arn {
			return d
		}
	}
	return nil
}

func (c fakeCloudFront) ListTagsForResource(_ context.Context, in *cloudfront.ListTagsForResourceInput, _ ...func(*cloudfront.Options)) (*cloudfront.ListTagsForResourceOutput, error) {
	if err := c.f.call("ListTagsForResource"); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	tags := &cftypes.Tags{}
	if d := c.byARN(aws.ToString(in.Resource)); d != nil {
		for k, v := range d.tags {
			tags.Items = append(tags.Items, cftypes.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
	}
	return &cloudfront.ListTagsForResourceOutput{Tags: tags}, nil
}

func (c fakeCloudFront) dist(op string, id *string) (*fakeDist, error) {
	if err := c.f.call(op); err != nil {
		return nil, err
	}
	d := c.f.dists[aws.ToString(id)]
	if d == nil {
		c.f.mu.Unlock()
		return nil, apiErr("NoSuchDistribution", "The specified distribution does not exist.")
	}
	return d, nil
}

func (c fakeCloudFront) config(d *fakeDist) *cftypes.DistributionConfig {
	return &cftypes.DistributionConfig{Enabled: aws.Bool(d.enabled), CallerReference: aws.String(d.ref),
		Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{Id: aws.String("oidc"), OriginAccessControlId: aws.String(d.oac)}}}}
}

func (c fakeCloudFront) GetDistribution(_ context.Context, in *cloudfront.GetDistributionInput, _ ...func(*cloudfront.Options)) (*cloudfront.GetDistributionOutput, error) {
	d, err := c.dist("GetDistribution", in.Id)
	if err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	return &cloudfront.GetDistributionOutput{Distribution: &cftypes.Distribution{Id: in.Id, ARN: aws.String(d.arn), DomainName: aws.String(d.domain), Status: aws.String("Deployed"), DistributionConfig: c.config(d)}}, nil
}

func (c fakeCloudFront) GetDistributionConfig(_ context.Context, in *cloudfront.GetDistributionConfigInput, _ ...func(*cloudfront.Options)) (*cloudfront.GetDistributionConfigOutput, error) {
	d, err := c.dist("GetDistributionConfig", in.Id)
	if err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	return &cloudfront.GetDistributionConfigOutput{DistributionConfig: c.config(d), ETag: aws.String("E1")}, nil
}

func (c fakeCloudFront) CreateDistributionWithTags(_ context.Context, in *cloudfront.CreateDistributionWithTagsInput, _ ...func(*cloudfront.Options)) (*cloudfront.CreateDistributionWithTagsOutput, error) {
	if err := c.f.call("CreateDistributionWithTags"); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	cfg := in.DistributionConfigWithTags.DistributionConfig
	for _, d := range c.f.dists {
		if d.ref == aws.ToString(cfg.CallerReference) {
			return nil, apiErr("DistributionAlreadyExists", "The caller reference that you are using to create a distribution is associated with another distribution.")
		}
	}
	id := fmt.Sprintf("E%03d", len(c.f.dists)+1)
	d := &fakeDist{arn: "arn:aws:cloudfront::" + c.f.account + ":distribution/" + id, domain: "d" + strings.ToLower(id) + "abcdef.cloudfront.net",
		enabled: true, tags: map[string]string{}, oac: aws.ToString(cfg.Origins.Items[0].OriginAccessControlId), ref: aws.ToString(cfg.CallerReference)}
	for _, t := range in.DistributionConfigWithTags.Tags.Items {
		d.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	c.f.dists[id] = d
	return &cloudfront.CreateDistributionWithTagsOutput{Distribution: &cftypes.Distribution{Id: aws.String(id), ARN: aws.String(d.arn), DomainName: aws.String(d.domain), Status: aws.String("InProgress")}}, nil
}

func (c fakeCloudFront) UpdateDistribution(_ context.Context, in *cloudfront.UpdateDistributionInput, _ ...func(*cloudfront.Options)) (*cloudfront.UpdateDistributionOutput, error) {
	d, err := c.dist("UpdateDistribution", in.Id)
	if err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	d.enabled = aws.ToBool(in.DistributionConfig.Enabled)
	return &cloudfront.UpdateDistributionOutput{ETag: aws.String("E2")}, nil
}

func (c fakeCloudFront) DeleteDistribution(_ context.Context, in *cloudfront.DeleteDistributionInput, _ ...func(*cloudfront.Options)) (*cloudfront.DeleteDistributionOutput, error) {
	d, err := c.dist("DeleteDistribution", in.Id)
	if err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	if d.enabled {
		return nil, apiErr("DistributionNotDisabled", "The distribution you are trying to delete has not been disabled.")
	}
	delete(c.f.dists, aws.ToString(in.Id))
	return &cloudfront.DeleteDistributionOutput{}, nil
}

func (c fakeCloudFront) ListOriginAccessControls(context.Context, *cloudfront.ListOriginAccessControlsInput, ...func(*cloudfront.Options)) (*cloudfront.ListOriginAccessControlsOutput, error) {
	if err := c.f.call("ListOriginAccessControls"); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	list := &cftypes.OriginAccessControlList{}
	for _, id := range slices.Sorted(maps.Keys(c.f.oacs)) {
		list.Items = append(list.Items, cftypes.OriginAccessControlSummary{Id: aws.String(id), Name: aws.String(c.f.oacs[id])})
	}
	return &cloudfront.ListOriginAccessControlsOutput{OriginAccessControlList: list}, nil
}

func (c fakeCloudFront) CreateOriginAccessControl(_ context.Context, in *cloudfront.CreateOriginAccessControlInput, _ ...func(*cloudfront.Options)) (*cloudfront.CreateOriginAccessControlOutput, error) {
	if err := c.f.call("CreateOriginAccessControl"); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	id := fmt.Sprintf("O%03d", len(c.f.oacs)+1)
	c.f.oacs[id] = aws.ToString(in.OriginAccessControlConfig.Name)
	return &cloudfront.CreateOriginAccessControlOutput{OriginAccessControl: &cftypes.OriginAccessControl{Id: aws.String(id)}}, nil
}

func (c fakeCloudFront) GetOriginAccessControl(_ context.Context, in *cloudfront.GetOriginAccessControlInput, _ ...func(*cloudfront.Options)) (*cloudfront.GetOriginAccessControlOutput, error) {
	if err := c.f.call("GetOriginAccessControl"); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	return &cloudfront.GetOriginAccessControlOutput{ETag: aws.String("E1")}, nil
}

func (c fakeCloudFront) DeleteOriginAccessControl(_ context.Context, in *cloudfront.DeleteOriginAccessControlInput, _ ...func(*cloudfront.Options)) (*cloudfront.DeleteOriginAccessControlOutput, error) {
	if err := c.f.call("DeleteOriginAccessControl"); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	delete(c.f.oacs, aws.ToString(in.Id))
	return &cloudfront.DeleteOriginAccessControlOutput{}, nil
}

// Invalidations are rotate-key's, which the fake has no cache for.
func (c fakeCloudFront) CreateInvalidation(context.Context, *cloudfront.CreateInvalidationInput, ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error) {
	if err := c.f.call("CreateInvalidation"); err != nil {
		return nil, err
	}
	return nil, errors.New("CreateInvalidation: the fake has no CloudFront cache")
}

func (c fakeCloudFront) GetInvalidation(context.Context, *cloudfront.GetInvalidationInput, ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error) {
	if err := c.f.call("GetInvalidation"); err != nil {
		return nil, err
	}
	return nil, errors.New("GetInvalidation: the fake has no CloudFront cache")
}
