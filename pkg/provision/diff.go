package provision

import (
	"cmp"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// Diff lists what must change for AWS to match p, in a stable order. It
// fails when one of the plan's names is taken by a resource oc sts does not
// own. Owned roles no longer in the plan are deleted only with prune.
func Diff(p *plan.Plan, o *Observed, prune bool) ([]plan.Change, error) {
	var changes []plan.Change
	var conflicts []error
	ownKey := plan.OwnershipTagKey(p.Name)

	b := o.Bucket
	switch {
	case !b.Exists:
		changes = append(changes, plan.Change{Resource: plan.BucketResource, Name: p.Bucket.Name, Action: plan.Create})
	case b.Foreign:
		conflicts = append(conflicts, fmt.Errorf("the S3 bucket name %s is taken by another AWS account (bucket names are global across all accounts): choose another --name (every resource name starts with it; the bucket is <name>%s)", p.Bucket.Name, strings.TrimPrefix(p.Bucket.Name, p.Name)))
	case b.InOtherRegion:
		conflicts = append(conflicts, fmt.Errorf("the S3 bucket %s exists in %s, but the issuer must be in %s, the cluster's region: if it is an earlier oc sts issuer, delete it (oc sts destroy --name %s --region %s); else choose another --name", p.Bucket.Name, cmp.Or(b.Region, "another region"), p.Bucket.Region, p.Name, cmp.Or(b.Region, "REGION")))
	case b.Tags[ownKey] != plan.OwnedValue:
		if why := notCrashLeftover(p, b); why != "" {
			conflicts = append(conflicts, fmt.Errorf("the S3 bucket %s exists without the tag %s=%s and %s: it is not what an interrupted oc sts run leaves, so it is not adopted; delete it or choose another --name", p.Bucket.Name, ownKey, plan.OwnedValue, why))
			break
		}
		fallthrough
	default:
		var fields []string
		if !hasTags(b.Tags, p.Bucket.Tags) {
			fields = append(fields, plan.FieldTags)
		}
		if b.Block != DesiredBlock(p.Bucket.Private) {
			fields = append(fields, plan.FieldPublicAccessBlock)
		}
		if !SamePolicy(b.Policy, string(p.Bucket.Policy)) {
			fields = append(fields, plan.FieldBucketPolicy)
		}
		if fields != nil {
			changes = append(changes, plan.Change{Resource: plan.BucketResource, Name: p.Bucket.Name, Action: plan.Update, Fields: fields})
		}
	}
	if why := publicIssuerBlocked(p, o, changes); why != "" {
		conflicts = append(conflicts, fmt.Errorf("the account-level S3 Block Public Access of account %s (%s) blocks a public issuer; %s", p.AccountID, why, blockedPublicIssuerFix))
	}
	for _, obj := range p.Bucket.Objects {
		etag, ok := b.Objects[obj.Key]
		switch {
		case !ok:
			changes = append(changes, plan.Change{Resource: plan.ObjectResource, Name: obj.Key, Action: plan.Create})
		case etag != ContentMD5(obj.Body):
			changes = append(changes, plan.Change{Resource: plan.ObjectResource, Name: obj.Key, Action: plan.Update, Fields: []string{plan.FieldContent}})
		}
	}

	pr := o.Provider
	switch {
	case !pr.Exists:
		changes = append(changes, plan.Change{Resource: plan.ProviderResource, Name: p.OIDCProvider.ARN, Action: plan.Create})
	case pr.Tags[ownKey] != plan.OwnedValue:
		// Someone else's provider for exactly our issuer URL: reused as it is.
		if !slices.Contains(pr.ClientIDs, plan.Audience) {
			conflicts = append(conflicts, fmt.Errorf("the IAM OIDC provider %s exists, is not oc sts's and lacks the client ID %q: add it (aws iam add-client-id-to-open-id-connect-provider) or delete the provider", p.OIDCProvider.ARN, plan.Audience))
		}
	default:
		var fields []string
		if !hasAll(pr.ClientIDs, p.OIDCProvider.ClientIDs) {
			fields = append(fields, plan.FieldClientIDs)
		}
		if !hasTags(pr.Tags, p.OIDCProvider.Tags) {
			fields = append(fields, plan.FieldTags)
		}
		if fields != nil {
			changes = append(changes, plan.Change{Resource: plan.ProviderResource, Name: p.OIDCProvider.ARN, Action: plan.Update, Fields: fields})
		}
	}

	roles, err := DiffRoles(p.Name, p.Roles, o.Roles)
	changes = append(changes, roles...)
	if err != nil {
		conflicts = append(conflicts, err)
	}
	if prune {
		for _, name := range Stale(p, o) {
			changes = append(changes, plan.Change{Resource: plan.RoleResource, Name: name, Action: plan.Delete})
		}
	}
	return changes, errors.Join(conflicts...)
}

// DiffRoles lists what must change for the roles to match want: the one
// role diff of prepare's plans and of day-2 operators' roles (name is
// whose ownership tag a role must carry to be changed). A role of a
// day-2 operator and one of the plan never take each other's place.
func DiffRoles(name string, want []plan.Role, have map[string]RoleState) ([]plan.Change, error) {
	var changes []plan.Change
	var conflicts []error
	ownKey := plan.OwnershipTagKey(name)
	for _, w := range want {
		h, ok := have[w.Name]
		switch {
		case !ok:
			changes = append(changes, plan.Change{Resource: plan.RoleResource, Name: w.Name, Action: plan.Create})
		case h.Tags[ownKey] != plan.OwnedValue:
			conflicts = append(conflicts, fmt.Errorf("the IAM role %s exists without the tag %s=%s: it is not oc sts's; delete or rename it, or choose another --name", w.Name, ownKey, plan.OwnedValue))
		case h.Tags[plan.OperatorRequestTag] != plan.TagOf(w.Tags, plan.OperatorRequestTag):
			conflicts = append(conflicts, fmt.Errorf("the IAM role %s is oc sts's, but %s: a CredentialsRequest of the release and a day-2 operator's cannot share a Secret's role; give the operator's request another Secret", w.Name, operatorOf(h.Tags)))
		default:
			if fields := roleDrift(w, h); fields != nil {
				changes = append(changes, plan.Change{Resource: plan.RoleResource, Name: w.Name, Action: plan.Update, Fields: fields})
			}
		}
	}
	return changes, errors.Join(conflicts...)
}

func operatorOf(tags map[string]string) string {
	if r := tags[plan.OperatorRequestTag]; r != "" {
		return "it serves the day-2 operator's CredentialsRequest " + r + " (oc sts operator)"
	}
	return "it is prepare's, for a CredentialsRequest of the release"
}

// Stale are the owned roles the plan no longer has, sorted. Day-2
// operators' roles are not the plan's to prune: oc sts operator --delete
// (or destroy) removes them.
func Stale(p *plan.Plan, o *Observed) []string {
	inPlan := map[string]bool{}
	for _, r := range p.Roles {
		inPlan[r.Name] = true
	}
	var out []string
	for name, r := range o.Roles {
		if _, op := r.Tags[plan.OperatorRequestTag]; op {
			continue
		}
		if !inPlan[name] && r.Tags[plan.OwnershipTagKey(p.Name)] == plan.OwnedValue {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func roleDrift(want plan.Role, have RoleState) []string {
	var fields []string
	if have.Path != want.Path {
		return []string{plan.FieldPath} // a path cannot change: the role is re-created
	}
	if !SamePolicy(have.Trust, string(want.TrustPolicy)) {
		fields = append(fields, plan.FieldTrustPolicy)
	}
	if !SamePolicy(have.Inline[want.PolicyName], string(want.Policy)) {
		fields = append(fields, plan.FieldPolicy)
	}
	if len(have.Attached) > 0 || len(have.Inline) > 1 || len(have.Inline) == 1 && have.Inline[want.PolicyName] == "" {
		fields = append(fields, plan.FieldExtraPolicies)
	}
	if have.Boundary != want.PermissionsBoundary {
		fields = append(fields, plan.FieldPermissionsBoundary)
	}
	if !hasTags(have.Tags, want.Tags) {
		fields = append(fields, plan.FieldTags)
	}
	return fields
}

// DesiredBlock is the public access block of the issuer bucket: a public
// issuer lets only the bucket policy through (ACLs stay blocked).
func DesiredBlock(private bool) [4]bool {
	return [4]bool{true, true, private, private}
}

// ContentMD5 is the ETag S3 gives a single-part upload of body.
func ContentMD5(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
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
func publicIssuerBlocked(p *plan.Plan, o *Observed, changes []plan.Change) string {
	if p.Bucket.Private || o.AccountBlock == nil {
		return ""
	}
	var why []string
	setsPolicy := slices.ContainsFunc(changes, func(ch plan.Change) bool {
		return ch.Resource == plan.BucketResource && (ch.Action == plan.Create || slices.Contains(ch.Fields, plan.FieldBucketPolicy))
	})
	if o.AccountBlock[2] && setsPolicy {
		why = append(why, "BlockPublicPolicy refuses the bucket policy that lets anyone read the discovery documents")
	}
	if o.AccountBlock[3] {
		why = append(why, "RestrictPublicBuckets keeps anonymous readers, AWS STS among them, from the discovery documents")
	}
	return strings.Join(why, "; ")
}

// DroppedKeys are the keys (by kid) the bucket's published JWKS holds and
// the plan's does not: replacing it makes AWS reject every token they
// signed. It is nil when the plan keeps every published key.
func DroppedKeys(p *plan.Plan, o *Observed) ([]string, error) {
	if o.Bucket.PublishedJWKS == nil {
		return nil, nil
	}
	type jwks struct {
		Keys []struct{ Kid, N, E string } `json:"keys"`
	}
	var published, planned jwks
	if err := json.Unmarshal(o.Bucket.PublishedJWKS, &published); err != nil {
		return []string{"(unreadable: " + err.Error() + ")"}, nil
	}
	for _, obj := range p.Bucket.Objects {
		if obj.Key == oidckeys.JWKSPath {
			if err := json.Unmarshal(obj.Body, &planned); err != nil {
				return nil, err
			}
		}
	}
	var dropped []string
	for _, k := range published.Keys {
		if !slices.Contains(planned.Keys, k) {
			dropped = append(dropped, cmp.Or(k.Kid, "(no kid)"))
		}
	}
	return dropped, nil
}

func hasTags(have map[string]string, want []plan.Tag) bool {
	for _, t := range want {
		if v, ok := have[t.Key]; !ok || v != t.Value {
			return false
		}
	}
	return true
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// SamePolicy compares two policy documents as AWS means them: key order,
// whitespace, the order of string lists and a lone string versus a
// one-element list do not matter.
func SamePolicy(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(normalize(x), normalize(y))
}

func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalize(e)
		}
		return t
	case []any:
		strs := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				for i := range t {
					t[i] = normalize(t[i])
				}
				return t
			}
			strs = append(strs, s)
		}
		if len(strs) == 1 {
			return strs[0]
		}
		sort.Strings(strs)
		out := make([]any, len(strs))
		for i, s := range strs {
			out[i] = s
		}
		return out
	}
	return v
}
