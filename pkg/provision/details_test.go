package provision

import (
	"slices"
	"strings"
	"testing"

	"github.com/oc-sts/oc-sts/pkg/plan"
)

// What an update line says about each field: the policy lines added and
// removed, a trust condition's value old → new, tags, boundary and path
// old → new, the extra policies to remove. The expected lines are written
// out by hand from the plan's documents (see testPlan).
func TestChangeDetails(t *testing.T) {
	p := testPlan(t, "a")
	p.Roles[0].Tags = append(p.Roles[0].Tags, plan.Tag{Key: "team", Value: "b"})
	r := p.Roles[0]
	const host = "c-oidc.s3.us-east-2.amazonaws.com"
	for name, tc := range map[string]struct {
		drift func(*RoleState)
		want  []string
	}{
		"an action missing": {drift: func(h *RoleState) {
			h.Inline[r.PolicyName] = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*"}]}`
		}, want: []string{"policy: + Statement[0].Action: s3:GetObject"}},
		"an action too many, reordered": {drift: func(h *RoleState) {
			h.Inline[r.PolicyName] = `{"Statement":[{"Resource":"*","Action":["s3:PutObject","s3:GetObject","ec2:DescribeInstances"],"Effect":"Allow"}],"Version":"2012-10-17"}`
		}, want: []string{"policy: - Statement[0].Action: s3:PutObject"}},
		"trust of another service account": {drift: func(h *RoleState) {
			h.Trust = strings.Replace(h.Trust, "system:serviceaccount:ns:sa", "system:serviceaccount:ns:other", 1)
		}, want: []string{"trust-policy: Statement[0].Condition.StringEquals." + host + ":sub: system:serviceaccount:ns:other → system:serviceaccount:ns:sa"}},
		"boundary, extra policies and a tag": {drift: func(h *RoleState) {
			h.Boundary = "arn:aws:iam::123456789012:policy/old"
			h.Attached = []string{"arn:aws:iam::aws:policy/AdministratorAccess"}
			h.Inline["x"] = "{}"
			h.Tags["team"] = "a"
			h.Tags["other"] = "kept"
		}, want: []string{
			"extra-policies: - arn:aws:iam::aws:policy/AdministratorAccess",
			"extra-policies: - x",
			"permissions-boundary: arn:aws:iam::123456789012:policy/old → (none)",
			"tags: team: a → b",
		}},
		"path": {drift: func(h *RoleState) { h.Path = "/old/" }, want: []string{"path: /old/ → /"}},
	} {
		t.Run(name, func(t *testing.T) {
			o := converged(p)
			h := o.Roles[r.Name]
			h.Tags = map[string]string{"openshift.io/cloud-credential-operator/c": "owned", "team": "b"}
			tc.drift(&h)
			o.Roles[r.Name] = h
			changes, err := Diff(p, o, false)
			if err != nil || len(changes) != 1 {
				t.Fatalf("%v %s", err, describe(changes))
			}
			var got []string
			for _, d := range changes[0].Details {
				got = append(got, d.Lines()...)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// A bucket's public access block and tags, and a provider's client IDs,
// are old → new.
func TestBucketAndProviderDetails(t *testing.T) {
	p := testPlan(t, "a")
	o := converged(p)
	o.Bucket.Block.RestrictPublicBuckets = true
	o.Provider.ClientIDs = []string{"sts.amazonaws.com"}
	changes, err := Diff(p, o, false)
	if err != nil || len(changes) != 2 {
		t.Fatalf("%v %s", err, describe(changes))
	}
	want := [][]string{
		{"public-access-block: BlockPublicAcls=true IgnorePublicAcls=true BlockPublicPolicy=false RestrictPublicBuckets=true → BlockPublicAcls=true IgnorePublicAcls=true BlockPublicPolicy=false RestrictPublicBuckets=false"},
		{"client-ids: sts.amazonaws.com → openshift,sts.amazonaws.com"},
	}
	for i, ch := range changes {
		if got := ch.Details[0].Lines(); !slices.Equal(got, want[i]) {
			t.Errorf("%s: %q, want %q", ch.Resource, got, want[i])
		}
	}
}
