package provision

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// Identity is who the AWS credentials are.
type Identity struct {
	Account   string
	Partition string
	ARN       string
}

// WhoAmI asks STS and checks the caller's partition is the region's.
func WhoAmI(ctx context.Context, c *Clients, region string) (Identity, error) {
	out, err := c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Identity{}, fmt.Errorf("no usable AWS credentials (sts:GetCallerIdentity): %w; set AWS_PROFILE or --profile, or run aws sso login", err)
	}
	id := Identity{Account: aws.ToString(out.Account), ARN: aws.ToString(out.Arn)}
	c.Account = id.Account
	a, err := arn.Parse(id.ARN)
	if err != nil {
		return id, fmt.Errorf("STS answered an unparsable caller ARN %q", id.ARN)
	}
	id.Partition = a.Partition
	want, err := awsid.PartitionFor(region)
	if err != nil {
		return id, err
	}
	if want.ID != id.Partition {
		return id, fmt.Errorf("the credentials are for partition %s (%s) but region %s is in %s: use credentials of that partition", id.Partition, id.ARN, region, want.ID)
	}
	return id, nil
}

// RequiredActions are the IAM actions the changes need.
func RequiredActions(changes []plan.Change) []string {
	set := map[string]bool{}
	for _, ch := range changes {
		for _, a := range actionsFor(ch) {
			set[a] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// requiredActions are the IAM actions each kind of change makes.
var requiredActions = map[plan.Resource]map[plan.Action][]string{
	plan.BucketResource: {
		plan.Create: {"s3:CreateBucket", "s3:PutBucketTagging", "s3:PutBucketPublicAccessBlock", "s3:PutBucketPolicy"},
		plan.Update: {"s3:PutBucketTagging", "s3:PutBucketPublicAccessBlock", "s3:PutBucketPolicy"},
		plan.Delete: {"s3:DeleteBucket"},
	},
	plan.ObjectResource: {plan.Create: {"s3:PutObject"}, plan.Update: {"s3:PutObject"}, plan.Delete: {"s3:DeleteObject"}},
	plan.ProviderResource: {
		plan.Create: {"iam:CreateOpenIDConnectProvider", "iam:TagOpenIDConnectProvider"},
		plan.Update: {"iam:AddClientIDToOpenIDConnectProvider", "iam:TagOpenIDConnectProvider"},
		plan.Delete: {"iam:DeleteOpenIDConnectProvider"},
	},
	plan.RoleResource: {
		plan.Create: {"iam:CreateRole", "iam:TagRole", "iam:PutRolePolicy"},
		plan.Update: {"iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:TagRole"},
		plan.Delete: {"iam:DeleteRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy"},
	},
	plan.DistributionResource: {
		plan.Create: {"cloudfront:CreateOriginAccessControl", "cloudfront:CreateDistributionWithTags"},
		plan.Delete: {"cloudfront:UpdateDistribution", "cloudfront:DeleteDistribution", "cloudfront:DeleteOriginAccessControl"},
	},
}

func actionsFor(ch plan.Change) []string { return requiredActions[ch.Resource][ch.Action] }

// MissingPermissions asks IAM's policy simulator which actions the caller
// may not perform. ok is false when the simulator cannot be used (denied,
// the root user, an unknown principal): the caller then just proceeds.
func MissingPermissions(ctx context.Context, c *Clients, id Identity, actions []string) (missing []string, ok bool) {
	principal, ok := simulatorPrincipal(ctx, c, id)
	if !ok || len(actions) == 0 {
		return nil, ok
	}
	out, err := c.IAM.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: &principal, ActionNames: actions})
	if err != nil {
		return nil, false
	}
	for _, r := range out.EvaluationResults {
		if r.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeAllowed {
			missing = append(missing, aws.ToString(r.EvalActionName))
		}
	}
	slices.Sort(missing)
	return missing, true
}

// simulatorPrincipal maps the caller to the IAM user or role the simulator
// takes: an assumed-role session becomes its role (looked up for its path).
func simulatorPrincipal(ctx context.Context, c *Clients, id Identity) (string, bool) {
	a, err := arn.Parse(id.ARN)
	if err != nil {
		return "", false
	}
	kind, rest, _ := strings.Cut(a.Resource, "/")
	switch kind {
	case "user":
		return awsid.UserARN(a.Partition, a.AccountID, rest), true
	case "assumed-role":
		role, _, _ := strings.Cut(rest, "/")
		got, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: &role})
		if err != nil {
			return "", false
		}
		return aws.ToString(got.Role.Arn), true
	}
	return "", false // root, federated users: nothing to simulate
}
