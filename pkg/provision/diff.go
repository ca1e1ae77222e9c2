package provision

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"

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
	case b.Tags[ownKey] != plan.OwnedValue && !onlyPlanObjects(p, b):
		conflicts = append(conflicts, fmt.Errorf("the S3 bucket %s exists without the tag %s=%s and holds other objects: it is not oc sts's; choose another --name", p.Bucket.Name, ownKey, plan.OwnedValue))
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

	for _, want := range p.Roles {
		have, ok := o.Roles[want.Name]
		switch {
		case !ok:
			changes = append(changes, plan.Change{Resource: plan.RoleResource, Name: want.Name, Action: plan.Create})
		case have.Tags[ownKey] != plan.OwnedValue:
			conflicts = append(conflicts, fmt.Errorf("the IAM role %s exists without the tag %s=%s: it is not oc sts's; delete or rename it, or choose another --name", want.Name, ownKey, plan.OwnedValue))
		default:
			if fields := roleDrift(want, have); fields != nil {
				changes = append(changes, plan.Change{Resource: plan.RoleResource, Name: want.Name, Action: plan.Update, Fields: fields})
			}
		}
	}
	if prune {
		for _, name := range Stale(p, o) {
			changes = append(changes, plan.Change{Resource: plan.RoleResource, Name: name, Action: plan.Delete})
		}
	}
	return changes, errors.Join(conflicts...)
}

// Stale are the owned roles the plan no longer has, sorted.
func Stale(p *plan.Plan, o *Observed) []string {
	inPlan := map[string]bool{}
	for _, r := range p.Roles {
		inPlan[r.Name] = true
	}
	var out []string
	for name, r := range o.Roles {
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

func onlyPlanObjects(p *plan.Plan, b BucketState) bool {
	for key := range b.Objects {
		if !slices.ContainsFunc(p.Bucket.Objects, func(o plan.Object) bool { return o.Key == key }) {
			return false
		}
	}
	return true
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
