package awsworld

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// issuerWorld is a published OIDC issuer, its IAM provider and a role.
type issuerWorld struct {
	issuer, host, provider, role string
	key                          *rsa.PrivateKey
}

func newIssuerWorld(t *testing.T, cfg aws.Config, trustCondition string) issuerWorld {
	t.Helper()
	ctx := context.Background()
	const bucket = "wi-oidc"
	w := issuerWorld{host: bucket + ".s3.us-east-1.amazonaws.com"}
	w.issuer = "https://" + w.host
	w.key = mustKey(t)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &w.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	disco := fmt.Sprintf(`{"issuer":%q,"jwks_uri":"%s/keys.json","response_types_supported":["id_token"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"]}`, w.issuer, w.issuer)
	c := s3Client(cfg)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	putObject(t, c, bucket, ".well-known/openid-configuration", disco)
	putObject(t, c, bucket, "keys.json", string(jwks))
	setBlock(t, c, bucket, false, false)
	policy := publicReadPolicy("aws", bucket, ".well-known/openid-configuration", "keys.json")
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: &policy}); err != nil {
		t.Fatal(err)
	}
	ic := iam.NewFromConfig(cfg)
	p, err := ic.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: &w.issuer, ClientIDList: []string{"openshift"}})
	if err != nil {
		t.Fatal(err)
	}
	w.provider = aws.ToString(p.OpenIDConnectProviderArn)
	trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":%q},"Action":"sts:AssumeRoleWithWebIdentity","Condition":%s}]}`, w.provider, fmt.Sprintf(trustCondition, w.host, w.host))
	r, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ingress"), AssumeRolePolicyDocument: &trust})
	if err != nil {
		t.Fatal(err)
	}
	w.role = aws.ToString(r.Role.Arn)
	return w
}

func mustKey(t *testing.T) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (w issuerWorld) token(t *testing.T, key *rsa.PrivateKey, sub string, aud []string, exp time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: w.issuer, Subject: sub, Audience: aud, Expiry: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(time.Now().Add(-time.Minute))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func assume(cfg aws.Config, role, token string) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	return sts.NewFromConfig(cfg).AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: &role, RoleSessionName: aws.String("test"), WebIdentityToken: &token})
}

const exactTrust = `{"StringEquals":{"%s:sub":"system:serviceaccount:openshift-ingress-operator:ingress-operator","%s:aud":"openshift"}}`

func TestWebIdentityIsVerified(t *testing.T) {
	_, cfg := world(t)
	w := newIssuerWorld(t, cfg, exactTrust)
	sa := "system:serviceaccount:openshift-ingress-operator:ingress-operator"
	hour := time.Now().Add(time.Hour)
	out, err := assume(cfg, w.role, w.token(t, w.key, sa, []string{"openshift"}, hour))
	if err != nil || out.Credentials == nil || aws.ToString(out.Credentials.AccessKeyId) == "" {
		t.Fatalf("a correct token must get credentials: %v", err)
	}
	for name, tc := range map[string]struct {
		role, token, code string
	}{
		"other service account":    {w.role, w.token(t, w.key, "system:serviceaccount:default:default", []string{"openshift"}, hour), "AccessDenied"},
		"expired":                  {w.role, w.token(t, w.key, sa, []string{"openshift"}, time.Now().Add(-time.Minute)), "ExpiredTokenException"},
		"wrong audience":           {w.role, w.token(t, w.key, sa, []string{"sts.amazonaws.com"}, hour), "InvalidIdentityToken"},
		"key not in the JWKS":      {w.role, w.token(t, mustKey(t), sa, []string{"openshift"}, hour), "InvalidIdentityToken"},
		"not a JWT":                {w.role, "not-a-token", "InvalidIdentityToken"},
		"role that does not exist": {w.role + "-gone", w.token(t, w.key, sa, []string{"openshift"}, hour), "AccessDenied"},
	} {
		_, err := assume(cfg, tc.role, tc.token)
		wantCode(t, name, err, tc.code)
	}

	// The bucket made private: STS can no longer read the keys.
	setBlock(t, s3Client(cfg), "wi-oidc", false, true)
	_, err = assume(cfg, w.role, w.token(t, w.key, sa, []string{"openshift"}, hour))
	wantCode(t, "JWKS not publicly readable", err, "InvalidIdentityToken")

	// No provider for the issuer.
	setBlock(t, s3Client(cfg), "wi-oidc", false, false)
	if _, err := iam.NewFromConfig(cfg).DeleteOpenIDConnectProvider(context.Background(), &iam.DeleteOpenIDConnectProviderInput{OpenIDConnectProviderArn: &w.provider}); err != nil {
		t.Fatal(err)
	}
	_, err = assume(cfg, w.role, w.token(t, w.key, sa, []string{"openshift"}, hour))
	wantCode(t, "no IAM OIDC provider", err, "InvalidIdentityToken")
}

