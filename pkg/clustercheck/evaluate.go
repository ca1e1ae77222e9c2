package clustercheck

import (
	"crypto"
	_ "crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"

	"github.com/oc-sts/oc-sts/pkg/plan"
)

const (
	audience   = "openshift"
	prepareFix = "run oc sts prepare (or oc sts upgrade-check --apply) with this cluster's install dir: it restores it"
)

// Evaluate judges every link; a link that cannot be judged because an
// earlier one is broken is reported as that earlier failure only.
func Evaluate(f Facts) []Result {
	var out []Result
	add := func(check, object string, s Status, reason, fix string) {
		out = append(out, Result{check, object, s, reason, fix})
	}
	c := f.Cluster
	if c.RootSecret {
		add(CheckRootCredential, "secret kube-system/aws-creds", Fail, "a long-lived root AWS credential is in the cluster", "oc delete secret -n kube-system aws-creds (manual STS mode needs none)")
	} else {
		add(CheckRootCredential, "secret kube-system/aws-creds", Pass, "absent", "")
	}
	switch c.CredentialsMode {
	case "Manual":
		add(CheckCredentialsMode, "cloudcredential cluster", Pass, "Manual", "")
	default:
		add(CheckCredentialsMode, "cloudcredential cluster", Fail, fmt.Sprintf("credentialsMode is %q, not Manual", c.CredentialsMode),
			`oc patch cloudcredential cluster --type=merge -p '{"spec":{"credentialsMode":"Manual"}}' (new installs: credentialsMode: Manual in install-config.yaml)`)
	}
	issuerOK := evaluateIssuer(c.Issuer, f.Published, add)
	if issuerOK {
		evaluateKeys(c.JWKS, f.Published.JWKS, add)
	}
	providerOK := false
	switch p := f.AWS.Provider; {
	case !issuerOK:
	case p == nil:
		add(CheckProvider, f.AWS.ProviderARN, Fail, "no IAM OIDC provider for the issuer URL", prepareFix)
	case !slices.Contains(p.ClientIDs, audience):
		add(CheckProvider, f.AWS.ProviderARN, Fail, fmt.Sprintf("client IDs %v lack %q: tokens for the cluster's audience are refused", p.ClientIDs, audience),
			"aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn "+f.AWS.ProviderARN+" --client-id "+audience)
	default:
		providerOK = true
		add(CheckProvider, f.AWS.ProviderARN, Pass, "exists with client ID "+audience, "")
	}
	host := strings.TrimPrefix(c.Issuer, "https://")
	for _, r := range c.Requests {
		object := "credentialsrequest " + r.Key()
		if !evaluateSecret(r, add) {
			continue
		}
		role, known := f.AWS.Roles[r.Secret.RoleARN]
		switch {
		case !known:
			continue
		case role == nil:
			add(CheckTrust, r.Secret.RoleARN, Fail, "the role of "+object+" does not exist", prepareFix)
			continue
		}
		if providerOK {
			s, reason := JudgeTrust(role.Trust, f.AWS.ProviderARN, host, subjects(r))
			add(CheckTrust, r.Secret.RoleARN, s, reason, fixIf(s, prepareFix))
		}
		if missing := MissingActions(role, r.Statements); len(missing) > 0 {
			add(CheckPermissions, r.Secret.RoleARN, Fail, "cannot "+strings.Join(missing, ", ")+" as "+object+" needs", prepareFix)
		} else {
			add(CheckPermissions, r.Secret.RoleARN, Pass, "covers every action of "+object, "")
		}
		if err, tried := f.Exchanges[r.Key()]; tried {
			if err != nil {
				add(CheckTokenExchange, object, Fail, err.Error(), "fix the FAILs above for this role; then the operator's token is accepted")
			} else {
				add(CheckTokenExchange, object, Pass, "a token of "+r.ServiceAccounts[0]+" got credentials for "+r.Secret.RoleARN, "")
			}
		}
	}
	return out
}

func fixIf(s Status, fix string) string {
	if s == Pass {
		return ""
	}
	return fix
}

