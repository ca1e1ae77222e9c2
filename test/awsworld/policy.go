package awsworld

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
)

// A minimal IAM policy evaluator: enough of AWS's grammar to decide the
// questions the test world must answer as AWS does (anonymous S3 reads,
// CloudFront origin access, web-identity trust). Explicit Deny wins, then
// Allow, else implicit deny. Condition operators are evaluated as AWS
// documents them, including the permissive corners (a negated operator on
// an absent key, ForAllValues on an empty set, IfExists) that make a
// policy wider than it reads; unknown operators never match. It is
// written apart from pkg/iampolicy on purpose: the test world must not
// share the judgment it is there to check.

type policyDoc struct {
	Statement statements
}

type statements []statement

type statement struct {
	Effect    string
	Principal json.RawMessage
	Action    strList
	NotAction strList
	Resource  strList
	Condition map[string]map[string]strList
}

// strList accepts AWS's "one string or a list of strings".
type strList []string

func (s *strList) UnmarshalJSON(b []byte) error {
	var many []any
	if err := json.Unmarshal(b, &many); err != nil {
		var one any
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		many = []any{one}
	}
	*s = nil
	for _, v := range many {
		*s = append(*s, fmt.Sprint(v)) // condition values may be booleans or numbers
	}
	return nil
}

func (s *statements) UnmarshalJSON(b []byte) error {
	var one statement
	if len(b) > 0 && b[0] == '{' {
		err := json.Unmarshal(b, &one)
		*s = statements{one}
		return err
	}
	var many []statement
	err := json.Unmarshal(b, &many)
	*s = many
	return err
}

// principal is who asks: kind "AWS" with id "*" for anonymous callers,
// "Federated" with a provider ARN, or "Service" with a service name.
type principal struct{ kind, id string }

var anonymous = principal{"AWS", "*"}

type policyRequest struct {
	who      principal
	action   string
	resource string // "" when the policy has no Resource (trust policies)
	context  map[string][]string
}

type decision int

const (
	implicitDeny decision = iota
	allowed
	explicitDeny
)

func parsePolicy(doc string) (policyDoc, error) {
	var d policyDoc
	err := json.Unmarshal([]byte(doc), &d)
	return d, err
}

func (d policyDoc) decide(req policyRequest) decision {
	result := implicitDeny
	for _, st := range d.Statement {
		if !st.applies(req) {
			continue
		}
		if strings.EqualFold(st.Effect, "Deny") {
			return explicitDeny
		}
		if strings.EqualFold(st.Effect, "Allow") {
			result = allowed
		}
	}
	return result
}

func (st statement) applies(req policyRequest) bool {
	if !st.principalMatches(req.who) {
		return false
	}
	if len(st.Action) > 0 && !anyGlob(st.Action, req.action) {
		return false
	}
	if len(st.NotAction) > 0 && anyGlob(st.NotAction, req.action) {
		return false
	}
	if req.resource != "" && !anyGlob(st.Resource, req.resource) {
		return false
	}
	for op, keys := range st.Condition {
		for key, want := range keys {
			have, present := lookup(req.context, key)
			if !conditionHolds(op, have, present, want) {
				return false
			}
		}
	}
	return true
}

func (st statement) principalMatches(who principal) bool {
	var star string
	if json.Unmarshal(st.Principal, &star) == nil {
		return star == "*"
	}
	var byKind map[string]strList
	if json.Unmarshal(st.Principal, &byKind) != nil {
		return false
	}
	for kind, ids := range byKind {
		if kind != who.kind {
			continue
		}
		for _, id := range ids {
			if id == who.id || (kind == "AWS" && id == "*") {
				return true
			}
		}
	}
	return false
}

// lookup finds a condition key; AWS compares key names case-insensitively.
func lookup(ctx map[string][]string, key string) ([]string, bool) {
	for k, v := range ctx {
		if strings.EqualFold(k, key) {
			return v, len(v) > 0
		}
	}
	return nil, false
}

// conditionHolds evaluates one operator on one key. Without a set
// qualifier a positive operator holds when a request value matches one of
// want, a negated one when none does, and a negated one holds on an absent
// key; ForAnyValue needs one request value to satisfy the base operator
// (none when the key is absent), ForAllValues every one (true when absent);
// IfExists holds when the key is absent.
func conditionHolds(op string, have []string, present bool, want strList) bool {
	set, base, ifExists := splitOperator(op)
	if base == "Null" {
		for _, w := range want {
			if strings.EqualFold(w, "true") == !present {
				return true
			}
		}
		return false
	}
	match, negated, known := matcher(base)
	if !known {
		return false
	}
	if !present {
		switch {
		case ifExists, set == "ForAllValues":
			return true
		case set == "ForAnyValue":
			return false
		}
		return negated
	}
	satisfies := func(v string) bool {
		for _, p := range want {
			if match(p, v) {
				return !negated
			}
		}
		return negated
	}
	switch set {
	case "ForAnyValue":
		return slices.ContainsFunc(have, satisfies)
	case "ForAllValues":
		return !slices.ContainsFunc(have, func(v string) bool { return !satisfies(v) })
	}
	matched := slices.ContainsFunc(have, func(v string) bool {
		return slices.ContainsFunc(want, func(p string) bool { return match(p, v) })
	})
	return matched != negated
}

// splitOperator parses ForAnyValue:StringNotLikeIfExists into its parts.
func splitOperator(op string) (set, base string, ifExists bool) {
	if s, b, ok := strings.Cut(op, ":"); ok {
		set, op = s, b
	}
	if b, ok := strings.CutSuffix(op, "IfExists"); ok && b != "" {
		return set, b, true
	}
	return set, op, false
}

// matcher is a base operator's comparison and whether it is negated.
func matcher(base string) (match func(pattern, value string) bool, negated, known bool) {
	equals := func(p, v string) bool { return p == v }
	fold := strings.EqualFold
	switch base {
	case "StringEquals", "ArnEquals":
		return equals, false, true
	case "StringNotEquals", "ArnNotEquals":
		return equals, true, true
	case "StringEqualsIgnoreCase", "Bool":
		return fold, false, true
	case "StringNotEqualsIgnoreCase":
		return fold, true, true
	case "StringLike", "ArnLike":
		return glob, false, true
	case "StringNotLike", "ArnNotLike":
		return glob, true, true
	}
	return nil, false, false
}

func anyGlob(patterns []string, value string) bool {
	for _, p := range patterns {
		if glob(strings.ToLower(p), strings.ToLower(value)) {
			return true
		}
	}
	return false
}

// glob matches AWS wildcards: * any run (slashes included), ? one character.
func glob(pattern, value string) bool {
	p := strings.NewReplacer("/", "\x00").Replace(pattern)
	v := strings.NewReplacer("/", "\x00").Replace(value)
	ok, _ := path.Match(strings.NewReplacer("[", `\[`, "\\", `\\`).Replace(p), v)
	return ok
}
