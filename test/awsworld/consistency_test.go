package awsworld

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

const issuerURL = "https://lag-oidc.s3.us-east-1.amazonaws.com"

func webIdentityTrust(providerARN string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + providerARN + `"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`
}

// TestMotoIAMIsConsistentAtOnce shows the gap: in moto a provider is usable
// by a trust policy, and a role readable, the moment they are created.
func TestMotoIAMIsConsistentAtOnce(t *testing.T) {
	if err := moto.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := newBackend(moto.URL).iam
	p, err := c.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String(issuerURL), ClientIDList: []string{"openshift"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("lag"), AssumeRolePolicyDocument: aws.String(webIdentityTrust(aws.ToString(p.OpenIDConnectProviderArn)))}); err != nil {
		t.Errorf("moto now refuses a trust naming a provider just created (%v): the gate's window may be redundant", err)
	}
	if _, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("lag")}); err != nil {
		t.Errorf("moto now hides a role just created (%v): the gate's window may be redundant", err)
	}
}

func TestGateIAMEventualConsistency(t *testing.T) {
	g, cfg := world(t)
	ctx := context.Background()
	c := iam.NewFromConfig(cfg)
	const window = 400 * time.Millisecond
	g.SetIAMPropagation(window, window)
	p, err := c.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String(issuerURL), ClientIDList: []string{"openshift"}})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(p.OpenIDConnectProviderArn)
	trust := webIdentityTrust(arn)
	_, err = c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("lag"), AssumeRolePolicyDocument: &trust})
	wantCode(t, "trust naming a provider just created", err, "MalformedPolicyDocument")
	if err == nil || !strings.Contains(err.Error(), `Invalid principal in policy: "FEDERATED":"`+arn+`"`) {
		t.Errorf("IAM's wording expected, got %v", err)
	}
	// An older role's trust may not name it either, yet.
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("old"), AssumeRolePolicyDocument: aws.String(ec2Trust)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(window)
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("lag"), AssumeRolePolicyDocument: &trust}); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	_, err = c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("lag")})
	wantCode(t, "GetRole of a role just created", err, "NoSuchEntity")
	_, err = c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("lag"), PolicyName: aws.String("p"), PolicyDocument: aws.String(inline(200))})
	wantCode(t, "PutRolePolicy on a role just created", err, "NoSuchEntity")
	if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("old"), PolicyDocument: &trust}); err != nil {
		t.Errorf("the provider is visible by now: %v", err)
	}
	time.Sleep(window)
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("lag"), PolicyName: aws.String("p"), PolicyDocument: aws.String(inline(200))}); err != nil {
		t.Errorf("after the window: %v", err)
	}
	var refused []string
	for _, call := range g.Calls() {
		if call.Refused != "" {
			refused = append(refused, call.Operation+"="+call.Refused)
		}
	}
	if got := strings.Join(refused, " "); got != "CreateRole=MalformedPolicyDocument GetRole=NoSuchEntity PutRolePolicy=NoSuchEntity" {
		t.Errorf("refusals in the call log: %s", got)
	}
}
