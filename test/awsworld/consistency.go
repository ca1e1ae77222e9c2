package awsworld

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"time"
)

// IAM is eventually consistent: what one call has just created is not yet
// visible to the next. moto is consistent at once (TestMotoIAMIsConsistentAtOnce);
// with propagation windows set, the gate answers as IAM does in the meantime:
//   - a trust policy naming an OIDC provider created less than the provider
//     window ago is refused as IAM refuses an unknown principal
//     (MalformedPolicyDocument: Invalid principal in policy);
//   - a role created less than the role window ago is NoSuchEntity to the
//     calls that read or change it (GetRole, PutRolePolicy, TagRole, ...).

type iamPropagation struct {
	provider, role time.Duration
	providers      map[string]time.Time // provider ARN -> created
	roles          map[string]time.Time // partition/role name -> created
}

func newIAMPropagation() iamPropagation {
	return iamPropagation{providers: map[string]time.Time{}, roles: map[string]time.Time{}}
}

// SetIAMPropagation makes new OIDC providers unknown to trust policies for
// provider, and new roles invisible for role (0: consistent at once).
func (g *Gate) SetIAMPropagation(provider, role time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.iamLag.provider, g.iamLag.role = provider, role
}

// roleCalls are the calls that do not see a role IAM has not propagated
// yet. Deletions are left out: deleting what was just made is not a
// path oc sts or its tests take, and IAM's answer there is not documented.
var roleCalls = map[string]bool{
	"GetRole": true, "UpdateRole": true, "TagRole": true, "UntagRole": true, "ListRoleTags": true,
	"UpdateAssumeRolePolicy": true, "PutRolePolicy": true, "GetRolePolicy": true, "ListRolePolicies": true,
	"AttachRolePolicy": true, "ListAttachedRolePolicies": true,
	"PutRolePermissionsBoundary": true, "DeleteRolePermissionsBoundary": true,
}

// notYetVisible answers as IAM does while a new provider or role propagates.
func (g *Gate) notYetVisible(call Call, form url.Values) *apiError {
	action := form.Get("Action")
	g.mu.Lock()
	defer g.mu.Unlock()
	lag := g.iamLag
	if roleCalls[action] {
		role := form.Get("RoleName")
		if created, ok := lag.roles[partitionOf(call.Region)+"/"+role]; ok && time.Since(created) < lag.role {
			return &apiError{http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The role with name %s cannot be found.", role)}
		}
	}
	trust := form.Get("AssumeRolePolicyDocument")
	if action == "UpdateAssumeRolePolicy" {
		trust = form.Get("PolicyDocument")
	}
	if action != "CreateRole" && action != "UpdateAssumeRolePolicy" || lag.provider == 0 {
		return nil
	}
	for _, arn := range federatedPrincipals(trust) {
		if created, ok := lag.providers[arn]; ok && time.Since(created) < lag.provider {
			return &apiError{http.StatusBadRequest, "MalformedPolicyDocument", fmt.Sprintf("Invalid principal in policy: \"FEDERATED\":\"%s\"", arn)}
		}
	}
	return nil
}

func federatedPrincipals(doc string) []string {
	d, err := parsePolicy(doc)
	if err != nil {
		return nil
	}
	var out []string
	for _, st := range d.Statement {
		var byKind map[string]strList
		if json.Unmarshal(st.Principal, &byKind) == nil {
			out = append(out, byKind["Federated"]...)
		}
	}
	return out
}

var providerARNRE = regexp.MustCompile(`<OpenIDConnectProviderArn>([^<]+)</OpenIDConnectProviderArn>`)

// afterIAM notes when providers and roles are created.
func (g *Gate) afterIAM(resp *http.Response, reqBody []byte) {
	if resp.StatusCode != http.StatusOK {
		return
	}
	form, _ := url.ParseQuery(string(reqBody))
	g.mu.Lock()
	defer g.mu.Unlock()
	switch form.Get("Action") {
	case "CreateRole":
		g.iamLag.roles[partitionOf(callOf(resp.Request).call.Region)+"/"+form.Get("RoleName")] = time.Now()
	case "CreateOpenIDConnectProvider":
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if m := providerARNRE.FindSubmatch(body); err == nil && m != nil {
			g.iamLag.providers[string(m[1])] = time.Now()
		}
	}
}