func TestWebIdentityTrustWildcards(t *testing.T) {
	_, cfg := world(t)
	w := newIssuerWorld(t, cfg, `{"StringLike":{"%s:sub":"system:serviceaccount:openshift-image-registry:*"},"StringEquals":{"%s:aud":"openshift"}}`)
	hour := time.Now().Add(time.Hour)
	if _, err := assume(cfg, w.role, w.token(t, w.key, "system:serviceaccount:openshift-image-registry:registry", []string{"openshift"}, hour)); err != nil {
		t.Errorf("StringLike match: %v", err)
	}
	_, err := assume(cfg, w.role, w.token(t, w.key, "system:serviceaccount:openshift-ingress:router", []string{"openshift"}, hour))
	wantCode(t, "StringLike mismatch", err, "AccessDenied")
}

// Too-wide trust policies are as wide in the test world as in AWS: a
// negated operator admits every subject it does not name, ForAllValues on a
// key the token lacks holds. So tests can show a real foreign service
// account getting in where verify must FAIL.
func TestWebIdentityTrustAsWideAsAWS(t *testing.T) {
	_, cfg := world(t)
	hour := time.Now().Add(time.Hour)
	for name, tc := range map[string]struct {
		condition, in, out string
	}{
		"StringNotEquals":               {`{"StringNotEquals":{"%s:sub":"system:serviceaccount:x:y"},"StringEquals":{"%s:aud":"openshift"}}`, "system:serviceaccount:default:default", "system:serviceaccount:x:y"},
		"StringNotLike":                 {`{"StringNotLike":{"%s:sub":"system:serviceaccount:kube-*"},"StringEquals":{"%s:aud":"openshift"}}`, "system:serviceaccount:evil:sa", "system:serviceaccount:kube-system:sa"},
		"ForAllValues on an absent key": {`{"ForAllValues:StringEquals":{"%s:amr":"never"},"StringEquals":{"%s:aud":"openshift"}}`, "system:serviceaccount:evil:sa", ""},
		"ForAnyValue":                   {`{"ForAnyValue:StringLike":{"%s:sub":"system:serviceaccount:evil:*"},"StringEquals":{"%s:aud":"openshift"}}`, "system:serviceaccount:evil:sa", "system:serviceaccount:good:sa"},
	} {
		t.Run(name, func(t *testing.T) {
			w := newIssuerWorld(t, cfg, tc.condition)
			if _, err := assume(cfg, w.role, w.token(t, w.key, tc.in, []string{"openshift"}, hour)); err != nil {
				t.Errorf("%s is admitted by AWS: %v", tc.in, err)
			}
			if tc.out != "" {
				_, err := assume(cfg, w.role, w.token(t, w.key, tc.out, []string{"openshift"}, hour))
				wantCode(t, tc.out, err, "AccessDenied")
			}
			cleanIssuerWorld(t, cfg, w)
		})
	}
}

func cleanIssuerWorld(t *testing.T, cfg aws.Config, w issuerWorld) {
	ctx := context.Background()
	ic, c := iam.NewFromConfig(cfg), s3Client(cfg)
	ic.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("ingress")})
	ic.DeleteOpenIDConnectProvider(ctx, &iam.DeleteOpenIDConnectProviderInput{OpenIDConnectProviderArn: &w.provider})
	for _, k := range []string{".well-known/openid-configuration", "keys.json"} {
		c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("wi-oidc"), Key: aws.String(k)})
	}
	c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("wi-oidc")})
}

// Each operator as AWS documents it, on present, absent and multi-valued keys.
func TestConditionOperators(t *testing.T) {
	for _, tc := range []struct {
		op      string
		have    []string
		want    []string
		expects bool
	}{
		{"StringEquals", []string{"a"}, []string{"a", "b"}, true},
		{"StringEquals", nil, []string{"a"}, false},
		{"StringNotEquals", []string{"c"}, []string{"a", "b"}, true},
		{"StringNotEquals", []string{"a"}, []string{"a", "b"}, false},
		{"StringNotEquals", nil, []string{"a"}, true},
		{"StringLike", []string{"abc"}, []string{"a*"}, true},
		{"StringNotLike", []string{"abc"}, []string{"a*"}, false},
		{"StringEqualsIgnoreCase", []string{"ABC"}, []string{"abc"}, true},
		{"StringEqualsIfExists", nil, []string{"a"}, true},
		{"StringEqualsIfExists", []string{"b"}, []string{"a"}, false},
		{"ForAnyValue:StringEquals", []string{"x", "a"}, []string{"a"}, true},
		{"ForAnyValue:StringEquals", nil, []string{"a"}, false},
		{"ForAnyValue:StringNotEquals", []string{"a", "x"}, []string{"a"}, true},
		{"ForAllValues:StringEquals", []string{"a", "x"}, []string{"a"}, false},
		{"ForAllValues:StringEquals", []string{"a"}, []string{"a", "b"}, true},
		{"ForAllValues:StringEquals", nil, []string{"a"}, true},
		{"ForAllValues:StringNotEquals", []string{"x", "y"}, []string{"a"}, true},
		{"Null", nil, []string{"true"}, true},
		{"Null", []string{"a"}, []string{"true"}, false},
		{"Bool", []string{"true"}, []string{"True"}, true},
		{"NumericEquals", []string{"1"}, []string{"1"}, false}, // unknown here: never matches
	} {
		if got := conditionHolds(tc.op, tc.have, len(tc.have) > 0, tc.want); got != tc.expects {
			t.Errorf("%s %v against %v: %v, want %v", tc.op, tc.have, tc.want, got, tc.expects)
		}
	}
}
