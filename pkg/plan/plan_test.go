package plan

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oc-sts/oc-sts/pkg/credreq"
)

func fixtureRequests(t *testing.T, release string) []credreq.Request {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	files, err := credreq.ReadDir(filepath.Join(filepath.Dir(file), "..", "..", "test", "testdata", "credentialsrequests", release))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := credreq.NewInclusion(credreq.ClusterSettings{})
	sel, err := credreq.Select(files, in)
	if err != nil {
		t.Fatal(err)
	}
	return sel.Requests
}

func request(name, ns, secret string, sas []string, entries ...ccov1.StatementEntry) credreq.Request {
	return credreq.Request{File: name + ".yaml",
		CR: &ccov1.CredentialsRequest{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: ccov1.CredentialsRequestSpec{SecretRef: corev1.ObjectReference{Namespace: ns, Name: secret}, ServiceAccountNames: sas}},
		AWS: &ccov1.AWSProviderSpec{StatementEntries: entries}}
}

func input(reqs []credreq.Request) Input {
	return Input{Name: "mycluster", AccountID: "123456789012", Region: "us-east-2", Requests: reqs, JWKS: []byte(`{"keys":[]}`), BucketHost: "mycluster-oidc.s3.us-east-2.amazonaws.com"}
}

type policyDoc struct {
	Statement []struct {
		Effect    string
		Principal any
		Action    any
		Resource  any
		Condition map[string]map[string]any
	}
}

func decode(t *testing.T, raw json.RawMessage) policyDoc {
	t.Helper()
	var d policyDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return d
}

// Every role trusts exactly its request's service accounts through the
// issuer's provider, and grants exactly the request's actions.
func TestRolesMatchRequests(t *testing.T) {
	for _, release := range []string{"4.12", "4.14", "4.16"} {
		reqs := fixtureRequests(t, release)
		p, err := Build(input(reqs))
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Roles) != len(reqs) {
			t.Fatalf("%s: %d roles for %d requests", release, len(p.Roles), len(reqs))
		}
		byCR := map[string]Role{}
		for _, r := range p.Roles {
			byCR[r.CredentialsRequest.Name] = r
			if len(r.Name) > 64 || !strings.HasSuffix(r.ARN, ":role/"+r.Name) {
				t.Errorf("role %s / %s", r.Name, r.ARN)
			}
		}
		for _, req := range reqs {
			r := byCR[req.Name()]
			trust := decode(t, r.TrustPolicy).Statement[0]
			if trust.Principal.(map[string]any)["Federated"] != p.OIDCProvider.ARN || trust.Action != "sts:AssumeRoleWithWebIdentity" {
				t.Errorf("%s: trust %+v", req.Name(), trust)
			}
			eq := trust.Condition["StringEquals"]
			var subs []string
			for _, s := range eq[p.Issuer.HostPath+":sub"].([]any) {
				subs = append(subs, s.(string))
			}
			var want []string
			for _, sa := range req.CR.Spec.ServiceAccountNames {
				want = append(want, "system:serviceaccount:"+req.CR.Spec.SecretRef.Namespace+":"+sa)
			}
			sort.Strings(want)
			if fmt.Sprint(subs) != fmt.Sprint(want) || eq[p.Issuer.HostPath+":aud"] != "openshift" || len(eq) != 2 || len(trust.Condition) != 1 {
				t.Errorf("%s: trust condition %v, want subs %v and aud openshift only", req.Name(), trust.Condition, want)
			}
			stmts := decode(t, r.Policy).Statement
			if len(stmts) != len(req.AWS.StatementEntries) {
				t.Fatalf("%s: %d statements for %d entries", req.Name(), len(stmts), len(req.AWS.StatementEntries))
			}
			for i, e := range req.AWS.StatementEntries {
				got, _ := json.Marshal(stmts[i].Action)
				exp, _ := json.Marshal(e.Action)
				if string(got) != string(exp) || stmts[i].Effect != e.Effect || stmts[i].Resource != e.Resource || len(stmts[i].Condition) != len(e.PolicyCondition) {
					t.Errorf("%s statement %d: got %s %s, want %s", req.Name(), i, stmts[i].Effect, got, exp)
				}
			}
		}
	}
}

func TestIssuerAndPartitions(t *testing.T) {
	for _, tt := range []struct{ region, partition, host string }{
		{"us-east-2", "aws", "mycluster-oidc.s3.us-east-2.amazonaws.com"},
		{"us-gov-west-1", "aws-us-gov", "mycluster-oidc.s3.us-gov-west-1.amazonaws.com"},
		{"cn-north-1", "aws-cn", "mycluster-oidc.s3.cn-north-1.amazonaws.com.cn"},
	} {
		in := input(fixtureRequests(t, "4.16"))
		// The host is resolved at the edge (provision.TestS3Host holds the
		// SDK's resolver to these names).
		in.Region, in.BucketHost = tt.region, tt.host
		p, err := Build(in)
		if err != nil {
			t.Fatal(err)
		}
		if p.Issuer.URL != "https://"+tt.host || p.OIDCProvider.ARN != "arn:"+tt.partition+":iam::123456789012:oidc-provider/"+tt.host {
			t.Errorf("%s: issuer %s provider %s", tt.region, p.Issuer.URL, p.OIDCProvider.ARN)
		}
		if !strings.HasPrefix(p.Roles[0].ARN, "arn:"+tt.partition+":iam::123456789012:role/") {
			t.Errorf("%s: role ARN %s", tt.region, p.Roles[0].ARN)
		}
		if !strings.Contains(string(p.Bucket.Policy), `"arn:`+tt.partition+`:s3:::mycluster-oidc/keys.json"`) {
			t.Errorf("%s: bucket policy %s", tt.region, p.Bucket.Policy)
		}
	}
}

