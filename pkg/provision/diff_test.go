package provision

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/smithy-go"
	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oc-sts/oc-sts/pkg/awsid"
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
	p, err := plan.Build(plan.Input{Name: "c", AccountID: "123456789012", Region: "us-east-2", Requests: reqs, JWKS: []byte(`{"keys":[]}`), BucketHost: "c-oidc.s3.us-east-2.amazonaws.com"})
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
		Bucket:   BucketState{Exists: true, Tags: tags, Block: plan.IssuerBlock(false), Policy: string(p.Bucket.Policy), Objects: map[string]string{}},
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

func describe(changes []Change) string {
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
			o.Bucket.Block = plan.PublicAccessBlock{}
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
		"untagged bucket just created is adopted": {drift: func(o *Observed) {
			o.Bucket = BucketState{Exists: true, Tags: map[string]string{}, Block: plan.IssuerBlock(true), Objects: map[string]string{}}
		}, want: "update s3-bucket c-oidc [tags public-access-block bucket-policy]\ncreate s3-object .well-known/openid-configuration []\ncreate s3-object keys.json []"},
		"untagged bucket with a keys.json not ours": {drift: func(o *Observed) {
			o.Bucket.Tags = map[string]string{}
			o.Bucket.Objects["keys.json"] = "0"
		}, err: "holds a keys.json this run would not write"},
		"untagged bucket with another policy": {drift: func(o *Observed) {
			o.Bucket.Tags = map[string]string{}
			o.Bucket.Policy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::c-oidc/*"}]}`
		}, err: "has another bucket policy"},
		"bucket tagged by someone else": {drift: func(o *Observed) { o.Bucket.Tags = map[string]string{"team": "data"} }, err: "has other tags"},
		"bucket name taken by another account": {drift: func(o *Observed) { o.Bucket = BucketState{Exists: true, Foreign: true} },
			err: "the S3 bucket name c-oidc is taken by another AWS account (bucket names are global across all accounts): choose another --name"},
		"bucket in another region": {drift: func(o *Observed) { o.Bucket = BucketState{Exists: true, InOtherRegion: true, Region: "eu-west-1"} },
			err: "the S3 bucket c-oidc exists in eu-west-1, but the issuer must be in us-east-2, the cluster's region: if it is an earlier oc sts issuer, delete it (oc sts destroy --name c --region eu-west-1)"},
		"account blocks public policies, bucket to make": {drift: func(o *Observed) {
			*o = Observed{Roles: map[string]RoleState{}, AccountBlock: &plan.PublicAccessBlock{BlockPublicPolicy: true}}
		}, err: "the account-level S3 Block Public Access of account 123456789012 (BlockPublicPolicy refuses the bucket policy that lets anyone read the discovery documents) blocks a public issuer; use --private-bucket"},
		"account blocks public policies, policy already set": {drift: func(o *Observed) {
			o.AccountBlock = &plan.PublicAccessBlock{BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true}
		}},
		"account restricts public buckets": {drift: func(o *Observed) { o.AccountBlock = &plan.PublicAccessBlock{RestrictPublicBuckets: true} },
			err: "RestrictPublicBuckets keeps anonymous readers, AWS STS among them, from the discovery documents) blocks a public issuer"},
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

// The permission check asks about the actions of exactly the calls the
// changes make: a role update that re-creates it for a path, removes added
// policies or changes the boundary needs those calls' actions too.
func TestPermissionsFollowTheCalls(t *testing.T) {
	p := testPlan(t, "a")
	role := p.Roles[0].Name
	for name, tc := range map[string]struct {
		drift func(o *Observed)
		want  string
	}{
		"nothing exists": {func(o *Observed) { *o = Observed{Roles: map[string]RoleState{}} },
			"iam:CreateOpenIDConnectProvider iam:CreateRole iam:PutRolePolicy iam:TagOpenIDConnectProvider iam:TagRole s3:CreateBucket s3:PutBucketPolicy s3:PutBucketPublicAccessBlock s3:PutBucketTagging s3:PutObject"},
		"a document changed": {func(o *Observed) { o.Bucket.Objects["keys.json"] = "0" }, "s3:PutObject"},
		"role moved to another path": {func(o *Observed) {
			r := o.Roles[role]
			r.Path, r.Attached = "/old/", []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}
			o.Roles[role] = r
		}, "iam:CreateRole iam:DeleteRole iam:DeleteRolePolicy iam:DetachRolePolicy iam:PutRolePolicy iam:TagRole"},
		"added policies and a boundary": {func(o *Observed) {
			r := o.Roles[role]
			r.Inline["x"], r.Attached, r.Boundary = "{}", []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}, "arn:aws:iam::123456789012:policy/b"
			o.Roles[role] = r
		}, "iam:DeleteRolePermissionsBoundary iam:DeleteRolePolicy iam:DetachRolePolicy"},
	} {
		t.Run(name, func(t *testing.T) {
			o := converged(p)
			tc.drift(o)
			changes, err := Diff(p, o, false)
			if err != nil {
				t.Fatal(err)
			}
			x := &converger{}
			got := x.applier(p, changes, &madeChanges{}, func(string, ...any) {}).g.actions()
			if strings.Join(got, " ") != tc.want {
				t.Errorf("actions %v\nwant %s", got, tc.want)
			}
		})
	}
	// destroy's deletions ask for deletion rights, not creation ones.
	changes := Owned{Name: "c", Bucket: "c-oidc", Objects: []string{"keys.json"}, Providers: []string{p.OIDCProvider.ARN}}.changes(0)
	got := (&converger{}).applier(nil, changes, &madeChanges{}, func(string, ...any) {}).g.actions()
	if strings.Join(got, " ") != "iam:DeleteOpenIDConnectProvider s3:DeleteBucket s3:DeleteObject" {
		t.Errorf("deletion actions %v", got)
	}
}

func TestDroppedKeys(t *testing.T) {
	p := testPlan(t, "a") // publishes {"keys":[]}
	const keyA = `{"kid":"A","kty":"RSA","n":"x","e":"AQAB"}`
	for name, tc := range map[string]struct {
		published, planned string
		want               string
	}{
		"nothing read (keys.json is the plan's)": {"", `{"keys":[]}`, ""},
		"a key dropped":                          {`{"keys":[` + keyA + `]}`, `{"keys":[]}`, "A"},
		"the same key":                           {`{"keys":[` + keyA + `]}`, `{"keys":[` + keyA + `]}`, ""},
		"a key added":                            {`{"keys":[]}`, `{"keys":[` + keyA + `]}`, ""},
		"same kid, other modulus":                {`{"keys":[` + keyA + `]}`, `{"keys":[{"kid":"A","kty":"RSA","n":"y","e":"AQAB"}]}`, "A"},
		"not a JWKS":                             {`<html>`, `{"keys":[]}`, "(unreadable: invalid character '<' looking for beginning of value)"},
	} {
		t.Run(name, func(t *testing.T) {
			q := *p
			q.Bucket.Objects = []plan.Object{{Key: "keys.json", Body: []byte(tc.planned)}}
			o := converged(&q)
			if tc.published != "" {
				o.Bucket.PublishedJWKS = []byte(tc.published)
			}
			got, err := DroppedKeys(&q, o)
			if err != nil || strings.Join(got, ",") != tc.want {
				t.Errorf("dropped %v %v, want %q", got, err, tc.want)
			}
		})
	}
}

func TestExplicitDenyIsSaidPlainly(t *testing.T) {
	aws := &smithy.GenericAPIError{Code: "AccessDenied", Message: `User: arn:aws:sts::123456789012:assumed-role/admin/me is not authorized to perform: iam:UpdateAssumeRolePolicy on resource: role c-ns-a with an explicit deny in a service control policy: arn:aws:organizations::111111111111:policy/o-x/service_control_policy/p-y`}
	err := stepError("setting the trust-policy of IAM role c-ns-a", aws)
	want := `setting the trust-policy of IAM role c-ns-a: iam:UpdateAssumeRolePolicy on role c-ns-a is denied by an organisation policy or permissions boundary (AWS: "with an explicit deny in a service control policy")`
	if !strings.HasPrefix(err.Error(), want) || errorCode(err) != "AccessDenied" {
		t.Errorf("got %v", err)
	}
	s3 := &smithy.GenericAPIError{Code: "AccessDenied", Message: `User: arn:aws:iam::123456789012:user/u is not authorized to perform: s3:PutBucketPolicy on resource: "arn:aws:s3:::c-oidc" with an explicit deny in a permissions boundary`}
	if got := stepError("x", s3).Error(); !strings.HasPrefix(got, "x: s3:PutBucketPolicy on arn:aws:s3:::c-oidc is denied by an organisation policy or permissions boundary") {
		t.Errorf("S3's quoted resource: %s", got)
	}
	implicit := &smithy.GenericAPIError{Code: "AccessDenied", Message: "User: u is not authorized to perform: iam:CreateRole on resource: r because no identity-based policy allows the iam:CreateRole action"}
	if got := stepError("x", implicit).Error(); !strings.HasPrefix(got, "x: access denied: ") {
		t.Errorf("an implicit deny is a missing permission: %s", got)
	}
}

// A day-2 operator's role (oc sts operator) carries the cluster's
// ownership tag but is not the plan's: --prune leaves it, and neither
// kind of role takes the other's place under the same name.
func TestOperatorRolesAreNotThePlans(t *testing.T) {
	p := testPlan(t, "a")
	o := converged(p)
	opTags := map[string]string{awsid.OwnershipTagKey("c"): awsid.OwnedValue, plan.OperatorRequestTag: "openshift-cloud-credential-operator/x"}
	o.Roles["c-op-x"] = RoleState{Name: "c-op-x", Path: "/", Tags: opTags}
	o.Roles["c-ns-gone"] = RoleState{Name: "c-ns-gone", Path: "/", Tags: map[string]string{awsid.OwnershipTagKey("c"): awsid.OwnedValue}}
	changes, err := Diff(p, o, true)
	if err != nil || describe(changes) != "delete iam-role c-ns-gone []" {
		t.Fatalf("prune: %v\n%s", err, describe(changes))
	}

	// The operator's role wanted where prepare's is.
	want := p.Roles[0]
	want.Tags = append(append([]plan.Tag(nil), want.Tags...), plan.Tag{Key: plan.OperatorRequestTag, Value: "ns/op"})
	if _, errs := diffRoles(&plan.Plan{Name: "c", Roles: []plan.Role{want}}, o, false, nil); len(errs) != 1 || !strings.Contains(errs[0].Error(), "prepare's, for a CredentialsRequest of the release") {
		t.Errorf("an operator's role over prepare's: %v", errs)
	}
	// Prepare's role wanted where an operator's is.
	mine := p.Roles[0]
	mine.Name = "c-op-x"
	if _, errs := diffRoles(&plan.Plan{Name: "c", Roles: []plan.Role{mine}}, o, false, nil); len(errs) != 1 || !strings.Contains(errs[0].Error(), "day-2 operator's CredentialsRequest openshift-cloud-credential-operator/x") {
		t.Errorf("prepare's role over an operator's: %v", errs)
	}
	// Removing by name deletes only what is owned and there.
	o.Roles["c-other"] = RoleState{Name: "c-other", Path: "/", Tags: map[string]string{"team": "x"}}
	changes, errs := diffRoles(&plan.Plan{Name: "c"}, o, false, []string{"c-op-x", "c-other", "c-gone"})
	if len(errs) != 0 || describe(changes) != "delete iam-role c-op-x []" {
		t.Errorf("remove: %v\n%s", errs, describe(changes))
	}
}
