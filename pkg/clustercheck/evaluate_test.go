package clustercheck

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"
	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
)

const (
	issuer   = "https://c-oidc.s3.us-east-2.amazonaws.com"
	host     = "c-oidc.s3.us-east-2.amazonaws.com"
	provider = "arn:aws:iam::123456789012:oidc-provider/" + host
	roleARN  = "arn:aws:iam::123456789012:role/c-ns-creds"
)

func trust(cond string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":%q},"Action":"sts:AssumeRoleWithWebIdentity","Condition":%s}]}`, provider, cond)
}

var exact = trust(`{"StringEquals":{"` + host + `:sub":["system:serviceaccount:ns:sa"],"` + host + `:aud":"openshift"}}`)

// clusterKey is the cluster's signer key of every case: generated once (a
// second each), as no case depends on which key it is.
var clusterKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// good is a cluster whose every link holds.
func good(t *testing.T) Facts {
	key, err := clusterKey()
	if err != nil {
		t.Fatal(err)
	}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k", Algorithm: "RS256", Use: "sig"}}}
	return Facts{
		Cluster: ClusterFacts{CredentialsMode: "Manual", Issuer: issuer, JWKS: jwks, SigningKID: "k", Requests: []Request{{
			Namespace: "openshift-cloud-credential-operator", Name: "cr", SecretNamespace: "ns", SecretName: "creds", ServiceAccounts: []string{"sa"},
			Statements: []ccov1.StatementEntry{{Effect: "Allow", Action: []string{"kms:ReEncryptFrom", "ec2:DescribeInstances"}, Resource: "*"}},
			Secret:     Secret{Found: true, RoleARN: roleARN, TokenFile: "/var/run/secrets/openshift/serviceaccount/token", Regional: true},
		}}},
		Published: Published{Issuer: issuer, JWKS: jwks},
		AWS: AWSFacts{ProviderARN: provider, Provider: &Provider{ClientIDs: []string{"openshift", "sts.amazonaws.com"}}, Roles: map[string]*Role{
			roleARN: {Trust: exact, Policies: []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:ReEncrypt*","ec2:Describe*"],"Resource":"*"}]}`}},
		}},
		Exchanges: map[string]error{"openshift-cloud-credential-operator/cr": nil},
	}
}

func newKey(kid string) jose.JSONWebKey {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	return jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}
}

func fails(results []Result) string {
	var out []string
	for _, r := range results {
		if r.Status != Pass {
			out = append(out, fmt.Sprintf("%s %s: %s", r.Status, r.Check, r.Reason))
		}
	}
	return strings.Join(out, "\n")
}