// The bucket policy lets anyone read the two discovery objects and nothing else.
func TestPublicBucketPolicy(t *testing.T) {
	p, err := Build(input(fixtureRequests(t, "4.16")))
	if err != nil {
		t.Fatal(err)
	}
	s := decode(t, p.Bucket.Policy).Statement
	res, _ := json.Marshal(s[0].Resource)
	if len(s) != 1 || s[0].Principal != "*" || s[0].Action != "s3:GetObject" || string(res) != `["arn:aws:s3:::mycluster-oidc/.well-known/openid-configuration","arn:aws:s3:::mycluster-oidc/keys.json"]` {
		t.Errorf("bucket policy %s", p.Bucket.Policy)
	}
}

func TestPrivateIssuer(t *testing.T) {
	in := input(fixtureRequests(t, "4.16"))
	in.IssuerKind, in.CloudFrontDomain, in.DistributionARN = PrivateCloudFront, "d111111abcdef8.cloudfront.net", "arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE"
	p, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Issuer.URL != "https://d111111abcdef8.cloudfront.net" || !p.Bucket.Private || !strings.Contains(string(p.Bucket.Policy), `"AWS:SourceArn":"arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE"`) {
		t.Errorf("private issuer %s, bucket policy %s", p.Issuer.URL, p.Bucket.Policy)
	}
	in.DistributionARN = ""
	if _, err := Build(in); err == nil {
		t.Error("private issuer without a distribution: want an error")
	}
}

func TestLongRoleNamesStayUnique(t *testing.T) {
	ns := "openshift-a-very-long-namespace-name-for-testing"
	a := RoleName("cluster", ns, "credentials-one")
	b := RoleName("cluster", ns, "credentials-two")
	if len(a) != 64 || len(b) != 64 || a == b || a[:55] != b[:55] {
		t.Errorf("%s / %s", a, b)
	}
	if short := RoleName("c", "ns", "s"); short != "c-ns-s" {
		t.Errorf("short name changed: %s", short)
	}
}

func TestInputErrors(t *testing.T) {
	reqs := fixtureRequests(t, "4.16")
	for name, tt := range map[string]struct {
		mutate func(*Input)
		want   string
	}{
		"short account":     {func(in *Input) { in.AccountID = "12345" }, "exactly 12 digits"},
		"name too long":     {func(in *Input) { in.Name = strings.Repeat("a", 59) }, "63-character limit"},
		"upper-case name":   {func(in *Input) { in.Name = "MyCluster" }, "lowercase"},
		"bad region":        {func(in *Input) { in.Region = "mars" }, "not an AWS region"},
		"bad role path":     {func(in *Input) { in.RolePath = "openshift" }, "--role-path"},
		"boundary":          {func(in *Input) { in.PermissionsBoundary = "arn:aws:iam::123:policy/x" }, "--permissions-boundary"},
		"aws: tag":          {func(in *Input) { in.Tags = map[string]string{"aws:x": "y"} }, "--tag key"},
		"no requests":       {func(in *Input) { in.Requests = nil }, "no AWS CredentialsRequest"},
		"same Secret twice": {func(in *Input) { in.Requests = append(in.Requests, in.Requests[0]) }, "both target Secret"},
	} {
		in := input(reqs)
		tt.mutate(&in)
		if _, err := Build(in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", name, err, tt.want)
		}
	}
}

func TestIAMLimits(t *testing.T) {
	var actions []string
	for i := 0; i < 600; i++ {
		actions = append(actions, fmt.Sprintf("ec2:DescribeSomething%04d", i))
	}
	big := request("big", "ns", "s", []string{"sa"}, ccov1.StatementEntry{Effect: "Allow", Action: actions, Resource: "*"})
	if _, err := Build(input([]credreq.Request{big})); err == nil || !strings.Contains(err.Error(), "over IAM's 10240") || !strings.Contains(err.Error(), "big.yaml") {
		t.Errorf("oversized policy: %v", err)
	}
	var sas []string
	for i := 0; i < 40; i++ {
		sas = append(sas, fmt.Sprintf("service-account-%02d", i))
	}
	wide := request("wide", "ns", "s", sas, ccov1.StatementEntry{Effect: "Allow", Action: []string{"s3:GetObject"}, Resource: "*"})
	if _, err := Build(input([]credreq.Request{wide})); err == nil || !strings.Contains(err.Error(), "trust policy") {
		t.Errorf("oversized trust policy: %v", err)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	in := input(fixtureRequests(t, "4.16"))
	in.Tags = map[string]string{"b": "2", "a": "1", "c": "3"}
	first, _ := Build(in)
	a, _ := json.Marshal(first)
	for i := 0; i < 5; i++ {
		p, _ := Build(in)
		b, _ := json.Marshal(p)
		if string(a) != string(b) {
			t.Fatal("two builds differ")
		}
	}
}
