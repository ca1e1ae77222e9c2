package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/s3control"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/awsread"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// The issuer bucket: its settings (tags, public access block, policy) and
// the account-level S3 Block Public Access that overrides them. Its objects
// are objects.go's.

var (
	s3CreateBucket         = declare(BucketResource, "CreateBucket", "s3:CreateBucket")
	s3PutBucketTagging     = declare(BucketResource, "PutBucketTagging", "s3:PutBucketTagging")
	s3PutPublicAccessBlock = declare(BucketResource, "PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock")
	s3PutBucketPolicy      = declare(BucketResource, "PutBucketPolicy", "s3:PutBucketPolicy")
	s3DeleteBucket         = declare(BucketResource, "DeleteBucket", "s3:DeleteBucket")

	s3ReadBucket            = reads("GetBucketTagging, GetPublicAccessBlock, GetBucketPolicy, ListObjectsV2 (then ListBuckets)", "s3:GetBucketTagging", "s3:GetBucketPublicAccessBlock", "s3:GetBucketPolicy", "s3:ListBucket", "s3:ListAllMyBuckets")
	s3GetAccountAccessBlock = reads("GetPublicAccessBlock (s3control)", "s3:GetAccountPublicAccessBlock")
)

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
	Block         plan.PublicAccessBlock
	Policy        string
	Objects       map[string]string // key -> ETag (the MD5 of a single-part upload)
	// PublishedJWKS is the keys.json in the bucket, read only when it
	// differs from the plan's (a key is about to be replaced).
	PublishedJWKS []byte
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
			case isAccessDenied(err) && !awsread.IsExplicitDeny(err):
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
				b.Block = plan.PublicAccessBlock{BlockPublicAcls: aws.ToBool(pab.BlockPublicAcls), IgnorePublicAcls: aws.ToBool(pab.IgnorePublicAcls),
					BlockPublicPolicy: aws.ToBool(pab.BlockPublicPolicy), RestrictPublicBuckets: aws.ToBool(pab.RestrictPublicBuckets)}
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

// accountBlock reads the account-level S3 Block Public Access (s3control):
// it overrides every bucket's own. A denied read is a warning, not an error.
func accountBlock(ctx context.Context, c *Clients, account string) (*plan.PublicAccessBlock, string, error) {
	out, err := c.S3Control.GetPublicAccessBlock(ctx, &s3control.GetPublicAccessBlockInput{AccountId: &account})
	switch {
	case errorCode(err) == "NoSuchPublicAccessBlockConfiguration":
		return &plan.PublicAccessBlock{}, "", nil
	case isAccessDenied(err):
		return nil, fmt.Sprintf("could not read the S3 Block Public Access settings of account %s (s3:GetAccountPublicAccessBlock is denied): if they block public bucket policies, the issuer's bucket policy will be refused after the other resources are made; --private-bucket needs no public access", account), nil
	case err != nil:
		return nil, "", readError("the S3 Block Public Access settings of account "+account, "s3:GetAccountPublicAccessBlock", err)
	}
	b := out.PublicAccessBlockConfiguration
	return &plan.PublicAccessBlock{BlockPublicAcls: aws.ToBool(b.BlockPublicAcls), IgnorePublicAcls: aws.ToBool(b.IgnorePublicAcls),
		BlockPublicPolicy: aws.ToBool(b.BlockPublicPolicy), RestrictPublicBuckets: aws.ToBool(b.RestrictPublicBuckets)}, "", nil
}

// bucketDelta is a bucket change: the plan's bucket and the one found.
type bucketDelta struct {
	want *plan.Bucket
	have BucketState
}