func TestEvaluate(t *testing.T) {
	role := func(f *Facts) *Role { return f.AWS.Roles[roleARN] }
	for name, tc := range map[string]struct {
		breakIt func(f *Facts)
		want    string // a substring of the non-PASS verdicts; "" for all PASS
	}{
		"every link holds": {func(*Facts) {}, ""},
		"wildcard subject": {func(f *Facts) {
			role(f).Trust = trust(`{"StringLike":{"` + host + `:sub":"system:serviceaccount:ns:*"}}`)
		}, "FAIL role-trust: a wildcard " + host + ":sub system:serviceaccount:ns:*"},
		"negated statement beside the exact one": {func(f *Facts) {
			d := strings.TrimSuffix(exact, "]}") + `,{"Effect":"Allow","Principal":{"Federated":"` + provider + `"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringNotEquals":{"` + host + `:sub":"system:serviceaccount:ns:sa"},"StringEquals":{"` + host + `:aud":"openshift"}}}]}`
			role(f).Trust = d
		}, "FAIL role-trust: StringNotEquals on " + host + ":sub"},
		"no sub condition": {func(f *Facts) { role(f).Trust = trust(`{"StringEquals":{"` + host + `:aud":"openshift"}}`) }, "FAIL role-trust: no " + host + ":sub"},
		"another provider": {func(f *Facts) {
			role(f).Trust = strings.Replace(exact, provider, "arn:aws:iam::123456789012:oidc-provider/other", 1)
		}, "FAIL role-trust: also trusts Federated"},
		"extra subject": {func(f *Facts) {
			role(f).Trust = trust(`{"StringEquals":{"` + host + `:sub":["system:serviceaccount:ns:sa","system:serviceaccount:default:default"],"` + host + `:aud":"openshift"}}`)
		}, "also trusts system:serviceaccount:default:default"},
		"role of another account": {func(f *Facts) {
			f.Cluster.Requests[0].Secret.RoleARN = "arn:aws:iam::999999999999:role/c-ns-creds"
			f.AWS.Roles["arn:aws:iam::999999999999:role/c-ns-creds"] = f.AWS.Roles[roleARN]
		}, "FAIL role-trust: the Secret of credentialsrequest openshift-cloud-credential-operator/cr names a role of account 999999999999"},
		"role of another partition": {func(f *Facts) {
			f.Cluster.Requests[0].Secret.RoleARN = "arn:aws-cn:iam::123456789012:role/c-ns-creds"
		}, "a role of partition aws-cn"},
		"not a role ARN": {func(f *Facts) {
			f.Cluster.Requests[0].Secret.RoleARN = "arn:aws:iam::123456789012:user/c-ns-creds"
		}, "which is not an IAM role ARN"},
		"action missing": {func(f *Facts) {
			role(f).Policies = []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}`}
		}, "FAIL role-permissions: cannot kms:ReEncryptFrom"},
		"boundary cuts an action": {func(f *Facts) {
			role(f).Boundary = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`
		}, "cannot ec2:DescribeInstances"},
		"explicit deny": {func(f *Facts) {
			role(f).Policies = append(role(f).Policies, `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"ec2:DescribeInstances","Resource":"*"}}`)
		}, "cannot ec2:DescribeInstances"},
		"a published key the cluster does not accept: a staged rotation": {func(f *Facts) {
			f.Published.JWKS.Keys = append(f.Published.JWKS.Keys, newKey("next"))
		}, "WARN signing-keys: published keys the cluster does not accept (next): a key rotation staged"},
		"rolled: signs with the new key, both accepted and published": {func(f *Facts) {
			next := newKey("next")
			f.Cluster.JWKS.Keys = append(f.Cluster.JWKS.Keys, next)
			f.Published.JWKS.Keys = append(f.Published.JWKS.Keys, next)
			f.Cluster.SigningKID = "next"
		}, "WARN signing-keys: a key rotation is under way: the cluster signs with next; the key it replaced (k) is still published"},
		"retired: the API server still accepts the old key, AWS need not": {func(f *Facts) {
			next := newKey("next")
			f.Cluster.JWKS.Keys = append(f.Cluster.JWKS.Keys, next)
			f.Published.JWKS.Keys = []jose.JSONWebKey{next}
			f.Cluster.SigningKID = "next"
		}, ""},
		"the signing key is not published": {func(f *Facts) {
			f.Cluster.JWKS.Keys = append(f.Cluster.JWKS.Keys, newKey("next"))
			f.Cluster.SigningKID = "next"
		}, "FAIL signing-keys: the cluster signs tokens with key next, which the issuer does not publish"},
		"another key under the signing kid": {func(f *Facts) {
			f.Published.JWKS.Keys = []jose.JSONWebKey{newKey("k")}
		}, "FAIL signing-keys: the issuer publishes another key under the kid k"},
		"no token to tell: every accepted key must be published": {func(f *Facts) {
			f.Cluster.SigningKID = ""
			f.Cluster.JWKS.Keys = append(f.Cluster.JWKS.Keys, newKey("legacy"))
		}, "FAIL signing-keys: the cluster signs with keys that are not published: legacy"},
		"conditions with booleans still cover": {func(f *Facts) {
			role(f).Policies = []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:*","ec2:DescribeInstances"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":true}}}]}`}
		}, ""},
		"provider without the audience": {func(f *Facts) { f.AWS.Provider.ClientIDs = []string{"sts.amazonaws.com"} }, "FAIL oidc-provider"},
		"global STS endpoint":           {func(f *Facts) { f.Cluster.Requests[0].Secret.Regional = false }, "WARN credentials-secret"},
		"exchange refused": {func(f *Facts) {
			f.Exchanges["openshift-cloud-credential-operator/cr"] = errors.New("AccessDenied")
		}, "FAIL token-exchange: AccessDenied"},
	} {
		t.Run(name, func(t *testing.T) {
			f := good(t)
			tc.breakIt(&f)
			got := fails(Evaluate(f))
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("verdicts:\n%s\nwant %q", got, tc.want)
			}
		})
	}
}

// A day-2 operator's request: its Secret is the cloud-credential-operator's,
// written from stsIAMRoleARN, and the fixes say so.
func TestEvaluateOperatorRequest(t *testing.T) {
	f := good(t)
	r := &f.Cluster.Requests[0]
	r.STSRoleARN = roleARN
	if got := fails(Evaluate(f)); got != "" {
		t.Errorf("a converged operator request: %s", got)
	}
	r.STSRoleARN = "arn:aws:iam::123456789012:role/c-ns-other"
	res := Evaluate(f)
	if got := fails(res); !strings.Contains(got, "FAIL credentials-secret: names role "+roleARN+", not the request's stsIAMRoleARN arn:aws:iam::123456789012:role/c-ns-other") {
		t.Errorf("a Secret behind its stsIAMRoleARN: %s", got)
	}
	r.STSRoleARN = ""
	r.Secret = Secret{}
	for _, res := range Evaluate(f) {
		if res.Check == CheckSecret && !strings.Contains(res.Fix, "oc sts operator") {
			t.Errorf("a missing operator Secret's fix: %q", res.Fix)
		}
	}
	r.Payload = true
	for _, res := range Evaluate(f) {
		if res.Check == CheckSecret && !strings.Contains(res.Fix, "oc sts prepare wrote") {
			t.Errorf("a missing release Secret's fix: %q", res.Fix)
		}
	}
}
