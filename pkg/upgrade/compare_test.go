package upgrade

import (
	"fmt"
	"strings"
	"testing"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

const (
	host     = "c-oidc.s3.us-east-2.amazonaws.com"
	provider = "arn:aws:iam::123456789012:oidc-provider/" + host
	roleARN  = "arn:aws:iam::123456789012:role/c-ns-creds"
)

func target(name, ns, secret string, sas []string, actions ...string) credreq.Request {
	return credreq.Request{CR: &ccov1.CredentialsRequest{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: ccov1.CredentialsRequestSpec{SecretRef: corev1.ObjectReference{Namespace: ns, Name: secret}, ServiceAccountNames: sas}},
		AWS: &ccov1.AWSProviderSpec{StatementEntries: []ccov1.StatementEntry{{Effect: "Allow", Action: actions, Resource: "*"}}}}
}

func liveCluster(actions ...string) Live {
	r := target("cr", "ns", "creds", []string{"sa"}, actions...)
	p, _ := plan.Build(plan.Input{Name: "c", AccountID: "123456789012", Region: "us-east-2", Requests: []credreq.Request{r}, JWKS: []byte(`{"keys":[]}`), BucketHost: "c-oidc.s3.us-east-2.amazonaws.com"})
	return Live{
		Requests: []clustercheck.Request{{Name: "cr", SecretNamespace: "ns", SecretName: "creds", ServiceAccounts: []string{"sa"},
			Statements: r.AWS.StatementEntries, Secret: clustercheck.Secret{Found: true, RoleARN: roleARN}}},
		Roles:       map[string]*clustercheck.Role{roleARN: {Trust: string(p.Roles[0].TrustPolicy), Policies: []string{string(p.Roles[0].Policy)}}},
		ProviderARN: provider, IssuerHost: host, Namespaces: map[string]bool{"ns": true},
	}
}

func render(fs []Finding) string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %v %v", f.CredentialsRequest, f.Kind, f.Blocking, f.Actions))
	}
	return strings.Join(out, "\n")
}

func TestCompare(t *testing.T) {
	for name, tc := range map[string]struct {
		live   Live
		target []credreq.Request
		want   string
	}{
		"same":             {liveCluster("ec2:DescribeInstances"), []credreq.Request{target("cr", "ns", "creds", []string{"sa"}, "ec2:DescribeInstances")}, ""},
		"wildcard covers":  {liveCluster("ec2:Describe*"), []credreq.Request{target("cr", "ns", "creds", []string{"sa"}, "ec2:DescribeRegions")}, "cr unneeded-actions false [ec2:Describe*]"},
		"new action":       {liveCluster("ec2:DescribeInstances"), []credreq.Request{target("cr", "ns", "creds", []string{"sa"}, "ec2:DescribeInstances", "kms:Decrypt")}, "cr missing-actions true [kms:Decrypt]"},
		"renamed SA":       {liveCluster("ec2:DescribeInstances"), []credreq.Request{target("cr", "ns", "creds", []string{"sa-v2"}, "ec2:DescribeInstances")}, "cr trust-broken true []"},
		"moved secret":     {liveCluster("ec2:DescribeInstances"), []credreq.Request{target("cr", "ns", "creds-v2", []string{"sa"}, "ec2:DescribeInstances")}, "cr secret-moved true []"},
		"removed and new":  {liveCluster("ec2:DescribeInstances"), []credreq.Request{target("other", "new-ns", "s", []string{"sa"}, "s3:GetObject")}, "cr removed-request false []\nother new-request true [s3:GetObject]"},
		"policy too large": {liveCluster("ec2:DescribeInstances"), []credreq.Request{target("cr", "ns", "creds", []string{"sa"}, append([]string{"ec2:DescribeInstances"}, strings.Split(strings.Repeat("ec2:ALongActionNameToFillThePolicy,", 400), ",")[:399]...)...)}, "policy-too-large true"},
	} {
		t.Run(name, func(t *testing.T) {
			got := render(Compare(tc.live, tc.target))
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("findings:\n%s\nwant %q", got, tc.want)
			}
		})
	}
}