// diffBucket is the bucket's change, if any, or why the bucket cannot be
// the plan's. An untagged bucket is adopted only when it is exactly what an
// interrupted run leaves.
func diffBucket(p *plan.Plan, o *Observed) (*Change, error) {
	b, want := o.Bucket, &p.Bucket
	d := &bucketDelta{want: want, have: b}
	switch {
	case !b.Exists:
		return &Change{Resource: BucketResource, Name: want.Name, Action: Create, delta: d}, nil
	case b.Foreign:
		return nil, fmt.Errorf("the S3 bucket name %s is taken by another AWS account (bucket names are global across all accounts): choose another --name (every resource name starts with it; the bucket is <name>%s)", want.Name, strings.TrimPrefix(want.Name, p.Name))
	case b.InOtherRegion:
		return nil, fmt.Errorf("the S3 bucket %s exists in %s, but the issuer must be in %s, the cluster's region: if it is an earlier oc sts issuer, delete it (oc sts destroy --name %s --region %s); else choose another --name", want.Name, cmp.Or(b.Region, "another region"), want.Region, p.Name, cmp.Or(b.Region, "REGION"))
	case !awsid.Owned(b.Tags, p.Name):
		if why := notCrashLeftover(p, b); why != "" {
			return nil, fmt.Errorf("the S3 bucket %s exists without the tag %s=%s and %s: it is not what an interrupted oc sts run leaves, so it is not adopted; delete it or choose another --name", want.Name, awsid.OwnershipTagKey(p.Name), awsid.OwnedValue, why)
		}
	}
	var fields []string
	var details []FieldDiff
	if tags := tagDiffs(b.Tags, want.Tags); tags != nil {
		fields = append(fields, FieldTags)
		details = append(details, tags...)
	}
	if b.Block != want.PublicAccessBlock {
		fields = append(fields, FieldPublicAccessBlock)
		details = append(details, valueDiff(FieldPublicAccessBlock, blockWords(b.Block), blockWords(want.PublicAccessBlock)))
	}
	if want.Policy == nil || !SamePolicy(b.Policy, string(want.Policy)) { // nil: names a distribution known after apply
		fields = append(fields, FieldBucketPolicy)
		if want.Policy != nil {
			details = append(details, policyDiff(FieldBucketPolicy, b.Policy, string(want.Policy)))
		}
	}
	if fields == nil {
		return nil, nil
	}
	return &Change{Resource: BucketResource, Name: want.Name, Action: Update, Fields: fields, Details: details, delta: d}, nil
}

// notCrashLeftover says why an untagged bucket of the plan's name (in our
// account and region: reads name the expected owner) is not what an
// interrupted run leaves, or "" when it is. A run creates the bucket, then
// tags it while it uploads the objects and sets the access settings; killed
// in between, it leaves a bucket with no tags at all, none or some of the
// plan's two objects with exactly the plan's content, and no bucket policy
// or the plan's. Only such a bucket is adopted.
func notCrashLeftover(p *plan.Plan, b BucketState) string {
	if len(b.Tags) > 0 {
		return "has other tags"
	}
	for key, etag := range b.Objects {
		i := slices.IndexFunc(p.Bucket.Objects, func(o plan.Object) bool { return o.Key == key })
		if i < 0 {
			return "holds other objects (" + key + ")"
		}
		if etag != ContentMD5(p.Bucket.Objects[i].Body) {
			return "holds a " + key + " this run would not write"
		}
	}
	if b.Policy != "" && !SamePolicy(b.Policy, string(p.Bucket.Policy)) {
		return "has another bucket policy"
	}
	return ""
}

// blockedPublicIssuerFix is what to do when S3 Block Public Access blocks a public issuer.
const blockedPublicIssuerFix = "use --private-bucket (the issuer served by CloudFront, the bucket fully private) or ask your AWS administrator for an exception (aws s3control put-public-access-block with BlockPublicPolicy and RestrictPublicBuckets off)"

// publicIssuerBlocked says which account-level Block Public Access settings
// stop a public issuer: RestrictPublicBuckets ignores the bucket policy for
// anonymous readers (no one can fetch the discovery documents), and
// BlockPublicPolicy refuses the policy when it is to be set.
func publicIssuerBlocked(p *plan.Plan, o *Observed, bucket *Change) error {
	if p.Bucket.Private || o.AccountBlock == nil {
		return nil
	}
	var why []string
	if o.AccountBlock.BlockPublicPolicy && bucket != nil && bucket.has(FieldBucketPolicy) {
		why = append(why, "BlockPublicPolicy refuses the bucket policy that lets anyone read the discovery documents")
	}
	if o.AccountBlock.RestrictPublicBuckets {
		why = append(why, "RestrictPublicBuckets keeps anonymous readers, AWS STS among them, from the discovery documents")
	}
	if why == nil {
		return nil
	}
	return fmt.Errorf("the account-level S3 Block Public Access of account %s (%s) blocks a public issuer; %s", p.AccountID, strings.Join(why, "; "), blockedPublicIssuerFix)
}

