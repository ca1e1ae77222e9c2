package upgrade

import (
	"fmt"
	"strings"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// Kinds of findings about day-2 OLM operators. A day-2 operator's role is
// not the release's: these never block the upgrade (nor the upgradeable-to
// annotation), and oc sts operator, not --apply, makes them.
const (
	// OperatorMissingActions: the installed CSV's request asks for more than
	// its role grants (an operator update that needs new permissions).
	OperatorMissingActions = "operator-missing-actions"
	OperatorTrustBroken    = "operator-trust-broken"
	OperatorRoleMissing    = "operator-role-missing"
	// OperatorUpdatePending: a newer CSV awaits approval; what it needs is
	// known once it runs and makes its CredentialsRequest.
	OperatorUpdatePending = "operator-update-pending"
)

// OperatorRequest is a day-2 operator's CredentialsRequest in the cluster,
// with the Subscription and CSV that installed the operator.
type OperatorRequest struct {
	Request      clustercheck.Request
	Subscription string // namespace/name
	InstalledCSV string
}

// PendingUpdate is a Subscription whose newer CSV awaits approval.
type PendingUpdate struct {
	Subscription          string
	InstalledCSV, NextCSV string
	Requests              []string // its operator's requests, by name
}

// CompareOperators holds each operator request against the role its Secret
// (or its stsIAMRoleARN) names: what the installed CSV needs, against what
// the role grants and whom it trusts.
func CompareOperators(live Live, ops []OperatorRequest, pending []PendingUpdate) []Finding {
	var out []Finding
	for _, op := range ops {
		r := op.Request
		apply := operatorApply(op.Subscription)
		add := func(kind, detail string, actions []string) {
			out = append(out, Finding{CredentialsRequest: r.Name, Kind: kind, Detail: detail, Actions: actions, Apply: apply})
		}
		who := "the operator of subscription " + op.Subscription
		if op.InstalledCSV != "" {
			who += " (CSV " + op.InstalledCSV + ")"
		}
		arn := r.Secret.RoleARN
		if arn == "" {
			arn = r.STSRoleARN
		}
		role, read := live.Roles[arn]
		switch {
		case arn == "" || !read:
			continue // no role yet, or another account's: verify says more
		case role == nil:
			add(OperatorRoleMissing, fmt.Sprintf("%s: its request names role %s, which does not exist", who, arn), nil)
			continue
		}
		if missing := clustercheck.MissingActions(role, r.Statements); len(missing) > 0 {
			add(OperatorMissingActions, fmt.Sprintf("%s: its request asks for %d actions %s does not grant", who, len(missing), arn), missing)
		}
		if s, reason := clustercheck.JudgeTrust(role.Trust, live.ProviderARN, live.IssuerHost, plan.Subjects(r.SecretNamespace, r.ServiceAccounts)); s == clustercheck.Fail {
			add(OperatorTrustBroken, who+": "+reason, nil)
		}
	}
	for _, p := range pending {
		out = append(out, Finding{CredentialsRequest: strings.Join(p.Requests, ","), Kind: OperatorUpdatePending,
			Detail: fmt.Sprintf("subscription %s: CSV %s awaits approval to replace %s; the permissions it needs are known once it runs and makes its CredentialsRequest: approve it, then run upgrade-check again (or check its shipped CredentialsRequests now with oc sts operator -f ... --dry-run)", p.Subscription, p.NextCSV, p.InstalledCSV),
			Apply:  operatorApply(p.Subscription)})
	}
	Sort(out)
	return out
}

func operatorApply(sub string) string {
	ns, name, _ := strings.Cut(sub, "/")
	return fmt.Sprintf("oc sts operator --subscription %s -n %s", name, ns)
}
