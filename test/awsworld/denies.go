package awsworld

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// Explicit denies from outside the caller's own policies — an
// organisation's service control policy, a permissions boundary — which
// IAM's policy simulator does not show (moto has no organisations and
// evaluates no policy at all). A denied call is answered as AWS answers
// it: 403 AccessDenied, "User: <caller> is not authorized to perform:
// <action> on resource: <resource> with an explicit deny in a <source>".

// DenySource is where an explicit deny comes from, in AWS's words.
type DenySource string

const (
	SCP                 DenySource = "service control policy"
	PermissionsBoundary DenySource = "permissions boundary"
	IdentityPolicy      DenySource = "identity-based policy"
)

// Deny refuses every call of action (an IAM action such as
// iam:CreateOpenIDConnectProvider; * and ? match as in policies) with an
// explicit deny from source, until Lift or ResetLog.
func (g *Gate) Deny(action string, source DenySource) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.denies == nil {
		g.denies = map[string]DenySource{}
	}
	g.denies[action] = source
}

// Lift removes the deny of action.
func (g *Gate) Lift(action string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.denies, action)
}

func (g *Gate) explicitDeny(ctx context.Context, r *http.Request, call Call, form url.Values) *apiError {
	g.mu.Lock()
	denies := make(map[string]DenySource, len(g.denies))
	for k, v := range g.denies {
		denies[k] = v
	}
	g.mu.Unlock()
	if len(denies) == 0 {
		return nil
	}
	id, err := g.caller(ctx, call.Region)
	if err != nil {
		return nil
	}
	action, resource := g.authorization(ctx, r, call, form, id.account)
	for pattern, source := range denies {
		if !anyGlob([]string{pattern}, action) {
			continue
		}
		msg := fmt.Sprintf("User: %s is not authorized to perform: %s", id.arn, action)
		switch {
		case resource != "" && strings.HasPrefix(call.Service, "s3"):
			msg += fmt.Sprintf(" on resource: %q", resource) // S3 quotes it
		case resource != "":
			msg += " on resource: " + resource
		}
		return &apiError{http.StatusForbidden, "AccessDenied", msg + " with an explicit deny in a " + string(source)}
	}
	return nil
}

// authorization names a call as IAM authorizes it: the action and, where
// it has one, the resource ARN.
func (g *Gate) authorization(ctx context.Context, r *http.Request, call Call, form url.Values, account string) (action, resource string) {
	part := partitionOf(call.Region)
	switch call.Service {
	case "s3":
		bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if bucket == "" {
			return "s3:ListAllMyBuckets", ""
		}
		return s3ActionOf(r.Method, key, r.URL.Query()), s3ARN(part, bucket, key)
	case "s3control":
		switch {
		case !strings.HasSuffix(r.URL.Path, "/configuration/publicAccessBlock"):
			return "s3:" + r.Method, ""
		case r.Method == http.MethodGet:
			return "s3:GetAccountPublicAccessBlock", ""
		}
		return "s3:PutAccountPublicAccessBlock", ""
	case "cloudfront":
		return cloudFrontAction(r, part, account)
	}
	action = call.Service + ":" + form.Get("Action")
	iamARN := func(kind string) string { return fmt.Sprintf("arn:%s:iam::%s:%s", part, account, kind) }
	switch {
	case call.Service != "iam":
		return action, ""
	case form.Get("Action") == "CreateOpenIDConnectProvider":
		return action, iamARN("oidc-provider/" + strings.TrimPrefix(form.Get("Url"), "https://"))
	case form.Has("OpenIDConnectProviderArn"):
		return action, form.Get("OpenIDConnectProviderArn")
	case form.Get("Action") == "CreateRole":
		path := form.Get("Path")
		if path == "" {
			path = "/"
		}
		return action, iamARN("role" + path + form.Get("RoleName"))
	case form.Has("RoleName"):
		name := form.Get("RoleName")
		if got, err := g.moto.in(call.Region).iam.GetRole(ctx, &iam.GetRoleInput{RoleName: &name}); err == nil {
			return action, aws.ToString(got.Role.Arn)
		}
		return action, iamARN("role/" + name)
	case form.Has("PolicyArn"):
		return action, form.Get("PolicyArn")
	}
	return action, ""
}

// cloudFrontOps names CloudFront's REST calls (API version, then the path).
var cloudFrontOps = []struct {
	method string
	path   *regexp.Regexp
	action string
}{
	{"POST", regexp.MustCompile(`^/distribution$`), "cloudfront:CreateDistribution"},
	{"GET", regexp.MustCompile(`^/distribution$`), "cloudfront:ListDistributions"},
	{"GET", regexp.MustCompile(`^/distribution/([A-Z0-9]+)$`), "cloudfront:GetDistribution"},
	{"GET", regexp.MustCompile(`^/distribution/([A-Z0-9]+)/config$`), "cloudfront:GetDistributionConfig"},
	{"PUT", regexp.MustCompile(`^/distribution/([A-Z0-9]+)/config$`), "cloudfront:UpdateDistribution"},
	{"DELETE", regexp.MustCompile(`^/distribution/([A-Z0-9]+)$`), "cloudfront:DeleteDistribution"},
	{"POST", regexp.MustCompile(`^/origin-access-control$`), "cloudfront:CreateOriginAccessControl"},
	{"GET", regexp.MustCompile(`^/origin-access-control$`), "cloudfront:ListOriginAccessControls"},
	{"GET", regexp.MustCompile(`^/origin-access-control/[A-Z0-9]+$`), "cloudfront:GetOriginAccessControl"},
	{"DELETE", regexp.MustCompile(`^/origin-access-control/[A-Z0-9]+$`), "cloudfront:DeleteOriginAccessControl"},
	{"GET", regexp.MustCompile(`^/tagging$`), "cloudfront:ListTagsForResource"},
	{"POST", regexp.MustCompile(`^/tagging$`), "cloudfront:TagResource"},
}

var cloudFrontVersionRE = regexp.MustCompile(`^/[0-9-]+`)

func cloudFrontAction(r *http.Request, part, account string) (string, string) {
	path := cloudFrontVersionRE.ReplaceAllString(r.URL.Path, "")
	for _, op := range cloudFrontOps {
		m := op.path.FindStringSubmatch(path)
		if m == nil || op.method != r.Method {
			continue
		}
		if len(m) > 1 {
			return op.action, fmt.Sprintf("arn:%s:cloudfront::%s:distribution/%s", part, account, m[1])
		}
		return op.action, ""
	}
	return "cloudfront:" + r.Method, ""
}