// steps: a new bucket is created, then tagged while its access block is
// set and only then its policy (S3 refuses a public policy while the block
// it was created with stands); an update sets only the fields that differ.
func (d *bucketDelta) steps(a *applier, ch *Change) {
	c, name := a.c, d.want.Name
	var created *step
	if ch.Action == Create {
		created = a.g.call(s3CreateBucket, func(ctx context.Context) error {
			a.progress("creating S3 bucket %s", name)
			in := &s3.CreateBucketInput{Bucket: &name}
			if lc := d.want.LocationConstraint; lc != "" {
				in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(lc)}
			}
			_, err := c.S3.CreateBucket(ctx, in)
			switch errorCode(err) {
			case "BucketAlreadyOwnedByYou":
				return nil
			case "BucketAlreadyExists":
				return fmt.Errorf("creating S3 bucket %s: the name is taken by another AWS account; choose another --name", name)
			}
			return stepError("creating S3 bucket "+name, err)
		}, a.first).then(a.made.add(ch))
		a.bucket = created
	} else {
		created = a.g.add(nil, func(context.Context) error {
			a.progress("updating S3 bucket %s (%s)", name, strings.Join(ch.Fields, ", "))
			return nil
		}, a.first)
	}
	var set []*step
	if ch.has(FieldTags) {
		set = append(set, a.g.call(s3PutBucketTagging, func(ctx context.Context) error {
			_, err := c.S3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: &name, ExpectedBucketOwner: c.expectedOwner(), Tagging: &s3types.Tagging{TagSet: s3Tags(mergeTags(d.have.Tags, d.want.Tags))}})
			return stepError("setting the tags of S3 bucket "+name, err)
		}, created))
	}
	block := created
	if ch.has(FieldPublicAccessBlock) {
		block = a.g.call(s3PutPublicAccessBlock, func(ctx context.Context) error {
			b := d.want.PublicAccessBlock
			_, err := c.S3.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: &name, ExpectedBucketOwner: c.expectedOwner(), PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
				BlockPublicAcls: &b.BlockPublicAcls, IgnorePublicAcls: &b.IgnorePublicAcls, BlockPublicPolicy: &b.BlockPublicPolicy, RestrictPublicBuckets: &b.RestrictPublicBuckets}})
			return stepError("setting the public-access-block of S3 bucket "+name, err)
		}, created)
		set = append(set, block)
	}
	if ch.has(FieldBucketPolicy) {
		set = append(set, a.g.call(s3PutBucketPolicy, func(ctx context.Context) error {
			_, err := c.S3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: &name, ExpectedBucketOwner: c.expectedOwner(), Policy: aws.String(string(d.want.Policy))})
			if isAccessDenied(err) && strings.Contains(err.Error(), "BlockPublicPolicy") {
				return fmt.Errorf("setting the public bucket policy of S3 bucket %s: S3 Block Public Access (BlockPublicPolicy, of the account or the bucket) refuses it: %w; %s", name, err, blockedPublicIssuerFix)
			}
			return stepError("setting the bucket-policy of S3 bucket "+name, err)
		}, block))
	}
	if ch.Action == Update {
		a.g.join(set...).then(a.made.add(ch))
	}
}

// deleteBucketSteps empty the bucket (one call for its objects), then delete it.
func deleteBucketSteps(a *applier, bucket string, objects []*Change, ch *Change) {
	c := a.c
	emptied := a.g.add(nil, func(context.Context) error {
		a.progress("deleting S3 bucket %s and its %d objects", bucket, len(objects))
		return nil
	})
	if len(objects) > 0 {
		s := a.g.call(s3DeleteObjects, func(ctx context.Context) error {
			var ids []s3types.ObjectIdentifier
			for _, o := range objects {
				ids = append(ids, s3types.ObjectIdentifier{Key: aws.String(o.Name)})
			}
			out, err := c.S3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, ExpectedBucketOwner: c.expectedOwner(), Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
			if err != nil {
				return stepError("emptying S3 bucket "+bucket, err)
			}
			if len(out.Errors) > 0 {
				return fmt.Errorf("emptying S3 bucket %s: %s: %s", bucket, aws.ToString(out.Errors[0].Key), aws.ToString(out.Errors[0].Message))
			}
			return nil
		}, emptied)
		for _, o := range objects {
			s.then(a.made.add(o))
		}
		emptied = s
	}
	a.g.call(s3DeleteBucket, func(ctx context.Context) error {
		_, err := c.S3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket, ExpectedBucketOwner: c.expectedOwner()})
		if errorCode(err) == "NoSuchBucket" {
			return nil
		}
		return stepError("deleting S3 bucket "+bucket, err)
	}, emptied).then(a.made.add(ch))
}

func mergeTags(have map[string]string, want []plan.Tag) map[string]string {
	out := maps.Clone(have)
	if out == nil {
		out = map[string]string{}
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