// evaluateIssuer: the cluster's issuer is set, canonical, and exactly what
// the published discovery document says.
func evaluateIssuer(issuer string, pub Published, add func(check, object string, s Status, reason, fix string)) bool {
	const object = "authentication cluster"
	switch {
	case issuer == "":
		add(CheckIssuer, object, Fail, "spec.serviceAccountIssuer is empty: the cluster signs tokens for its own internal issuer, which AWS cannot reach",
			"the Authentication manifest must be manifests/cluster-authentication-02-config.yaml in the install dir (any other name is ignored); on a running cluster: oc patch authentication cluster --type=merge -p '{\"spec\":{\"serviceAccountIssuer\":\"https://...\"}}'")
		return false
	case !strings.HasPrefix(issuer, "https://") || strings.HasSuffix(issuer, "/"):
		add(CheckIssuer, object, Fail, fmt.Sprintf("spec.serviceAccountIssuer %q must be https:// with no trailing slash: IAM and the token's iss compare it byte for byte", issuer),
			"set spec.serviceAccountIssuer to "+strings.TrimRight(issuer, "/"))
		return false
	}
	add(CheckIssuer, object, Pass, issuer, "")
	switch {
	case pub.DiscoveryErr != nil:
		add(CheckDiscovery, issuer+"/.well-known/openid-configuration", Fail, "not anonymously readable: "+pub.DiscoveryErr.Error(),
			"the issuer must be readable by anyone over HTTPS (STS fetches it): "+prepareFix)
		return false
	case pub.Issuer != issuer:
		add(CheckDiscovery, issuer+"/.well-known/openid-configuration", Fail, fmt.Sprintf("names issuer %q, the cluster signs for %q", pub.Issuer, issuer),
			"publish the discovery document of "+issuer+": "+prepareFix)
		return false
	case pub.JWKSErr != nil:
		add(CheckDiscovery, "jwks_uri", Fail, "the key set is not anonymously readable: "+pub.JWKSErr.Error(), prepareFix)
		return false
	}
	add(CheckDiscovery, issuer+"/.well-known/openid-configuration", Pass, "published, issuer matches", "")
	return true
}

// evaluateKeys: every key the API server signs with is published.
func evaluateKeys(cluster, published jose.JSONWebKeySet, add func(check, object string, s Status, reason, fix string)) {
	var missing, extra []string
	for _, k := range cluster.Keys {
		if !hasKey(published, k) {
			missing = append(missing, k.KeyID)
		}
	}
	for _, k := range published.Keys {
		if !hasKey(cluster, k) {
			extra = append(extra, k.KeyID)
		}
	}
	switch {
	case len(cluster.Keys) == 0:
		add(CheckSigningKeys, "/openid/v1/jwks", Warn, "the API server published no keys to compare", "")
	case len(missing) > 0:
		add(CheckSigningKeys, "published JWKS", Fail, "the cluster signs with keys that are not published: "+strings.Join(missing, ", "),
			"publish the cluster's bound-service-account signing key: "+prepareFix)
	case len(extra) > 0:
		add(CheckSigningKeys, "published JWKS", Warn, "published keys the cluster does not use (stale after a rotation?): "+strings.Join(extra, ", "),
			"remove them once no token signed by them is in use")
	default:
		add(CheckSigningKeys, "published JWKS", Pass, fmt.Sprintf("all %d signing keys published", len(cluster.Keys)), "")
	}
}

func hasKey(set jose.JSONWebKeySet, k jose.JSONWebKey) bool {
	want, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return false
	}
	for _, p := range set.Keys {
		if got, err := p.Thumbprint(crypto.SHA256); err == nil && string(got) == string(want) {
			return true
		}
	}
	return false
}

