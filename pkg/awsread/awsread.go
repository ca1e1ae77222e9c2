// Package awsread reads what IAM holds of a cluster — roles with their
// policies, OIDC providers, managed policy documents — and says plainly
// what a failed AWS call needs. provision observes AWS with it before
// changing anything; clustercheck (verify) reads AWS with it and nothing else.
package awsread

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
)

// IAM is the part of the IAM API the reads need.
type IAM interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	ListRolePolicies(context.Context, *iam.ListRolePoliciesInput, ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	GetRolePolicy(context.Context, *iam.GetRolePolicyInput, ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	ListAttachedRolePolicies(context.Context, *iam.ListAttachedRolePoliciesInput, ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	GetOpenIDConnectProvider(context.Context, *iam.GetOpenIDConnectProviderInput, ...func(*iam.Options)) (*iam.GetOpenIDConnectProviderOutput, error)
	GetPolicy(context.Context, *iam.GetPolicyInput, ...func(*iam.Options)) (*iam.GetPolicyOutput, error)
	GetPolicyVersion(context.Context, *iam.GetPolicyVersionInput, ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error)
}

// Role is an IAM role as found.
type Role struct {
	Name, ARN, Path string
	Trust           string
	Inline          map[string]string // policy name -> document
	Attached        []string          // managed policy ARNs
	Boundary        string
	Tags            map[string]string
}

// Provider is an IAM OIDC provider as found.
type Provider struct {
	Exists    bool
	URL       string
	ClientIDs []string
	Tags      map[string]string
}

// ReadProvider reads the IAM OIDC provider of an ARN.
func ReadProvider(ctx context.Context, c IAM, arn string) (Provider, error) {
	out, err := c.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: &arn})
	if ErrorCode(err) == "NoSuchEntity" {
		return Provider{}, nil
	}
	if err != nil {
		return Provider{}, ReadError("the IAM OIDC provider "+arn, "iam:GetOpenIDConnectProvider", err)
	}
	return Provider{Exists: true, URL: aws.ToString(out.Url), ClientIDs: out.ClientIDList, Tags: Tags(out.Tags)}, nil
}

// ReadRole reads a role with its trust, inline and attached policies and
// boundary; ok is false when it does not exist.
func ReadRole(ctx context.Context, c IAM, name string) (Role, bool, error) {
	got, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: &name})
	if ErrorCode(err) == "NoSuchEntity" {
		return Role{}, false, nil
	}
	if err != nil {
		return Role{}, false, ReadError("the IAM role "+name, "iam:GetRole", err)
	}
	role := got.Role
	r := Role{Name: name, ARN: aws.ToString(role.Arn), Path: aws.ToString(role.Path), Trust: DecodePolicy(aws.ToString(role.AssumeRolePolicyDocument)),
		Inline: map[string]string{}, Tags: Tags(role.Tags)}
	if role.PermissionsBoundary != nil {
		r.Boundary = aws.ToString(role.PermissionsBoundary.PermissionsBoundaryArn)
	}
	inline, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: &name})
	if err != nil {
		return r, true, ReadError("the IAM role "+name, "iam:ListRolePolicies", err)
	}
	for _, pn := range inline.PolicyNames {
		doc, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: &name, PolicyName: aws.String(pn)})
		if err != nil {
			return r, true, ReadError("the IAM role "+name, "iam:GetRolePolicy", err)
		}
		r.Inline[pn] = DecodePolicy(aws.ToString(doc.PolicyDocument))
	}
	attached, err := c.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: &name})
	if err != nil {
		return r, true, ReadError("the IAM role "+name, "iam:ListAttachedRolePolicies", err)
	}
	for _, ap := range attached.AttachedPolicies {
		r.Attached = append(r.Attached, aws.ToString(ap.PolicyArn))
	}
	return r, true, nil
}

// PolicyDocument is the default version of a managed policy.
func PolicyDocument(ctx context.Context, c IAM, arn string) (string, error) {
	p, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: &arn})
	if err != nil {
		return "", ReadError("the IAM policy "+arn, "iam:GetPolicy", err)
	}
	v, err := c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: &arn, VersionId: p.Policy.DefaultVersionId})
	if err != nil {
		return "", ReadError("the IAM policy "+arn, "iam:GetPolicyVersion", err)
	}
	return DecodePolicy(aws.ToString(v.PolicyVersion.Document)), nil
}

// Tags are IAM tags as a map.
func Tags(tags []iamtypes.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// DecodePolicy undoes IAM's URL-encoding (RFC 3986) of policy documents.
func DecodePolicy(doc string) string {
	if !strings.HasPrefix(doc, "%7B") {
		return doc
	}
	if d, err := url.PathUnescape(doc); err == nil {
		return d
	}
	return doc
}

// ErrorCode is the AWS error code of err, or "".
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// AccessDenied says whether AWS refused err's call for want of permission.
func AccessDenied(err error) bool {
	switch ErrorCode(err) {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
		return true
	}
	return false
}

// explicitDenyRE reads AWS's explicit-deny message: "User: ARN is not
// authorized to perform: ACTION [on resource: RESOURCE] with an explicit
// deny in a SOURCE[: policy ARN]". S3 quotes the resource; IAM may write
// it "role NAME".
var explicitDenyRE = regexp.MustCompile(`not authorized to perform: (\S+?)(?: on resource: (.+?))? with an explicit deny in an? ([a-z -]+[a-z])`)

// IsExplicitDeny says whether err is an explicit deny.
func IsExplicitDeny(err error) bool {
	return AccessDenied(err) && explicitDenyRE.MatchString(err.Error())
}

// deniedError is an explicit deny, said plainly; the AWS error stays
// reachable with errors.As.
type deniedError struct {
	msg string
	err error
}

func (e *deniedError) Error() string { return e.msg }
func (e *deniedError) Unwrap() error { return e.err }

// ExplicitDeny rewrites an explicit deny of step as what it is: no
// permission the caller can add itself, and one IAM's policy simulator
// does not see (service control policies, permissions boundaries).
func ExplicitDeny(step string, err error) (error, bool) {
	m := explicitDenyRE.FindStringSubmatch(err.Error())
	if m == nil || !AccessDenied(err) {
		return nil, false
	}
	action, resource, source := m[1], strings.Trim(m[2], `"`), m[3]
	what := action
	if resource != "" {
		what += " on " + resource
	}
	by := "an organisation policy or permissions boundary"
	if source != "service control policy" && source != "permissions boundary" {
		by = "an explicit deny"
	}
	return &deniedError{fmt.Sprintf("%s: %s is denied by %s (AWS: \"with an explicit deny in a %s\"), which IAM's policy simulator does not show: ask your AWS administrator to allow it", step, what, by, source), err}, true
}

// ReadError says what could not be read and which permission it takes.
func ReadError(what, permission string, err error) error {
	if denied, ok := ExplicitDeny("reading "+what, err); ok {
		return denied
	}
	if AccessDenied(err) {
		return fmt.Errorf("reading %s: access denied: the caller needs %s", what, permission)
	}
	return fmt.Errorf("reading %s: %w", what, err)
}

// StepError says which step of a change failed, an explicit deny plainly.
func StepError(step string, err error) error {
	if err == nil {
		return nil
	}
	if denied, ok := ExplicitDeny(step, err); ok {
		return denied
	}
	if AccessDenied(err) {
		return fmt.Errorf("%s: access denied: %w", step, err)
	}
	return fmt.Errorf("%s: %w", step, err)
}
