// Package upgrade says what a target release needs from AWS and the
// cluster that the live cluster does not have: a content diff of the target
// release's CredentialsRequests against the live roles' actual policies and
// trust, not against version tags.
package upgrade

import (
	"fmt"
	"reflect"
	"slices"
	"sort"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// Kinds of findings.
const (
	NewRequest       = "new-request"      // a role and a Secret are needed
	RemovedRequest   = "removed-request"  // the role is no longer used
	MissingActions   = "missing-actions"  // the role must grant more
	UnneededActions  = "unneeded-actions" // the role grants what the target no longer asks
	TrustBroken      = "trust-broken"     // e.g. a renamed service account
	SecretMoved      = "secret-moved"     // the Secret is expected elsewhere
	ConditionChanged = "conditions-changed"
	PolicyTooLarge   = "policy-too-large"
	RoleMissing      = "role-missing"
	// ImplicitlyEnabled: included only because the upgrade enables a
	// capability implicitly (informational; its other findings still count).
	ImplicitlyEnabled = "implicitly-enabled"
)

// Finding is one difference; Blocking ones must be applied before the upgrade.
type Finding struct {
	CredentialsRequest string   `json:"credentialsRequest"`
	Kind               string   `json:"kind"`
	Blocking           bool     `json:"blocking"`
	Detail             string   `json:"detail"`
	Actions            []string `json:"actions,omitempty"`
	Apply              string   `json:"apply,omitempty"`
}

// Live is the cluster as it runs.
type Live struct {
	Requests    []clustercheck.Request
	Roles       map[string]*clustercheck.Role // by ARN; nil when missing
	ProviderARN string
	IssuerHost  string
	Namespaces  map[string]bool // existing namespaces
	// Prepared are the Secrets (and their roles) already in place for target
	// requests the cluster does not have yet, by request name.
	Prepared map[string]clustercheck.Request
}

const applyHint = "oc sts upgrade-check --apply"

// Compare lists the findings, sorted by request and kind.
func Compare(live Live, target []credreq.Request) []Finding {
	var out []Finding
	add := func(cr, kind string, blocking bool, detail string, actions []string) {
		apply := ""
		if blocking {
			apply = applyHint
		}
		out = append(out, Finding{cr, kind, blocking, detail, actions, apply})
	}
	byName := map[string]clustercheck.Request{}
	for _, r := range live.Requests {
		byName[r.Name] = r
	}
	seen := map[string]bool{}
	for _, t := range target {
		name := t.Name()
		seen[name] = true
		ref := t.CR.Spec.SecretRef
		if n := len(plan.PermissionsPolicy(t.AWS.StatementEntries)); n > plan.MaxInlinePolicyChars {
			add(name, PolicyTooLarge, true, fmt.Sprintf("the target's inline policy is %d characters, over IAM's %d per role: split the statementEntries or use a managed policy", n, plan.MaxInlinePolicyChars), nil)
		}
		l, ok := byName[name]
		if !ok && ready(live, t) {
			add(name, NewRequest, false, fmt.Sprintf("new: its role and Secret %s/%s are ready", ref.Namespace, ref.Name), nil)
			continue
		}
		if !ok {
			detail := fmt.Sprintf("new: needs a role and Secret %s/%s", ref.Namespace, ref.Name)
			if !live.Namespaces[ref.Namespace] {
				detail += fmt.Sprintf(" (namespace %s does not exist yet)", ref.Namespace)
			}
			add(name, NewRequest, true, detail, actionsOf(t))
			continue
		}
		if l.SecretNamespace != ref.Namespace || l.SecretName != ref.Name {
			add(name, SecretMoved, true, fmt.Sprintf("the Secret moves from %s/%s to %s/%s", l.SecretNamespace, l.SecretName, ref.Namespace, ref.Name), nil)
		}
		role := live.Roles[l.Secret.RoleARN]
		if role == nil {
			add(name, RoleMissing, true, fmt.Sprintf("the Secret names role %q, which does not exist", l.Secret.RoleARN), nil)
			continue
		}
		if missing := clustercheck.MissingActions(role, t.AWS.StatementEntries); len(missing) > 0 {
			add(name, MissingActions, true, fmt.Sprintf("%s does not grant %d actions the target needs", l.Secret.RoleARN, len(missing)), missing)
		}
		if extra := difference(actionsOfStatements(l), actionsOf(t)); len(extra) > 0 {
			add(name, UnneededActions, false, "the target no longer asks for these (kept until --apply rewrites the policy)", extra)
		}
		if s, reason := clustercheck.JudgeTrust(role.Trust, live.ProviderARN, live.IssuerHost, plan.Subjects(ref.Namespace, t.CR.Spec.ServiceAccountNames)); s == clustercheck.Fail {
			add(name, TrustBroken, true, "with the target's service accounts: "+reason, nil)
		}
		if !sameConditions(l, t) {
			add(name, ConditionChanged, true, "the target's policy conditions differ from the live request's", nil)
		}
	}
	for _, l := range live.Requests {
		if !seen[l.Name] {
			add(l.Name, RemovedRequest, false, "the target no longer has it; its role "+l.Secret.RoleARN+" is kept (upgrade-check --apply --prune deletes roles oc sts owns)", nil)
		}
	}
	Sort(out)
	return out
}

// Sort orders findings by request and kind.
func Sort(out []Finding) {
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].CredentialsRequest != out[j].CredentialsRequest {
			return out[i].CredentialsRequest < out[j].CredentialsRequest
		}
		return out[i].Kind < out[j].Kind
	})
}

// ready says a new request's Secret, role, permissions and trust are in place.
func ready(live Live, t credreq.Request) bool {
	p, ok := live.Prepared[t.Name()]
	if !ok || !p.Secret.Found || p.Secret.StaticKeys {
		return false
	}
	role := live.Roles[p.Secret.RoleARN]
	if role == nil || len(clustercheck.MissingActions(role, t.AWS.StatementEntries)) > 0 {
		return false
	}
	s, _ := clustercheck.JudgeTrust(role.Trust, live.ProviderARN, live.IssuerHost, plan.Subjects(t.CR.Spec.SecretRef.Namespace, t.CR.Spec.ServiceAccountNames))
	return s != clustercheck.Fail // a loose audience is verify's warning, not a reason to re-apply
}

// Blocking counts the findings that must be applied before upgrading.
func Blocking(findings []Finding) int {
	n := 0
	for _, f := range findings {
		if f.Blocking {
			n++
		}
	}
	return n
}

func actionsOf(r credreq.Request) []string {
	var out []string
	for _, e := range r.AWS.StatementEntries {
		if e.Effect == "Allow" {
			out = append(out, e.Action...)
		}
	}
	return unique(out)
}

func actionsOfStatements(r clustercheck.Request) []string {
	var out []string
	for _, e := range r.Statements {
		if e.Effect == "Allow" {
			out = append(out, e.Action...)
		}
	}
	return unique(out)
}

func sameConditions(l clustercheck.Request, t credreq.Request) bool {
	cond := func(entries []ccov1.StatementEntry) map[string]any {
		m := map[string]any{}
		for _, e := range entries {
			if e.PolicyCondition != nil {
				for _, a := range e.Action {
					m[a] = e.PolicyCondition
				}
			}
		}
		return m
	}
	return reflect.DeepEqual(cond(l.Statements), cond(t.AWS.StatementEntries))
}

func difference(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func unique(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
