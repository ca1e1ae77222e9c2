package upgrade

import (
	"testing"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
)

func TestCompareOperators(t *testing.T) {
	live := liveCluster("ec2:DescribeSubnets")
	op := OperatorRequest{Request: live.Requests[0], Subscription: "ns/op", InstalledCSV: "op.v1.2.0"}
	op.Request.Statements = []ccov1.StatementEntry{{Effect: "Allow", Action: []string{"ec2:DescribeSubnets", "ec2:DescribeVpcs"}, Resource: "*"}}
	got := CompareOperators(live, []OperatorRequest{op}, nil)
	if render(got) != "cr operator-missing-actions false [ec2:DescribeVpcs]" || got[0].Apply != "oc sts operator --subscription op -n ns" ||
		got[0].Detail != "the operator of subscription ns/op (CSV op.v1.2.0): its request asks for 1 actions "+roleARN+" does not grant" {
		t.Errorf("%s %+v", render(got), got)
	}
	op.Request.Statements = live.Requests[0].Statements
	if got := CompareOperators(live, []OperatorRequest{op}, nil); len(got) != 0 {
		t.Errorf("a role that grants what its operator asks: %s", render(got))
	}
	op.Request.ServiceAccounts = []string{"renamed"}
	if got := render(CompareOperators(live, []OperatorRequest{op}, nil)); got != "cr operator-trust-broken false []" {
		t.Errorf("%s", got)
	}
	op.Request.Secret = clustercheck.Secret{}
	op.Request.STSRoleARN = "arn:aws:iam::123456789012:role/gone"
	live.Roles[op.Request.STSRoleARN] = nil
	if got := render(CompareOperators(live, []OperatorRequest{op}, nil)); got != "cr operator-role-missing false []" {
		t.Errorf("%s", got)
	}
	pending := CompareOperators(live, nil, []PendingUpdate{{Subscription: "ns/op", InstalledCSV: "op.v1", NextCSV: "op.v2", Requests: []string{"cr"}}})
	if render(pending) != "cr operator-update-pending false []" {
		t.Errorf("%s", render(pending))
	}
}
