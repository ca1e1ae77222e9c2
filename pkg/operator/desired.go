package operator

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// Tags that mark a role as a day-2 operator's, beside the ownership tag
// every oc sts role carries (destroy removes them with the cluster's):
// prepare and upgrade-check leave such roles alone, and operator --delete
// finds an operator's roles by them.
const (
	RequestTag      = plan.OperatorRequestTag            // namespace/name of the CredentialsRequest
	SubscriptionTag = "oc-sts.openshift.io/subscription" // namespace/name of the Subscription
	// ServiceAccountsTag lists (comma-separated) the service accounts the
	// role trusts beyond its request's own (--service-account): verify
	// holds the trust to exactly both.
	ServiceAccountsTag = "oc-sts.openshift.io/added-service-accounts"
	maxTagValue        = 256
)

// IsOperatorRole says a role's tags mark it as a day-2 operator's.
func IsOperatorRole(tags map[string]string) bool { _, ok := tags[RequestTag]; return ok }

// TagValue fits a namespace/name into an AWS tag value (256 characters;
// a CredentialsRequest name may be 253): cut, with a hash of the whole.
func TagValue(v string) string {
	if len(v) <= maxTagValue {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return v[:maxTagValue-9] + "-" + hex.EncodeToString(sum[:])[:8]
}

// Target is what an operator's roles are made against: the cluster as
// prepare made it in AWS.
type Target struct {
	Name                string // prepare's --name: prefixes the role names, names the ownership tag
	Partition           string
	AccountID           string
	IssuerHost          string // the cluster's service-account issuer without https://
	ProviderARN         string // the IAM OIDC provider of that issuer
	RolePath            string // default "/"
	PermissionsBoundary string
	Tags                map[string]string // the user's tags, as prepare's --tag
}

// Wiring is how a role reaches the operator.
type Wiring struct {
	// Env is the Subscription's spec.config.env variable that carries the
	// role ARN (a token-auth operator sets it as its CredentialsRequest's
	// stsIAMRoleARN, and the cloud-credential-operator writes the Secret);
	// "" when oc sts writes the credentials Secret itself.
	Env string `json:"env,omitempty"`
	// Secret is namespace/name of the credentials Secret the request names.
	Secret string `json:"secret"`
	// Reason says why this wiring, for the user.
	Reason string `json:"reason"`
}

// Role is one request's role and its wiring.
type Role struct {
	plan.Role
	Request Request `json:"-"`
	Origin  string  `json:"origin"`
	// AddedServiceAccounts are those --service-account added to the request's own.
	AddedServiceAccounts []string `json:"addedServiceAccounts,omitempty"`
	Wiring               Wiring   `json:"wiring"`
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Assign decides each request's wiring. Without a Subscription, or for an
// operator without token-auth support, oc sts writes the Secret. A
// token-auth operator takes ROLEARN for its own request and the variable
// a request's role-arns-vars annotation names for others; a request it
// cannot tell is the operator's own gets its Secret written.
func Assign(reqs []Request, sub *Subscription, csv *CSV) ([]Wiring, error) {
	out := make([]Wiring, len(reqs))
	for i, r := range reqs {
		out[i] = Wiring{Secret: r.CR.Spec.SecretRef.Namespace + "/" + r.CR.Spec.SecretRef.Name}
	}
	switch {
	case sub == nil:
		for i := range out {
			out[i].Reason = "no Subscription given: oc sts writes the Secret the CredentialsRequest names"
		}
		return out, nil
	case csv == nil || !csv.TokenAuthAWS:
		what := "its CSV"
		if csv != nil {
			what = "CSV " + csv.Name
		}
		for i := range out {
			out[i].Reason = what + " lacks " + TokenAuthAnnotation + `: "true" (the operator does not read ROLEARN): oc sts writes the Secret the CredentialsRequest names`
		}
		return out, nil
	}
	var errs []error
	var candidates []int
	taken := map[string]string{}
	for i, r := range reqs {
		v, ok := r.CR.Annotations[RoleARNVarsAnnotation]
		if !ok {
			candidates = append(candidates, i)
			continue
		}
		if !envNameRE.MatchString(v) {
			errs = append(errs, fmt.Errorf("CredentialsRequest %s: annotation %s=%q is not one environment variable name: oc sts wires an AWS role through one", r.Key(), RoleARNVarsAnnotation, v))
			continue
		}
		out[i].Env, out[i].Reason = v, fmt.Sprintf("the operator reads its role ARN from %s (annotation %s)", v, RoleARNVarsAnnotation)
	}
	if own := ownRequest(reqs, candidates, sub, csv); own >= 0 {
		out[own].Env, out[own].Reason = RoleARNEnv, "CSV "+csv.Name+" supports token auth: the operator sets ROLEARN as its CredentialsRequest's stsIAMRoleARN and the cloud-credential-operator writes the Secret"
	} else if len(candidates) > 1 {
		var keys []string
		for _, i := range candidates {
			keys = append(keys, reqs[i].Key())
		}
		errs = append(errs, fmt.Errorf("cannot tell which of the CredentialsRequests %s is the operator's own (the one ROLEARN serves): give it alone with -f", strings.Join(keys, ", ")))
	}
	for i := range reqs {
		switch {
		case out[i].Env == "" && out[i].Reason == "":
			out[i].Reason = "not the operator's own request (ROLEARN serves " + ownKey(reqs, out) + "): oc sts writes the Secret it names"
		case out[i].Env != "":
			if prev, dup := taken[out[i].Env]; dup {
				errs = append(errs, fmt.Errorf("CredentialsRequests %s and %s both take their role from %s: oc sts makes one role per request", prev, reqs[i].Key(), out[i].Env))
			}
			taken[out[i].Env] = reqs[i].Key()
		}
	}
	return out, errors.Join(errs...)
}

// ownRequest picks, among the requests without a role-arns-vars
// annotation, the one ROLEARN serves: the only one; or the one whose
// stsIAMRoleARN already is ROLEARN; or the one the CSV's own service
// accounts use. -1 when none or several qualify.
func ownRequest(reqs []Request, candidates []int, sub *Subscription, csv *CSV) int {
	if len(candidates) == 1 {
		return candidates[0]
	}
	for _, test := range []func(Request) bool{
		func(r Request) bool { v := sub.EnvValue(RoleARNEnv); return v != "" && r.STSRoleARN == v },
		func(r Request) bool {
			return slices.ContainsFunc(r.CR.Spec.ServiceAccountNames, func(sa string) bool { return slices.Contains(csv.ServiceAccounts, sa) })
		},
	} {
		found := -1
		for _, i := range candidates {
			if test(reqs[i]) {
				if found >= 0 {
					found = -2
					break
				}
				found = i
			}
		}
		if found >= 0 {
			return found
		}
	}
	return -1
}

func ownKey(reqs []Request, w []Wiring) string {
	for i := range w {
		if w[i].Env == RoleARNEnv {
			return reqs[i].Key()
		}
	}
	return "none"
}

// Roles computes each request's role as prepare computes its own (name,
// trust pinned to exactly the request's service accounts and the openshift
// audience, the inline policy of its statementEntries, path, boundary and
// tags), plus the tags that mark it an operator's.
func Roles(t Target, subscription string, reqs []Request, wiring []Wiring) ([]Role, error) {
	if t.RolePath == "" {
		t.RolePath = "/"
	}
	var out []Role
	var errs []error
	byName := map[string]string{}
	for i, r := range reqs {
		ref := r.CR.Spec.SecretRef
		name := plan.RoleName(t.Name, ref.Namespace, ref.Name)
		if prev, dup := byName[name]; dup {
			errs = append(errs, fmt.Errorf("CredentialsRequests %s and %s both target Secret %s/%s: each Secret needs its own role", prev, r.Key(), ref.Namespace, ref.Name))
			continue
		}
		byName[name] = r.Key()
		tags := map[string]string{}
		for k, v := range t.Tags {
			tags[k] = v
		}
		tags[awsid.OwnershipTagKey(t.Name)] = awsid.OwnedValue
		tags[RequestTag] = TagValue(r.Key())
		if subscription != "" {
			tags[SubscriptionTag] = TagValue(subscription)
		}
		if len(r.AddedServiceAccounts) > 0 {
			v := strings.Join(r.AddedServiceAccounts, ",")
			if len(v) > maxTagValue {
				errs = append(errs, fmt.Errorf("CredentialsRequest %s: the service accounts --service-account adds (%s) are over the %d characters of the tag that records them: add them to the CredentialsRequest in a copy of its file", r.Key(), v, maxTagValue))
				continue
			}
			tags[ServiceAccountsTag] = v
		}
		role := plan.Role{
			Name:                name,
			ARN:                 awsid.RoleARN(t.Partition, t.AccountID, t.RolePath, name),
			Path:                t.RolePath,
			PermissionsBoundary: t.PermissionsBoundary,
			TrustPolicy:         plan.TrustPolicy(t.ProviderARN, t.IssuerHost, plan.Subjects(ref.Namespace, r.CR.Spec.ServiceAccountNames)),
			PolicyName:          name,
			Policy:              plan.PermissionsPolicy(r.AWS.StatementEntries),
			Tags:                tagList(tags),
			CredentialsRequest: plan.RequestRef{Name: r.Name(), File: r.File, SecretNamespace: ref.Namespace, SecretName: ref.Name,
				ServiceAccounts: append([]string(nil), r.CR.Spec.ServiceAccountNames...)},
		}
		if err := plan.CheckRole(role); err != nil {
			errs = append(errs, fmt.Errorf("CredentialsRequest %s: %w", r.Key(), err))
			continue
		}
		out = append(out, Role{Role: role, Request: r, Origin: r.Origin, AddedServiceAccounts: r.AddedServiceAccounts, Wiring: wiring[i]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errors.Join(errs...)
}

func tagList(m map[string]string) []plan.Tag {
	var out []plan.Tag
	for k, v := range m {
		out = append(out, plan.Tag{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
