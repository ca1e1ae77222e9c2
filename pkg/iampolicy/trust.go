package iampolicy

import (
	"fmt"
	"slices"
	"strings"
)

// WebIdentityAction is what a service account's token is traded for.
const WebIdentityAction = "sts:AssumeRoleWithWebIdentity"

// Operator is a condition operator: an optional set qualifier
// (ForAnyValue, ForAllValues), the base (StringEquals, StringNotLike, ...)
// and the IfExists suffix.
type Operator struct {
	Set      string
	Base     string
	IfExists bool
}

// ParseOperator splits a condition operator such as ForAnyValue:StringLikeIfExists.
func ParseOperator(op string) Operator {
	var o Operator
	if set, base, ok := strings.Cut(op, ":"); ok {
		o.Set, op = set, base
	}
	if base, ok := strings.CutSuffix(op, "IfExists"); ok && base != "" {
		o.IfExists, op = true, base
	}
	o.Base = op
	return o
}

// JudgeTrust decides whether trust admits exactly the want subjects, as
// AWS evaluates it, through the OIDC provider providerARN for issuer host,
// with tokens of audience. Every Allow statement that grants
// sts:AssumeRoleWithWebIdentity must name only that provider and pin
// host:sub and host:aud positively: StringEquals, or StringLike without a
// wildcard, with no set qualifier and no IfExists. A negated operator
// (StringNotEquals admits every other subject), ForAnyValue/ForAllValues
// (true on an empty set) or IfExists (true when the key is absent) widens
// the statement and fails it. Other conditions only narrow a statement and
// are not needed for the verdict. The reason quotes the statement at fault.
//
// A statement with no host:aud condition at all (ccoctl's roles pin only
// host:sub) is not a hole between service accounts — the provider's client
// IDs still bound the audiences STS accepts — so it passes with a warning
// rather than failing.
func JudgeTrust(trust, providerARN, host, audience string, want []string) (ok bool, reason, warning string) {
	d, err := Parse(trust)
	if err != nil {
		return false, "the trust policy does not parse: " + err.Error(), ""
	}
	var trusted []string
	for _, st := range d.Statement {
		if !strings.EqualFold(st.Effect, "Allow") {
			continue // a Deny only narrows
		}
		if reason := otherPrincipals(st, providerARN); reason != "" {
			return false, reason + "; statement " + st.Quoted(), ""
		}
		if !st.MatchesAction(WebIdentityAction) {
			continue
		}
		subs, reason := pinned(st, host+":sub")
		if reason == "" {
			var auds []string
			switch auds, reason = pinned(st, host+":aud"); {
			case !hasCondition(st, host+":aud"):
				reason = ""
				warning = fmt.Sprintf("no %s:aud condition: tokens of every audience the provider accepts pass, not only %q; add StringEquals %s:aud = %s (oc sts prepare sets it)", host, audience, host, audience)
			case reason == "" && !slices.Contains(auds, audience):
				reason = fmt.Sprintf("audience %v, the cluster's tokens carry %q", auds, audience)
			}
		}
		if reason != "" {
			return false, reason + "; statement " + st.Quoted(), ""
		}
		trusted = append(trusted, subs...)
	}
	var extra, missing []string
	for _, s := range trusted {
		if !slices.Contains(want, s) && !slices.Contains(extra, s) {
			extra = append(extra, s)
		}
	}
	for _, s := range want {
		if !slices.Contains(trusted, s) {
			missing = append(missing, s)
		}
	}
	switch {
	case len(trusted) == 0:
		return false, "does not trust " + providerARN + " for " + WebIdentityAction, ""
	case len(extra) > 0:
		return false, "also trusts " + strings.Join(extra, ", "), ""
	case len(missing) > 0:
		return false, "does not trust " + strings.Join(missing, ", ") + ": its pods cannot get credentials", ""
	}
	return true, "trusts exactly " + strings.Join(want, ", "), warning
}

// hasCondition says whether any operator of st names key.
func hasCondition(st Statement, key string) bool {
	for _, keys := range st.Condition {
		for k := range keys {
			if strings.EqualFold(k, key) {
				return true
			}
		}
	}
	return false
}

// otherPrincipals names what an Allow statement trusts besides the provider.
func otherPrincipals(st Statement, providerARN string) string {
	if len(st.NotPrincipal) > 0 {
		return "an Allow with NotPrincipal trusts everyone not listed"
	}
	ps := st.Principals()
	if len(ps) == 0 {
		return "an Allow without a Principal"
	}
	for _, kind := range sortedKeys(ps) {
		for _, id := range ps[kind] {
			if kind != "Federated" || id != providerARN {
				return fmt.Sprintf("also trusts %s %s", kind, id)
			}
		}
	}
	return ""
}

// pinned returns the values key is pinned to in st: the intersection of
// its positive, exact conditions (all of a statement's conditions must
// hold). It fails when key is missing or any operator on it could admit a
// value outside its list.
func pinned(st Statement, key string) (values []string, reason string) {
	found := false
	for _, op := range sortedKeys(st.Condition) {
		for k, vs := range st.Condition[op] {
			if !strings.EqualFold(k, key) {
				continue
			}
			o := ParseOperator(op)
			switch {
			case o.Set != "":
				return nil, fmt.Sprintf("%s on %s: a set operator on a single-valued key is true whatever its value (ForAllValues) or is not a pin; use StringEquals", op, key)
			case o.IfExists:
				return nil, fmt.Sprintf("%s on %s: true when the key is absent; use StringEquals", op, key)
			case o.Base != "StringEquals" && o.Base != "StringLike":
				return nil, fmt.Sprintf("%s on %s: only StringEquals (or StringLike without wildcards) pins a value; a negated operator admits everything it does not list", op, key)
			}
			for _, v := range vs {
				if o.Base == "StringLike" && HasWildcard(v) {
					return nil, fmt.Sprintf("a wildcard %s %s trusts more than the CredentialsRequest names", key, v)
				}
			}
			if !found {
				values, found = slices.Clone(vs), true
			} else {
				values = slices.DeleteFunc(values, func(v string) bool { return !slices.Contains(vs, v) })
			}
		}
	}
	if !found {
		return nil, "no " + key + " condition: any token of the provider passes it"
	}
	return values, ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
