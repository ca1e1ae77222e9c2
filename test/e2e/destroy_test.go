package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/test/awsworld"
)

const ec2Trust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// foreign creates what destroy must never touch: an untagged role with our
// prefix, a role of another name, a bucket and a provider not ours.
func (w *world) foreign(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	for name, tags := range map[string][]iamtypes.Tag{
		"demo-handmade": nil,
		"other-role":    {{Key: aws.String(awsid.OwnershipTagKey("other")), Value: aws.String(awsid.OwnedValue)}},
	} {
		if _, err := w.iam().CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(ec2Trust), Tags: tags}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.s3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("someone-elses")}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.iam().CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String("https://idp.example.com"), ClientIDList: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	return w.state(t)
}

func TestDestroyRemovesOnlyWhatIsOwned(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	foreign := w.foreign(t)
	dir := exampleDir(t, nil)
	if res := w.prepare(t, dir, testdata("credentialsrequests", "4.16")); res.code != 0 {
		t.Fatal(res.stderr)
	}
	p := readPlan(t, dir)

	w.gate.ResetLog()
	dry := w.ocSTS(t, "destroy", "--dir", dir, "--dry-run")
	if dry.code != 0 || !strings.Contains(dry.stderr, "- iam-role "+p.Roles[0].Name) || !strings.Contains(dry.stderr, "- s3-bucket demo-oidc") || len(w.mutating()) != 0 {
		t.Fatalf("dry run: exit %d, mutating %v\n%s", dry.code, w.mutating(), dry.stderr)
	}
	if strings.Contains(dry.stderr, "handmade") || strings.Contains(dry.stderr, "other-role") || strings.Contains(dry.stderr, "idp.example.com") {
		t.Errorf("destroy would touch foreign resources:\n%s", dry.stderr)
	}

	// A failing deletion: non-zero exit and the list of what is left.
	w.gate.FailOperation("DeleteRole", awsworld.AccessDenied)
	res := w.ocSTS(t, "destroy", "--dir", dir, "--yes")
	if res.code == 0 || !strings.Contains(res.stderr, "Left in AWS:") || !strings.Contains(res.stderr, "- iam-role "+p.Roles[0].Name) {
		t.Errorf("failed destroy: exit %d\n%s", res.code, res.stderr)
	}
	w.gate.ResetLog()
	res = w.ocSTS(t, "destroy", "--name", "demo", "--region", "us-east-2", "--yes")
	if res.code != 0 {
		t.Fatalf("destroy: exit %d\n%s", res.code, res.stderr)
	}
	if got := w.state(t); got != foreign {
		t.Errorf("after destroy the account has:\n%s\nwant only the foreign resources:\n%s", got, foreign)
	}
	for _, c := range w.gate.Calls() {
		if c.Operation == "ListRoles" || c.Operation == "ListRoleTags" {
			t.Errorf("destroy listed roles one by one (%s) where one call reads them all", c.Operation)
		}
	}
	if again := w.ocSTS(t, "destroy", "--name", "demo", "--region", "us-east-2", "--yes"); again.code != 0 || !strings.Contains(again.stderr, "nothing to change") {
		t.Errorf("second destroy: exit %d\n%s", again.code, again.stderr)
	}
}

// Where GetAccountAuthorizationDetails is denied, roles are found under
// the role path by name prefix and tag, and read one by one.
func TestObserveWithoutAccountAuthorizationDetails(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	foreign := w.foreign(t)
	w.gate.FailOperation("GetAccountAuthorizationDetails", awsworld.AccessDenied)
	dir := exampleDir(t, nil)
	crDir := testdata("credentialsrequests", "4.16")
	if res := w.prepare(t, dir, crDir, "--role-path", "/openshift/"); res.code != 0 {
		t.Fatal(res.stderr)
	}
	w.gate.ResetLog()
	w.gate.FailOperation("GetAccountAuthorizationDetails", awsworld.AccessDenied)
	if res := w.prepare(t, dir, crDir, "--role-path", "/openshift/"); res.code != 0 || len(w.mutating()) != 0 {
		t.Fatalf("converged re-run: exit %d, mutating %v\n%s", res.code, w.mutating(), res.stderr)
	}
	if res := w.ocSTS(t, "destroy", "--dir", dir, "--yes"); res.code != 0 {
		t.Fatal(res.stderr)
	}
	if got := w.state(t); got != foreign {
		t.Errorf("after destroy:\n%s\nwant:\n%s", got, foreign)
	}
}
