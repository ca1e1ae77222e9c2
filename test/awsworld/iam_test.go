package awsworld

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

var (
	longName    = strings.Repeat("r", 65)
	bigTrust    = fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"%s"}}}]}`, strings.Repeat("1", 2100))
	noPrincipal = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}`
)

// inline returns a valid inline policy of about size characters.
func inline(size int) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s"}]}`, strings.Repeat("b", size-100))
}

// iamLimitCases are the limits AWS enforces; the gate must close moto's gaps.
func iamLimitCases(ctx context.Context, c *iam.Client) map[string]struct {
	call func() error
	code string
} {
	create := func(name, trust string) func() error {
		return func() error {
			_, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: &name, AssumeRolePolicyDocument: &trust})
			return err
		}
	}
	put := func(name string, size int) func() error {
		return func() error {
			_, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("base"), PolicyName: &name, PolicyDocument: aws.String(inline(size))})
			return err
		}
	}
	return map[string]struct {
		call func() error
		code string
	}{
		"role name over 64":         {create(longName, ec2Trust), "ValidationError"},
		"role name with a space":    {create("bad name", ec2Trust), "ValidationError"},
		"trust policy over 2048":    {create("big-trust", bigTrust), "LimitExceeded"},
		"trust without a principal": {create("no-principal", noPrincipal), "MalformedPolicyDocument"},
		"inline policies over 10240 together": {func() error {
			if err := put("first", 6000)(); err != nil {
				return err
			}
			return put("second", 6000)()
		}, "LimitExceeded"},
	}
}

// TestMotoIAMGaps shows what moto accepts that AWS refuses: the reason the
// gate enforces these limits. If moto starts enforcing one, drop it from the gate.
func TestMotoIAMGaps(t *testing.T) {
	if err := moto.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := newBackend(moto.URL).iam
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("base"), AssumeRolePolicyDocument: aws.String(ec2Trust)}); err != nil {
		t.Fatal(err)
	}
	for name, tc := range iamLimitCases(ctx, c) {
		if err := tc.call(); err != nil {
			t.Errorf("%s: moto now refuses it (%v); the gate's rule is redundant", name, err)
		}
	}
	_, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("base"), PolicyName: aws.String("bad"), PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"s3:GetObject","Resource":"*"}]}`)})
	wantCode(t, "malformed inline policy (moto's own check, not the gate's)", err, "MalformedPolicyDocument")
}

func TestGateEnforcesIAMLimits(t *testing.T) {
	_, cfg := world(t)
	ctx := context.Background()
	c := iam.NewFromConfig(cfg)
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("base"), AssumeRolePolicyDocument: aws.String(ec2Trust)}); err != nil {
		t.Fatal(err)
	}
	for name, tc := range iamLimitCases(ctx, c) {
		wantCode(t, name, tc.call(), tc.code)
	}
	// At the limits, AWS accepts: 64 characters, one 6000-character policy replaced by another.
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(longName[:64]), AssumeRolePolicyDocument: aws.String(ec2Trust)}); err != nil {
		t.Errorf("64-character role name: %v", err)
	}
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("base"), PolicyName: aws.String("first"), PolicyDocument: aws.String(inline(9000))}); err != nil {
		t.Errorf("replacing an inline policy within the quota: %v", err)
	}
	if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("base"), PolicyDocument: aws.String(bigTrust)}); errorCode(err) != "LimitExceeded" {
		t.Errorf("UpdateAssumeRolePolicy over 2048: %v", err)
	}
}
