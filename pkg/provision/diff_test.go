package provision

import (
	"fmt"
	"strings"
	"testing"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

func testPlan(t *testing.T, secrets ...string) *plan.Plan {
	t.Helper()
	var reqs []credreq.Request
	for _, s := range secrets {
		reqs = append(reqs, credreq.Request{File: s + ".yaml",
			CR: &ccov1.CredentialsRequest{ObjectMeta: metav1.ObjectMeta{Name: s},
				Spec: ccov1.CredentialsRequestSpec{SecretRef: corev1.ObjectReference{Namespace: "ns", Name: s}, ServiceAccountNames: []string{"sa"}}},
			AWS: &ccov1.AWSProviderSpec{StatementEntries: []ccov1.StatementEntry{{Effect: "Allow", Action: []string{"ec2:DescribeInstances", "s3:GetObject"}, Resource: "*"}}}})
	}
	p, err := plan.Build(plan.Input{Name: "c", AccountID: "123456789012", Region: "us-east-2", Requests: reqs, JWKS: []byte(`{"keys":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// converged is what AWS holds right after p was applied.
func converged(p *plan.Plan) *Observed {
	tags := map[string]string{}
	for _, t := range p.Bucket.Tags {
		tags[t.Key] = t.Value
	}
	o := &Observed{
		Bucket:   BucketState{Exists: true, Tags: tags, Block: DesiredBlock(false), Policy: string(p.Bucket.Policy), Objects: map[string]string{}},
		Provider: ProviderState{Exists: true, ClientIDs: p.OIDCProvider.ClientIDs, Tags: tags},
		Roles:    map[string]RoleState{},
	}
	for _, obj := range p.Bucket.Objects {
		o.Bucket.Objects[obj.Key] = ContentMD5(obj.Body)
	}
	for _, r := range p.Roles {
		o.Roles[r.Name] = RoleState{Name: r.Name, Path: r.Path, Trust: string(r.TrustPolicy), Inline: map[string]string{r.PolicyName: string(r.Policy)}, Tags: tags}
	}
	return o
}

func describe(changes []plan.Change) string {
	var out []string
	for _, c := range changes {
		out = append(out, fmt.Sprintf("%s %s %s %v", c.Action, c.Resource, c.Name, c.Fields))
	}
	return strings.Join(out, "\n")
}

func TestDiff(t *testing.T) {
	p := testPlan(t, "a", "b")
	role := p.Roles[0].Name
	for name, tc := range map[string]struct {
		drift func(o *Observed)
		prune bool
		want  string
		err   string
	}{
		"converged": {drift: func(*Observed) {}},
		"nothing exists": {drift: func(o *Observed) { *o = Observed{Roles: map[string]RoleState{}} },
			want: "create s3-bucket c-oidc []\ncreate s3-object .well-known/openid-configuration []\ncreate s3-object keys.json []\ncreate iam-oidc-provider arn:aws:iam::123456789012:oidc-provider/c-oidc.s3.us-east-2.amazonaws.com []\ncreate iam-role c-ns-a []\ncreate iam-role c-ns-b []"},
		"trust widened": {drift: func(o *Observed) {
			r := o.Roles[role]
			r.Trust = strings.Replace(r.Trust, "system:serviceaccount:ns:sa", "system:serviceaccount:ns:*", 1)
			o.Roles[role] = r
		}, want: "update iam-role c-ns-a [trust-policy]"},
		"same policy reformatted": {drift: func(o *Observed) {
			r := o.Roles[role]
			r.Inline[p.Roles[0].PolicyName] = `{"Statement": [{"Resource": "*", "Action": ["s3:GetObject", "ec2:DescribeInstances"], "Effect": "Allow"}], "Version": "2012-10-17"}`
			o.Roles[role] = r
		}},
		"action removed, policy added, boundary set": {drift: func(o *Observed) {
			r := o.Roles[role]
			r.Inline = map[string]string{p.Roles[0].PolicyName: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`, "x": "{}"}
			r.Boundary = "arn:aws:iam::123456789012:policy/b"
			o.Roles[role] = r
		}, want: "update iam-role c-ns-a [policy extra-policies permissions-boundary]"},
		"bucket opened and objects stale": {drift: func(o *Observed) {
			o.Bucket.Block = [4]bool{}
			o.Bucket.Policy = ""
			o.Bucket.Objects["keys.json"] = "0"
		}, want: "update s3-bucket c-oidc [public-access-block bucket-policy]\nupdate s3-object keys.json [content]"},
		"foreign role with our name": {drift: func(o *Observed) {
			r := o.Roles[role]
			r.Tags = map[string]string{}
			o.Roles[role] = r
		}, err: "the IAM role c-ns-a exists without the tag"},
		"foreign provider lacking the audience": {drift: func(o *Observed) {
			o.Provider = ProviderState{Exists: true, ClientIDs: []string{"sts.amazonaws.com"}}
		}, err: "lacks the client ID \"openshift\""},
		"foreign provider reused as is": {drift: func(o *Observed) {
			o.Provider = ProviderState{Exists: true, ClientIDs: []string{"openshift"}}
		}},
		"untagged bucket of an interrupted run is adopted": {drift: func(o *Observed) { o.Bucket.Tags = map[string]string{} },
			want: "update s3-bucket c-oidc [tags]"},
		"untagged bucket with other objects": {drift: func(o *Observed) {
			o.Bucket.Tags = map[string]string{}
			o.Bucket.Objects["data.csv"] = "1"
		}, err: "holds other objects"},
		"stale role kept without prune": {drift: func(o *Observed) { o.Roles["c-ns-old"] = RoleState{Name: "c-ns-old", Tags: o.Bucket.Tags} }},
		"stale role deleted with prune": {drift: func(o *Observed) { o.Roles["c-ns-old"] = RoleState{Name: "c-ns-old", Tags: o.Bucket.Tags} }, prune: true,
			want: "delete iam-role c-ns-old []"},
	} {
		t.Run(name, func(t *testing.T) {
			o := converged(p)
			tc.drift(o)
			changes, err := Diff(p, o, tc.prune)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(changes); got != tc.want {
				t.Errorf("changes:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestRequiredActions(t *testing.T) {
	got := RequiredActions([]plan.Change{{Resource: plan.RoleResource, Action: plan.Create}, {Resource: plan.ObjectResource, Action: plan.Update}})
	if strings.Join(got, " ") != "iam:CreateRole iam:PutRolePolicy iam:TagRole s3:PutObject" {
		t.Errorf("actions %v", got)
	}
	// destroy's deletions ask for deletion rights, not creation ones.
	got = RequiredActions([]plan.Change{{Resource: plan.ObjectResource, Action: plan.Delete}, {Resource: plan.ProviderResource, Action: plan.Delete}})
	if strings.Join(got, " ") != "iam:DeleteOpenIDConnectProvider s3:DeleteObject" {
		t.Errorf("deletion actions %v", got)
	}
}
