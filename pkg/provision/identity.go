package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/oc-sts/oc-sts/pkg/awsid"
)

// Who the caller is, and what it may do.

var (
	stsWhoAmI   = reads("GetCallerIdentity", "sts:GetCallerIdentity")
	iamSimulate = reads("SimulatePrincipalPolicy", "iam:SimulatePrincipalPolicy")
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

// permissions are what IAM's policy simulator said of some actions; ok is
// false when it could not be asked (denied, the root user, an unknown
// principal): a denied call then stops the run where it happens.
type permissions struct {
	ok      bool
	allowed map[string]bool
}

// simulate asks IAM's policy simulator about actions for the caller.
func simulate(ctx context.Context, c *Clients, id Identity, actions []string) permissions {
	principal, ok := simulatorPrincipal(ctx, c, id)
	if !ok {
		return permissions{}
	}
	p := permissions{ok: true, allowed: map[string]bool{}}
	if len(actions) == 0 {
		return p
	}
	out, err := c.IAM.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: &principal, ActionNames: actions})
	if err != nil {
		return permissions{}
	}
	for _, r := range out.EvaluationResults {
		p.allowed[aws.ToString(r.EvalActionName)] = r.EvalDecision == iamtypes.PolicyEvaluationDecisionTypeAllowed
	}
	return p
}

// covers says whether every one of actions was asked about.
func (p permissions) covers(actions []string) bool {
	for _, a := range actions {
		if _, asked := p.allowed[a]; !asked {
			return false
		}
	}
	return p.ok
}

// missing are the actions the simulator did not allow, sorted.
func (p permissions) missing(actions []string) []string {
	var out []string
	for _, a := range actions {
		if !p.allowed[a] {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
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
