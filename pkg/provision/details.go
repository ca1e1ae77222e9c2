package provision

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/oc-sts/oc-sts/pkg/plan"
)

// A FieldDiff is what changes in one field of an update, from the change's
// observed value to its desired one. It is part of a Change's stable JSON:
//
//   - a value (path, permissions-boundary, public-access-block, client-ids):
//     old and new;
//   - a tag: key, old (absent: empty) and new, one FieldDiff per tag;
//   - a policy document (policy, trust-policy, bucket-policy): the lines of
//     the document, flattened as AWS compares it (one "path: value" line per
//     string, lists unordered), that are added and removed;
//   - extra-policies: removed names the policies the role should not have.
type FieldDiff struct {
	Field   string   `json:"field"`
	Key     string   `json:"key,omitempty"`
	Old     string   `json:"old,omitempty"`
	New     string   `json:"new,omitempty"`
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// valueDiff is a field's old and new value.
func valueDiff(field, old, new string) FieldDiff { return FieldDiff{Field: field, Old: old, New: new} }

// tagDiffs are the desired tags missing or different; tags the plan does
// not name are left alone, so they are no difference.
func tagDiffs(have map[string]string, want []plan.Tag) []FieldDiff {
	var out []FieldDiff
	for _, t := range want {
		if v, ok := have[t.Key]; !ok || v != t.Value {
			out = append(out, FieldDiff{Field: FieldTags, Key: t.Key, Old: v, New: t.Value})
		}
	}
	return out
}

// policyDiff is what differs between two policy documents, as lines.
// A document that is not JSON is one line of its own text.
func policyDiff(field, have, want string) FieldDiff {
	old, new := policyLines(have), policyLines(want)
	d := FieldDiff{Field: field}
	for _, l := range new {
		if !slices.Contains(old, l) {
			d.Added = append(d.Added, l)
		}
	}
	for _, l := range old {
		if !slices.Contains(new, l) {
			d.Removed = append(d.Removed, l)
		}
	}
	return d
}

// policyLines flattens a policy document into sorted "path: value" lines:
// one per string (a list of strings is a set, as AWS reads it), statements
// by their Sid when they have one, else by their place.
func policyLines(doc string) []string {
	if doc == "" {
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return []string{doc}
	}
	var out []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch t := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(t)) {
				walk(join(path, k), t[k])
			}
		case []any:
			for i, e := range t {
				switch e := e.(type) {
				case map[string]any:
					id := "[" + strconv.Itoa(i) + "]"
					if sid, ok := e["Sid"].(string); ok && sid != "" {
						id = "[" + sid + "]"
					}
					walk(path+id, e)
				default:
					walk(path, e) // a set: no index
				}
			}
		case string:
			out = append(out, path+": "+t)
		default:
			b, _ := json.Marshal(t)
			out = append(out, path+": "+string(b))
		}
	}
	walk("", v)
	slices.Sort(out)
	return slices.Compact(out)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// blockWords are a public access block's four settings, in S3's order.
func blockWords(b plan.PublicAccessBlock) string {
	return fmt.Sprintf("BlockPublicAcls=%t IgnorePublicAcls=%t BlockPublicPolicy=%t RestrictPublicBuckets=%t",
		b.BlockPublicAcls, b.IgnorePublicAcls, b.BlockPublicPolicy, b.RestrictPublicBuckets)
}

// Lines render a FieldDiff for people: "tags: team: (none) → platform",
// "policy: + Statement[0].Action: s3:GetObject", and a policy line whose
// value alone changes as "trust-policy: path: old → new".
func (d FieldDiff) Lines() []string {
	switch {
	case d.Added == nil && d.Removed == nil && d.Key != "":
		return []string{fmt.Sprintf("%s: %s: %s → %s", d.Field, d.Key, orNone(d.Old), orNone(d.New))}
	case d.Added == nil && d.Removed == nil:
		return []string{fmt.Sprintf("%s: %s → %s", d.Field, orNone(d.Old), orNone(d.New))}
	}
	var out []string
	added := slices.Clone(d.Added)
	for _, r := range d.Removed {
		path, old, _ := strings.Cut(r, ": ")
		if i := slices.IndexFunc(added, func(a string) bool { return strings.HasPrefix(a, path+": ") }); i >= 0 && onePath(d.Added, path) && onePath(d.Removed, path) {
			out = append(out, fmt.Sprintf("%s: %s: %s → %s", d.Field, path, old, strings.TrimPrefix(added[i], path+": ")))
			added = slices.Delete(added, i, i+1)
			continue
		}
		out = append(out, fmt.Sprintf("%s: - %s", d.Field, r))
	}
	for _, a := range added {
		out = append(out, fmt.Sprintf("%s: + %s", d.Field, a))
	}
	return out
}

// onePath: exactly one of lines is at path (a value, not one of a set).
func onePath(lines []string, path string) bool {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, path+": ") {
			n++
		}
	}
	return n == 1
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
