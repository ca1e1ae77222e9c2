package awsworld

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// IAM limits AWS enforces and moto 5.2 does not (TestMotoIAMGaps shows
// each gap): role names, trust-policy size and grammar, the aggregate size
// of a role's inline policies. moto already refuses malformed inline policies.
const (
	maxRoleName       = 64
	maxTrustPolicy    = 2048
	maxInlinePolicies = 10240
)

var roleNameRE = regexp.MustCompile(`^[\w+=,.@-]+$`)

func (g *Gate) iamLimits(ctx context.Context, moto backend, form url.Values) *apiError {
	role := form.Get("RoleName")
	switch form.Get("Action") {
	case "CreateRole":
		if len(role) > maxRoleName {
			return validationError(fmt.Sprintf("1 validation error detected: Value '%s' at 'roleName' failed to satisfy constraint: Member must have length less than or equal to %d", role, maxRoleName))
		}
		if !roleNameRE.MatchString(role) {
			return validationError(fmt.Sprintf("1 validation error detected: Value '%s' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+", role))
		}
		return trustLimits(form.Get("AssumeRolePolicyDocument"))
	case "UpdateAssumeRolePolicy":
		return trustLimits(form.Get("PolicyDocument"))
	case "PutRolePolicy":
		return inlineLimit(ctx, moto, role, form.Get("PolicyName"), form.Get("PolicyDocument"))
	}
	return nil
}

func validationError(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "ValidationError", msg}
}

func trustLimits(doc string) *apiError {
	if n := policySize(doc); n > maxTrustPolicy {
		return &apiError{http.StatusConflict, "LimitExceeded", fmt.Sprintf("Cannot exceed quota for ACLSizePerRole: %d", maxTrustPolicy)}
	}
	d, err := parsePolicy(doc)
	if err != nil || len(d.Statement) == 0 {
		return &apiError{http.StatusBadRequest, "MalformedPolicyDocument", "Syntax errors in policy."}
	}
	for _, st := range d.Statement {
		if len(st.Principal) == 0 {
			return &apiError{http.StatusBadRequest, "MalformedPolicyDocument", "Has prohibited field Resource or missing Principal."}
		}
		if len(st.Resource) > 0 {
			return &apiError{http.StatusBadRequest, "MalformedPolicyDocument", "Has prohibited field Resource."}
		}
	}
	return nil
}

// inlineLimit applies the per-role quota over all inline policies, the new
// one replacing any of the same name.
func inlineLimit(ctx context.Context, moto backend, role, name, doc string) *apiError {
	total := policySize(doc)
	list, err := moto.iam.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: &role})
	if err != nil {
		return nil // moto answers NoSuchEntity itself
	}
	for _, other := range list.PolicyNames {
		if other == name {
			continue
		}
		p, err := moto.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: &role, PolicyName: aws.String(other)})
		if err == nil {
			total += policySize(decodePolicy(aws.ToString(p.PolicyDocument)))
		}
	}
	if total > maxInlinePolicies {
		return &apiError{http.StatusConflict, "LimitExceeded", fmt.Sprintf("Maximum policy size of %d bytes exceeded for role %s", maxInlinePolicies, role)}
	}
	return nil
}

// policySize counts as IAM does: characters, whitespace excluded.
func policySize(doc string) int {
	return len(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, doc))
}

// DenyInSimulation makes SimulatePrincipalPolicy report actions as denied
// (moto does not implement the simulator; its world allows everything).
func (g *Gate) DenyInSimulation(actions ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.simDenied = actions
}

// simulate answers SimulatePrincipalPolicy: allowed, but for the actions
// DenyInSimulation names.
func (g *Gate) simulate(w http.ResponseWriter, form url.Values) {
	g.mu.Lock()
	denied := g.simDenied
	g.mu.Unlock()
	type result struct {
		EvalActionName   string
		EvalResourceName string
		EvalDecision     string
	}
	var out struct {
		XMLName xml.Name `xml:"SimulatePrincipalPolicyResponse"`
		Results []result `xml:"SimulatePrincipalPolicyResult>EvaluationResults>member"`
		Trunc   bool     `xml:"SimulatePrincipalPolicyResult>IsTruncated"`
	}
	for i := 1; form.Has(fmt.Sprintf("ActionNames.member.%d", i)); i++ {
		action := form.Get(fmt.Sprintf("ActionNames.member.%d", i))
		decision := "allowed"
		if slices.Contains(denied, action) {
			decision = "implicitDeny"
		}
		out.Results = append(out.Results, result{action, "*", decision})
	}
	w.Header().Set("Content-Type", "text/xml")
	xml.NewEncoder(w).Encode(out)
}
