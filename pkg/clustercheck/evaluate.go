package clustercheck

import (
	"crypto"
	_ "crypto/sha256"
	"fmt"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/iampolicy"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

const (
	audience   = awsid.Audience
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
		evaluateKeys(c.JWKS, f.Published.JWKS, c.SigningKID, add)
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
	host := awsid.IssuerHost(c.Issuer)
	for _, r := range c.Requests {
		object := "credentialsrequest " + r.Key()
		roleFix := fixFor(r)
		if !evaluateSecret(r, add) {
			continue
		}
		role, known := f.AWS.Roles[r.Secret.RoleARN]
		if problem := RoleARNProblem(r.Secret.RoleARN, f.AWS.ProviderARN); problem != "" {
			add(CheckTrust, r.Secret.RoleARN, Fail, "the Secret of "+object+" names "+problem, roleFix)
			continue
		}
		switch {
		case !known:
			continue
		case role == nil:
			add(CheckTrust, r.Secret.RoleARN, Fail, "the role of "+object+" does not exist", roleFix)
			continue
		}
		if providerOK {
			s, reason := JudgeTrust(role.Trust, f.AWS.ProviderARN, host, subjects(r))
			add(CheckTrust, r.Secret.RoleARN, s, reason, fixIf(s, roleFix))
		}
		if missing := MissingActions(role, r.Statements); len(missing) > 0 {
			add(CheckPermissions, r.Secret.RoleARN, Fail, "cannot "+strings.Join(missing, ", ")+" as "+object+" needs", roleFix)
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

// RoleARNProblem says why roleARN is not a role of the account and
// partition of providerARN, or "": a role of another account must not be
// judged by its name in this one.
func RoleARNProblem(roleARN, providerARN string) string {
	got, err := arn.Parse(roleARN)
	switch {
	case err != nil || got.Service != "iam" || got.Region != "" || !strings.HasPrefix(got.Resource, "role/"):
		return fmt.Sprintf("%q, which is not an IAM role ARN", roleARN)
	}
	want, err := arn.Parse(providerARN)
	switch {
	case err != nil:
	case got.Partition != want.Partition:
		return fmt.Sprintf("a role of partition %s, the cluster's AWS account is in %s", got.Partition, want.Partition)
	case got.AccountID != want.AccountID:
		return fmt.Sprintf("a role of account %s, not of account %s where the cluster's OIDC provider is: the provider cannot vouch for it; run verify with that account's credentials, or fix the Secret", got.AccountID, want.AccountID)
	}
	return ""
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
		add(CheckDiscovery, issuer+"/"+oidckeys.DiscoveryPath, Fail, "not anonymously readable: "+pub.DiscoveryErr.Error(),
			"the issuer must be readable by anyone over HTTPS (STS fetches it): "+prepareFix)
		return false
	case pub.Issuer != issuer:
		add(CheckDiscovery, issuer+"/"+oidckeys.DiscoveryPath, Fail, fmt.Sprintf("names issuer %q, the cluster signs for %q", pub.Issuer, issuer),
			"publish the discovery document of "+issuer+": "+prepareFix)
		return false
	case pub.JWKSErr != nil:
		add(CheckDiscovery, "jwks_uri", Fail, "the key set is not anonymously readable: "+pub.JWKSErr.Error(), prepareFix)
		return false
	}
	add(CheckDiscovery, issuer+"/"+oidckeys.DiscoveryPath, Pass, "published, issuer matches", "")
	return true
}

// evaluateKeys: the key the cluster signs with is published. The API
// server also accepts keys it no longer signs with (kube-controller-
// manager's legacy one, a key a rotation replaced): AWS need not. Other
// published keys are a key rotation under way: a WARN with its next step.
func evaluateKeys(cluster, published jose.JSONWebKeySet, signing string, add func(check, object string, s Status, reason, fix string)) {
	if signing == "" {
		evaluateAllKeys(cluster, published, add)
		return
	}
	signer := jose.JSONWebKey{KeyID: signing}
	if k := cluster.Key(signing); len(k) > 0 {
		signer = k[0]
	}
	switch inSet := published.Key(signing); {
	case len(inSet) == 0:
		add(CheckSigningKeys, "published JWKS", Fail, "the cluster signs tokens with key "+signing+", which the issuer does not publish: AWS rejects every token",
			"publish the cluster's bound-service-account signing key: "+prepareFix+" (during a key rotation: oc sts rotate-key continues it)")
		return
	case signer.Key != nil && !hasKey(published, signer):
		add(CheckSigningKeys, "published JWKS", Fail, "the issuer publishes another key under the kid "+signing+" the cluster signs with: AWS rejects every token",
			"publish the cluster's bound-service-account signing key: "+prepareFix)
		return
	}
	var previous, staged []string
	for _, k := range published.Keys {
		switch {
		case k.KeyID == signing:
		case hasKey(cluster, k):
			previous = append(previous, k.KeyID)
		default:
			staged = append(staged, k.KeyID)
		}
	}
	var reasons, fixes []string
	if len(previous) > 0 {
		reasons = append(reasons, "a key rotation is under way: the cluster signs with "+signing+"; the key it replaced ("+strings.Join(previous, ", ")+") is still published for the tokens it signed")
		fixes = append(fixes, "once those tokens have expired: oc sts rotate-key retire (with this cluster's state dir)")
	}
	if len(staged) > 0 {
		reasons = append(reasons, "published keys the cluster does not accept ("+strings.Join(staged, ", ")+"): a key rotation staged, or a key left from an earlier one")
		fixes = append(fixes, "oc sts rotate-key rolls a staged key out to the cluster; remove a key no cluster signs with")
	}
	if reasons != nil {
		add(CheckSigningKeys, "published JWKS", Warn, strings.Join(reasons, "; "), strings.Join(fixes, "; "))
		return
	}
	add(CheckSigningKeys, "published JWKS", Pass, "the cluster signs with "+signing+", which is published", "")
}

// evaluateAllKeys, when no token says which key signs: every key of the
// API server's is published.
func evaluateAllKeys(cluster, published jose.JSONWebKeySet, add func(check, object string, s Status, reason, fix string)) {
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

// operatorFix restores a day-2 operator's role or Secret.
const operatorFix = "run oc sts operator for the operator (--subscription NAME -n NAMESPACE, or -f with its CredentialsRequests): it restores it"

// fixFor is what restores a request's role: prepare's for the release's,
// oc sts operator's for a day-2 operator's.
func fixFor(r Request) string {
	if r.Payload {
		return prepareFix
	}
	return operatorFix
}

// evaluateSecret: the Secret exists in STS form (and, for a request that
// names its role in stsIAMRoleARN, names that role).
func evaluateSecret(r Request, add func(check, object string, s Status, reason, fix string)) bool {
	object := "secret " + r.SecretNamespace + "/" + r.SecretName
	s := r.Secret
	fix := "apply manifests/" + r.SecretNamespace + "-" + r.SecretName + "-credentials.yaml that oc sts prepare wrote"
	switch {
	case r.STSRoleARN != "":
		fix = "the cloud-credential-operator writes it from the request's stsIAMRoleARN " + r.STSRoleARN + ": check that it runs (oc get clusteroperator cloud-credential)"
	case !r.Payload:
		fix = operatorFix
	}
	switch {
	case s.Found && !s.StaticKeys && s.RoleARN != "" && r.STSRoleARN != "" && s.RoleARN != r.STSRoleARN:
		add(CheckSecret, object, Fail, "names role "+s.RoleARN+", not the request's stsIAMRoleARN "+r.STSRoleARN, fix)
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
// request's service accounts with the cluster's audience, as AWS evaluates
// its trust policy (iampolicy.JudgeTrust).
func JudgeTrust(trust, providerARN, host string, want []string) (Status, string) {
	ok, reason, warning := iampolicy.JudgeTrust(trust, providerARN, host, audience, want)
	switch {
	case !ok:
		return Fail, reason
	case warning != "":
		return Warn, "trusts exactly " + strings.Join(want, ", ") + ", but " + warning
	}
	return Pass, "trusts exactly " + strings.Join(want, ", ")
}

// MissingActions lists the actions of statements the role's policies
// (within its boundary) do not allow.
func MissingActions(role *Role, statements []ccov1.StatementEntry) []string {
	return iampolicy.MissingActions(role.Policies, role.Boundary, statements)
}
