package awsworld

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// verifyWebIdentity does what STS does before it hands out credentials for
// a web identity token (moto hands them out for any token): find the IAM
// OIDC provider for the token's issuer, fetch its keys anonymously from the
// issuer URL, check signature, time and audience, evaluate the role's trust.
func (g *Gate) verifyWebIdentity(ctx context.Context, form url.Values) *apiError {
	invalid := func(format string, a ...any) *apiError {
		return &apiError{http.StatusBadRequest, "InvalidIdentityToken", fmt.Sprintf(format, a...)}
	}
	tok, err := jwt.ParseSigned(form.Get("WebIdentityToken"), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return invalid("The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil || !strings.HasPrefix(unverified.Issuer, "https://") {
		return invalid("The ID Token provided is not a valid JWT: iss must be an https URL")
	}
	host := strings.TrimPrefix(unverified.Issuer, "https://")
	roleARN := form.Get("RoleArn")
	partition, _, _ := strings.Cut(strings.TrimPrefix(roleARN, "arn:"), ":")
	moto := g.moto.in(homeRegion(partition))
	providerARN, clientIDs, err := findProvider(ctx, moto, host)
	if err != nil {
		return &apiError{http.StatusInternalServerError, "InternalError", err.Error()}
	}
	if providerARN == "" {
		return invalid("No OpenIDConnect provider found in your account for %s", unverified.Issuer)
	}
	keys, err := g.issuerKeys(ctx, unverified.Issuer)
	if err != nil {
		return invalid("Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements")
	}
	var claims jwt.Claims
	if err := tok.Claims(keys, &claims); err != nil {
		return invalid("Incorrect token signature")
	}
	now := time.Now()
	if claims.Expiry == nil || now.After(claims.Expiry.Time()) {
		return &apiError{http.StatusBadRequest, "ExpiredTokenException", "Token expired: current date/time " + now.UTC().Format(time.RFC3339) + " must be before the expiration date/time"}
	}
	if claims.NotBefore != nil && now.Before(claims.NotBefore.Time()) {
		return invalid("Token is not yet valid (nbf)")
	}
	if !slices.ContainsFunc(claims.Audience, func(a string) bool { return slices.Contains(clientIDs, a) }) {
		return invalid("Incorrect token audience")
	}
	trust, ok, err := moto.roleTrust(ctx, roleARN[strings.LastIndex(roleARN, "/")+1:])
	if err != nil {
		return &apiError{http.StatusInternalServerError, "InternalError", err.Error()}
	}
	denied := &apiError{http.StatusForbidden, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"}
	doc, perr := parsePolicy(trust)
	if !ok || perr != nil {
		return denied
	}
	req := policyRequest{
		who:    principal{"Federated", providerARN},
		action: "sts:AssumeRoleWithWebIdentity",
		context: map[string][]string{
			host + ":sub": {claims.Subject},
			host + ":aud": claims.Audience,
		},
	}
	if doc.decide(req) != allowed {
		return denied
	}
	return nil
}

// findProvider returns the ARN and client IDs of the IAM OIDC provider for
// an issuer host (and path), or "" when there is none.
func findProvider(ctx context.Context, moto backend, host string) (string, []string, error) {
	list, err := moto.iam.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
	if err != nil {
		return "", nil, err
	}
	for _, p := range list.OpenIDConnectProviderList {
		if !strings.HasSuffix(aws.ToString(p.Arn), ":oidc-provider/"+host) {
			continue
		}
		got, err := moto.iam.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: p.Arn})
		if err != nil {
			return "", nil, err
		}
		return aws.ToString(p.Arn), got.ClientIDList, nil
	}
	return "", nil, nil
}

// issuerKeys reads the discovery document and the JWKS it names, as an
// anonymous caller on the internet would (through the gate's web).
func (g *Gate) issuerKeys(ctx context.Context, issuer string) (*jose.JSONWebKeySet, error) {
	var disco struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := g.fetchJSON(ctx, issuer+"/.well-known/openid-configuration", &disco); err != nil {
		return nil, err
	}
	if disco.Issuer != issuer {
		return nil, fmt.Errorf("discovery document names issuer %q", disco.Issuer)
	}
	var keys jose.JSONWebKeySet
	return &keys, g.fetchJSON(ctx, disco.JWKSURI, &keys)
}

func (g *Gate) fetchJSON(ctx context.Context, rawURL string, into any) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" {
		return fmt.Errorf("%q is not an https URL", rawURL)
	}
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	rec := httptest.NewRecorder()
	g.web(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("GET %s: %d", rawURL, rec.Code)
	}
	body, _ := io.ReadAll(rec.Result().Body)
	return json.Unmarshal(body, into)
}