// evaluateSecret: the Secret exists in STS form.
func evaluateSecret(r Request, add func(check, object string, s Status, reason, fix string)) bool {
	object := "secret " + r.SecretNamespace + "/" + r.SecretName
	s := r.Secret
	fix := "apply manifests/" + r.SecretNamespace + "-" + r.SecretName + "-credentials.yaml that oc sts prepare wrote"
	switch {
	case !s.Found:
		add(CheckSecret, object, Fail, "missing: "+r.Key()+" has no credentials", fix)
	case s.StaticKeys:
		add(CheckSecret, object, Fail, "holds static access keys (long-lived credentials)", "replace it with the STS form: "+fix+", then deactivate the keys in IAM")
	case s.Unparseable || s.RoleARN == "" || s.TokenFile == "":
		add(CheckSecret, object, Fail, "lacks role_arn or web_identity_token_file", fix)
	case !s.Regional:
		add(CheckSecret, object, Warn, "no sts_regional_endpoints = regional: the global STS endpoint is used", fix)
		return true
	default:
		add(CheckSecret, object, Pass, "STS form, role "+s.RoleARN, "")
		return true
	}
	return false
}

func subjects(r Request) []string { return plan.Subjects(r.SecretNamespace, r.ServiceAccounts) }

// JudgeTrust: the role trusts exactly the provider, for exactly the
// request's service accounts with the cluster's audience.
func JudgeTrust(trust, providerARN, host string, want []string) (Status, string) {
	d, err := parse(trust)
	if err != nil {
		return Fail, "the trust policy does not parse: " + err.Error()
	}
	var trusted []string
	for _, st := range d.Statement {
		if !strings.EqualFold(st.Effect, "Allow") {
			continue
		}
		for kind, ids := range st.principals() {
			for _, id := range ids {
				if kind != "Federated" || id != providerARN {
					return Fail, fmt.Sprintf("also trusts %s %s", kind, id)
				}
			}
		}
		if !st.matchesAction("sts:AssumeRoleWithWebIdentity") {
			continue
		}
		subs, wild := conditionValues(st, host+":sub")
		if len(subs) == 0 {
			return Fail, "no " + host + ":sub condition: every service account of the cluster can assume it"
		}
		if wild != "" {
			return Fail, "a wildcard subject " + wild + " trusts more service accounts than the CredentialsRequest names"
		}
		if auds, _ := conditionValues(st, host+":aud"); len(auds) > 0 && !slices.Contains(auds, audience) {
			return Fail, fmt.Sprintf("audience %v, the cluster's tokens carry %q", auds, audience)
		}
		trusted = append(trusted, subs...)
	}
	var extra, missing []string
	for _, s := range trusted {
		if !slices.Contains(want, s) {
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
		return Fail, "does not trust " + providerARN
	case len(extra) > 0:
		return Fail, "also trusts " + strings.Join(extra, ", ")
	case len(missing) > 0:
		return Fail, "does not trust " + strings.Join(missing, ", ") + ": its pods cannot get credentials"
	}
	return Pass, "trusts exactly " + strings.Join(want, ", ")
}

// conditionValues collects a key's StringEquals/StringLike values, and the
// first value with a wildcard under StringLike.
func conditionValues(st statement, key string) (values []string, wildcard string) {
	for op, keys := range st.Condition {
		for k, vs := range keys {
			if !strings.EqualFold(k, key) {
				continue
			}
			for _, v := range vs {
				if strings.HasPrefix(op, "StringLike") && hasWildcard(v) && wildcard == "" {
					wildcard = v
				}
				values = append(values, v)
			}
		}
	}
	return values, wildcard
}

// MissingActions lists the actions of statements the role's policies
// (within its boundary) do not allow.
func MissingActions(role *Role, statements []ccov1.StatementEntry) []string {
	var missing []string
	for _, e := range statements {
		if !strings.EqualFold(e.Effect, "Allow") {
			continue
		}
		resources := []string{e.Resource}
		if e.Resource == "" {
			resources = []string{"*"}
		}
		for _, a := range e.Action {
			ok := allows(role.Policies, a, resources)
			if ok && role.Boundary != "" {
				ok = allows([]string{role.Boundary}, a, resources)
			}
			if !ok && !slices.Contains(missing, a) {
				missing = append(missing, a)
			}
		}
	}
	return missing
}
