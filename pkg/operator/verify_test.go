package operator

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
)

func TestEvaluateWired(t *testing.T) {
	const provider = "arn:aws:iam::123456789012:oidc-provider/c-oidc.s3.us-east-2.amazonaws.com"
	const arn = "arn:aws:iam::123456789012:role/c-ns-op"
	sub := &Subscription{Namespace: "ns", Name: "op", Env: []corev1.EnvVar{{Name: "HTTP_PROXY", Value: "x"}, {Name: "ROLEARN", Value: arn}}}
	wired := Wired([]*Subscription{sub})
	if len(wired) != 1 || wired[0].Env != "ROLEARN" {
		t.Fatalf("%+v", wired)
	}
	roles := map[string]*clustercheck.Role{arn: {}}
	verdict := func(reqs []clustercheck.Request, roles map[string]*clustercheck.Role) clustercheck.Result {
		return EvaluateWired(wired, reqs, roles, provider)[0]
	}
	if r := verdict([]clustercheck.Request{{Namespace: "cco", Name: "op", STSRoleARN: arn}}, roles); r.Status != clustercheck.Pass || r.Object != "subscription ns/op" {
		t.Errorf("%+v", r)
	}
	if r := verdict(nil, roles); r.Status != clustercheck.Warn || !strings.Contains(r.Reason, "has not picked it up") {
		t.Errorf("not picked up: %+v", r)
	}
	if r := verdict(nil, map[string]*clustercheck.Role{arn: nil}); r.Status != clustercheck.Fail || !strings.Contains(r.Fix, "oc sts operator --subscription op -n ns") {
		t.Errorf("missing role: %+v", r)
	}
	wired[0].ARN = "arn:aws:iam::210987654321:role/x"
	if r := verdict(nil, roles); r.Status != clustercheck.Fail || !strings.Contains(r.Reason, "account 210987654321") {
		t.Errorf("another account: %+v", r)
	}
}

func TestWithAddedServiceAccounts(t *testing.T) {
	const arn = "arn:aws:iam::123456789012:role/r"
	reqs := []clustercheck.Request{{Name: "efs", ServiceAccounts: nil, Secret: clustercheck.Secret{RoleARN: arn}}, {Name: "other"}}
	got := WithAddedServiceAccounts(reqs, map[string]*clustercheck.Role{arn: {Tags: map[string]string{ServiceAccountsTag: "op,controller-sa"}}})
	if !slices.Equal(got[0].ServiceAccounts, []string{"op", "controller-sa"}) || got[1].ServiceAccounts != nil || reqs[0].ServiceAccounts != nil {
		t.Errorf("%+v", got)
	}
}
