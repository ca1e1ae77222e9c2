package clustercheck

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// The subset of IAM's policy grammar verify needs to judge trust and
// coverage: statements, principals, actions with wildcards, resources and
// string conditions.

type document struct {
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
	if len(b) > 0 && b[0] == '{' {
		var one statement
		err := json.Unmarshal(b, &one)
		*s = statements{one}
		return err
	}
	var many []statement
	err := json.Unmarshal(b, &many)
	*s = many
	return err
}

func parse(doc string) (document, error) {
	var d document
	err := json.Unmarshal([]byte(doc), &d)
	return d, err
}

// principals returns the statement's principals as kind -> ids ("*" as AWS:*).
func (st statement) principals() map[string][]string {
	var star string
	if json.Unmarshal(st.Principal, &star) == nil {
		return map[string][]string{"AWS": {star}}
	}
	var byKind map[string]strList
	json.Unmarshal(st.Principal, &byKind)
	out := map[string][]string{}
	for k, v := range byKind {
		out[k] = v
	}
	return out
}

// matchesAction: the statement names action (wildcards allowed).
func (st statement) matchesAction(action string) bool {
	if len(st.NotAction) > 0 {
		return !anyGlob(st.NotAction, action)
	}
	return anyGlob(st.Action, action)
}

// covers: the statement's resources include every resource of want.
func (st statement) covers(want []string) bool {
	for _, w := range want {
		if !anyGlob(st.Resource, w) {
			return false
		}
	}
	return true
}

// allows decides action on resources for policy documents: an Allow with
// no explicit Deny (conditions are taken as satisfiable).
func allows(docs []string, action string, resources []string) bool {
	allowed := false
	for _, doc := range docs {
		d, err := parse(doc)
		if err != nil {
			continue
		}
		for _, st := range d.Statement {
			if !st.matchesAction(action) {
				continue
			}
			switch {
			case strings.EqualFold(st.Effect, "Deny") && len(st.Condition) == 0 && anyGlob(st.Resource, "*"):
				return false
			case strings.EqualFold(st.Effect, "Allow") && st.covers(resources):
				allowed = true
			}
		}
	}
	return allowed
}

func anyGlob(patterns []string, value string) bool {
	for _, p := range patterns {
		if glob(strings.ToLower(p), strings.ToLower(value)) {
			return true
		}
	}
	return false
}

// glob matches IAM wildcards: * any run (slashes too), ? one character.
func glob(pattern, value string) bool {
	escape := strings.NewReplacer("/", "\x00", "[", `\[`, `\`, `\\`)
	ok, _ := path.Match(escape.Replace(pattern), escape.Replace(value))
	return ok
}

func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?") }
