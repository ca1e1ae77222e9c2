package awsworld

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// An organisation's explicit deny, as AWS words it; the simulator does not see it.
func TestGateExplicitDenies(t *testing.T) {
	g, cfg := world(t)
	ctx := context.Background()
	c := iam.NewFromConfig(cfg)
	g.Deny("iam:CreateOpenIDConnectProvider", SCP)
	g.Deny("iam:UpdateAssume*", PermissionsBoundary)
	g.Deny("s3:PutBucketPolicy", SCP)

	_, err := c.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String(issuerURL), ClientIDList: []string{"openshift"}})
	wantCode(t, "CreateOpenIDConnectProvider", err, "AccessDenied")
	want := "User: arn:aws:sts::123456789012:user/moto is not authorized to perform: iam:CreateOpenIDConnectProvider on resource: arn:aws:iam::123456789012:oidc-provider/lag-oidc.s3.us-east-1.amazonaws.com with an explicit deny in a service control policy"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v\nwant %s", err, want)
	}
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), Path: aws.String("/x/"), AssumeRolePolicyDocument: aws.String(ec2Trust)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("r"), PolicyDocument: aws.String(ec2Trust)})
	if want := "on resource: arn:aws:iam::123456789012:role/x/r with an explicit deny in a permissions boundary"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("UpdateAssumeRolePolicy: %v", err)
	}
	sc := s3Client(cfg)
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("denied")}); err != nil {
		t.Fatal(err)
	}
	_, err = sc.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("denied"), Policy: aws.String(publicReadPolicy("aws", "denied", "k"))})
	if want := `on resource: "arn:aws:s3:::denied" with an explicit deny in a service control policy`; errorCode(err) != "AccessDenied" || !strings.Contains(err.Error(), want) {
		t.Errorf("PutBucketPolicy: %v", err)
	}
	if res, err := c.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String("arn:aws:iam::123456789012:user/moto"), ActionNames: []string{"iam:CreateOpenIDConnectProvider"}}); err != nil || res.EvaluationResults[0].EvalDecision != "allowed" {
		t.Errorf("the simulator must not see an organisation's deny: %v %+v", err, res)
	}
	g.Lift("iam:CreateOpenIDConnectProvider")
	if _, err := c.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String(issuerURL), ClientIDList: []string{"openshift"}}); err != nil {
		t.Errorf("after Lift: %v", err)
	}
	n := 0
	for _, call := range g.Calls() {
		if call.Refused == "AccessDenied" {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d refusals logged, want 3: %+v", n, g.Calls())
	}
}
