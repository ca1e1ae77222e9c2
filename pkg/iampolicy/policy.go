// Package iampolicy reads IAM policy documents and judges them as AWS
// evaluates them: what a role's policies allow (MissingActions) and whom a
// role's trust policy admits (JudgeTrust). verify and upgrade-check share
// it, so both reach the same verdict on the same role.
package iampolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// Document is a policy document.
type Document struct {
	Statement Statements
}

// Statements accepts AWS's "one statement or a list of statements".
type Statements []Statement

// Statement is one statement, with the JSON it was written as.
type Statement struct {
	Raw          json.RawMessage `json:"-"`
	Effect       string
	Principal    json.RawMessage
	NotPrincipal json.RawMessage
	Action       StrList
	NotAction    StrList
	Resource     StrList
	Condition    map[string]map[string]StrList
}

// StrList accepts AWS's "one string or a list of strings".
type StrList []string

func (s *StrList) UnmarshalJSON(b []byte) error {
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

func (s *Statements) UnmarshalJSON(b []byte) error {
	var raws []json.RawMessage
	if len(b) > 0 && b[0] == '{' {
		raws = []json.RawMessage{b}
	} else if err := json.Unmarshal(b, &raws); err != nil {
		return err
	}
	*s = nil
	for _, raw := range raws {
		type plain Statement // without this method
		var st plain
		if err := json.Unmarshal(raw, &st); err != nil {
			return err
		}
		st.Raw = raw
		*s = append(*s, Statement(st))
	}
	return nil
}

// Parse reads a policy document.
func Parse(doc string) (Document, error) {
	var d Document
	err := json.Unmarshal([]byte(doc), &d)
	return d, err
}

// Quoted is the statement as written, compacted, for messages.
func (st Statement) Quoted() string {
	var b bytes.Buffer
	if err := json.Compact(&b, st.Raw); err != nil {
		return string(st.Raw)
	}
	return b.String()
}

// Principals returns the statement's principals as kind -> ids ("*" as AWS:*).
func (st Statement) Principals() map[string][]string {
	return principals(st.Principal)
}

func principals(raw json.RawMessage) map[string][]string {
	if len(raw) == 0 {
		return nil
	}
	var star string
	if json.Unmarshal(raw, &star) == nil {
		return map[string][]string{"AWS": {star}}
	}
	var byKind map[string]StrList
	json.Unmarshal(raw, &byKind)
	out := map[string][]string{}
	for k, v := range byKind {
		out[k] = v
	}
	return out
}

// MatchesAction: the statement names action (wildcards allowed).
func (st Statement) MatchesAction(action string) bool {
	if len(st.NotAction) > 0 {
		return !anyGlob(st.NotAction, action)
	}
	return anyGlob(st.Action, action)
}

// covers: the statement's resources include every resource of want.
func (st Statement) covers(want []string) bool {
	for _, w := range want {
		if !anyGlob(st.Resource, w) {
			return false
		}
	}
	return true
}

// Allows decides action on resources for policy documents: an Allow with
// no explicit Deny (conditions are taken as satisfiable).
func Allows(docs []string, action string, resources []string) bool {
	allowed := false
	for _, doc := range docs {
		d, err := Parse(doc)
		if err != nil {
			continue
		}
		for _, st := range d.Statement {
			if !st.MatchesAction(action) {
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
		if Glob(strings.ToLower(p), strings.ToLower(value)) {
			return true
		}
	}
	return false
}

// Glob matches IAM wildcards: * any run (slashes too), ? one character.
func Glob(pattern, value string) bool {
	escape := strings.NewReplacer("/", "\x00", "[", `\[`, `\`, `\\`)
	ok, _ := path.Match(escape.Replace(pattern), escape.Replace(value))
	return ok
}

// HasWildcard: s holds an IAM wildcard.
func HasWildcard(s string) bool { return strings.ContainsAny(s, "*?") }
