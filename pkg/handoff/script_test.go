package handoff

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"

	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// freshApply are the calls apply.sh makes in an account that has nothing
// yet: who the caller is, then every read, then every write.
var freshApply = []string{
	"sts get-caller-identity", "s3control get-public-access-block", "s3api get-bucket-tagging",
	"iam get-open-id-connect-provider", "iam get-role",
	"s3api create-bucket", "s3api put-bucket-tagging", "s3api put-public-access-block", "s3api put-bucket-policy",
	"s3api put-object", "s3api put-object", "iam create-open-id-connect-provider", "iam create-role", "iam put-role-policy",
}

// Whatever text reaches the plan (names, region, paths, policy resources
// and conditions, tags, the CredentialsRequest's names), the scripts make
// exactly the plan's aws calls, each value as one argument, and nothing
// else: no command of a hostile value runs, in an argument, a query or a
// comment.
func TestScriptRunsNothingButAWS(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the scripts under bash, seconds each")
	}
	mark := filepath.Join(t.TempDir(), "pwned")
	hostile := []string{
		"a\ntouch " + mark + "\n#",
		"'; touch " + mark + "; '",
		"$(touch " + mark + ")",
		"`touch " + mark + "`",
		"${IFS}\"\\ \t--debug",
		"*",
	}
	for i, h := range hostile {
		entry := ccov1.StatementEntry{Effect: "Allow", Action: []string{"s3:GetObject"}, Resource: "arn:aws:s3:::" + h,
			PolicyCondition: ccov1.IAMPolicyCondition{"StringEquals": {"aws:SourceVpc": h}}}
		p := fixturePlan(t, func(in *plan.Input) { in.Requests = []credreq.Request{request("cr", "ns", "s", []string{"sa"}, entry)} })
		// Past every validation, as if a bug let a value through.
		p.Name, p.Region, p.Issuer.URL, p.Bucket.Name = h, h, "https://"+h, h
		p.OIDCProvider.URL, p.OIDCProvider.ClientIDs = h, []string{h}
		r := &p.Roles[0]
		for _, tags := range []*[]plan.Tag{&p.Bucket.Tags, &p.OIDCProvider.Tags, &r.Tags} {
			*tags = append(slices.Clone(*tags), plan.Tag{Key: h, Value: h})
		}
		r.Name, r.Path, r.PolicyName, r.PermissionsBoundary = "role"+string(rune('a'+i)), h, h, h
		r.CredentialsRequest.Name, r.CredentialsRequest.SecretNamespace = h, h
		files, err := Files(p)
		if err != nil {
			t.Fatal(err)
		}
		apply := runStub(t, files, ApplyScript, stubWorld)
		if _, err := os.Stat(mark); err == nil {
			t.Fatalf("%q: apply.sh ran a command of the value:\n%s", h, files[ApplyScript])
		}
		if apply.code != 0 || !slices.Equal(apply.ops(), freshApply) {
			t.Fatalf("%q: exit %d, calls %v, want %v\n%s", h, apply.code, apply.ops(), freshApply, apply.err)
		}
		for _, c := range apply.calls {
			if region, _ := flag(c, "--region"); region != h {
				t.Errorf("%q: %s %s --region %q", h, c[0], c[1], region)
			}
			for _, f := range []string{"--bucket", "--url", "--path", "--policy-name", "--permissions-boundary", "--client-id-list"} {
				if v, ok := flag(c, f); ok && v != h {
					t.Errorf("%q: %s %s %s %q", h, c[0], c[1], f, v)
				}
			}
			if v, ok := flag(c, "--tags"); ok {
				var tags []map[string]string
				if err := json.Unmarshal([]byte(v), &tags); err != nil || !reflect.DeepEqual(tags, awsTags(p.Bucket.Tags)) {
					t.Errorf("%q: %s %s --tags %s", h, c[0], c[1], v)
				}
			}
			if v, ok := flag(c, "--description"); ok && !strings.Contains(v, h) {
				t.Errorf("%q: --description %q", h, v)
			}
		}
		if !strings.Contains(string(files["roles/"+r.Name+"-policy.json"]), `"arn:aws:s3:::`) {
			t.Errorf("the policy file lost its resource: %s", files["roles/"+r.Name+"-policy.json"])
		}

		del := runStub(t, files, DeleteScript, with(stubWorld,
			"iam_get_account_authorization_details", "ok:"+r.Name, "iam_list_open_id_connect_providers", "ok:None",
			"s3api_get_bucket_tagging", "ok:True", "iam_list_role_policies", "ok:p1",
			"iam_list_attached_role_policies", "ok:None", "s3api_list_objects_v2", `ok:{"Objects": null}`), "--yes")
		if _, err := os.Stat(mark); err == nil {
			t.Fatalf("%q: delete.sh ran a command of the value:\n%s", h, files[DeleteScript])
		}
		want := []string{"sts get-caller-identity", "iam get-account-authorization-details", "iam list-open-id-connect-providers",
			"s3api get-bucket-tagging", "iam list-role-policies", "iam delete-role-policy", "iam list-attached-role-policies", "iam delete-role",
			"s3api list-objects-v2", "s3api delete-bucket"}
		if del.code != 0 || !slices.Equal(del.ops(), want) {
			t.Fatalf("%q: delete.sh exit %d, calls %v, want %v\n%s", h, del.code, del.ops(), want, del.err)
		}
		for _, c := range del.calls {
			if region, _ := flag(c, "--region"); region != h {
				t.Errorf("%q: %s %s --region %q", h, c[0], c[1], region)
			}
			if v, ok := flag(c, "--bucket"); ok && v != h {
				t.Errorf("%q: delete.sh %s --bucket %q", h, c[1], v)
			}
		}
	}
}

func onePlan(t *testing.T) (*plan.Plan, map[string][]byte) {
	t.Helper()
	entry := ccov1.StatementEntry{Effect: "Allow", Action: []string{"s3:GetObject"}, Resource: "*"}
	p := fixturePlan(t, func(in *plan.Input) { in.Requests = []credreq.Request{request("cr", "ns", "s", []string{"sa"}, entry)} })
	files, err := Files(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, files
}

func writes(r stubRun) []string {
	var out []string
	for _, op := range r.ops() {
		verb := strings.SplitN(strings.Fields(op)[1], "-", 2)[0]
		if !slices.Contains([]string{"get", "list", "head"}, verb) {
			out = append(out, op)
		}
	}
	return out
}

// converged answers as an account where apply.sh has made the one-role plan.
func converged(p *plan.Plan) map[string]string {
	return with(stubWorld,
		"s3api_get_bucket_tagging", "ok:True\tTrue", "s3api_get_bucket_location", "ok:us-east-2",
		"s3api_get_bucket_policy", "ok:"+string(p.Bucket.Policy), "s3api_get_public_access_block", "ok:True\tTrue\tFalse\tFalse",
		"s3api_list_objects_v2", "ok:0\tTrue\tTrue\tTrue\tTrue", "iam_get_open_id_connect_provider", "ok:True\tTrue\tTrue\tTrue\tTrue",
		"iam_get_role", "ok:True\tTrue\tTrue\tTrue\tTrue", "iam_get_role_policy", "ok:True")
}

// Either script asks who the caller is first and stops, before any other
// call, when that is another account or partition than the plan's.
func TestScriptsStopOnAnotherAccountOrPartition(t *testing.T) {
	_, files := onePlan(t)
	for _, id := range []string{"210987654321\tarn:aws:iam::210987654321:user/admin", "123456789012\tarn:aws-cn:iam::123456789012:user/admin"} {
		for _, script := range []string{ApplyScript, DeleteScript} {
			r := runStub(t, files, script, with(stubWorld, "sts_get_caller_identity", "ok:"+id), "--yes")
			if script == ApplyScript {
				r = runStub(t, files, script, with(stubWorld, "sts_get_caller_identity", "ok:"+id))
			}
			if r.code != 1 || !slices.Equal(r.ops(), []string{"sts get-caller-identity"}) || !strings.Contains(r.err, "this plan is for account 123456789012 in partition aws: nothing was changed") {
				t.Errorf("%s as %q: exit %d, calls %v\n%s", script, id, r.code, r.ops(), r.err)
			}
		}
	}
}

// A converged account gets reads only; --dry-run lists the changes and makes none.
func TestApplyChangesOnlyWhatDiffers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the scripts under bash, seconds each")
	}
	p, files := onePlan(t)
	if r := runStub(t, files, ApplyScript, converged(p)); r.code != 0 || writes(r) != nil || !strings.Contains(r.out, "nothing to change") {
		t.Errorf("converged: exit %d, writes %v\n%s%s", r.code, writes(r), r.out, r.err)
	}
	r := runStub(t, files, ApplyScript, stubWorld, "--dry-run")
	if r.code != 0 || writes(r) != nil || !strings.Contains(r.out, "5 changes to make (--dry-run: nothing was changed)") || !strings.Contains(r.err, "+ iam-role "+p.Roles[0].Name) {
		t.Errorf("--dry-run: exit %d, writes %v\n%s%s", r.code, writes(r), r.out, r.err)
	}
	// Drift on some fields: exactly those are set.
	r = runStub(t, files, ApplyScript, with(converged(p), "s3api_get_bucket_tagging", "ok:True\tFalse",
		"iam_get_role", "ok:True\tTrue\tFalse\tFalse\tTrue", "iam_get_role_policy", "ok:False"))
	want := []string{"s3api get-bucket-tagging", "s3api put-bucket-tagging", "iam update-assume-role-policy", "iam delete-role-permissions-boundary", "iam put-role-policy"}
	got := r.ops()[len(r.ops())-len(want):]
	if r.code != 0 || !slices.Equal(got, want) || !strings.Contains(r.err, "~ iam-role "+p.Roles[0].Name+" (trust-policy, permissions-boundary, policy)") {
		t.Errorf("drift: exit %d, calls %v, want them to end with %v\n%s", r.code, r.ops(), want, r.err)
	}
	// Bucket settings are made in the order S3 takes them: the public
	// policy after the access block that lets it through.
	r = runStub(t, files, ApplyScript, with(converged(p), "s3api_get_bucket_policy", "err:NoSuchBucketPolicy", "s3api_get_public_access_block", "ok:True\tTrue\tTrue\tTrue"))
	if w := writes(r); r.code != 0 || !slices.Equal(w, []string{"s3api put-public-access-block", "s3api put-bucket-policy"}) {
		t.Errorf("bucket settings: exit %d, writes %v\n%s", r.code, w, r.err)
	}
	// A role path cannot change: the role is made again, with its policies gone first.
	r = runStub(t, files, ApplyScript, with(converged(p), "iam_get_role", "ok:True\tFalse\tTrue\tTrue\tTrue",
		"iam_list_role_policies", "ok:"+p.Roles[0].PolicyName, "iam_list_attached_role_policies", "ok:arn:aws:iam::aws:policy/ReadOnlyAccess"))
	want = []string{"iam list-role-policies", "iam delete-role-policy", "iam list-attached-role-policies", "iam detach-role-policy", "iam delete-role", "iam create-role", "iam put-role-policy"}
	if got := r.ops()[len(r.ops())-len(want):]; r.code != 0 || !slices.Equal(got, want) {
		t.Errorf("new path: exit %d, calls %v, want them to end with %v\n%s", r.code, r.ops(), want, r.err)
	}
}

// What is not oc sts's, or would break a running cluster, stops apply.sh
// before its first change, saying what and what to do.
func TestApplyStopsBeforeAnyChange(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the scripts under bash, seconds each")
	}
	p, files := onePlan(t)
	for name, tt := range map[string]struct {
		world map[string]string
		want  string
	}{
		"role not ours":              {with(stubWorld, "iam_get_role", "ok:False\tTrue\tTrue\tTrue\tTrue"), "the IAM role " + p.Roles[0].Name + " exists without the tag openshift.io/cloud-credential-operator/mycluster=owned"},
		"bucket of another account":  {with(stubWorld, "s3api_get_bucket_tagging", "err:AccessDenied", "s3api_list_buckets", "ok:False"), "is taken by another AWS account"},
		"bucket denied to us":        {with(stubWorld, "s3api_get_bucket_tagging", "err:AccessDenied", "s3api_list_buckets", "ok:True"), "is denied (s3:GetBucketTagging)"},
		"untagged with other object": {with(converged(p), "s3api_get_bucket_tagging", "err:NoSuchTagSet", "s3api_list_objects_v2", "ok:1\tTrue\tTrue\tFalse\tFalse"), "it is not what an interrupted run leaves, so it is not adopted"},
		"bucket in another region":   {with(converged(p), "s3api_get_bucket_location", "ok:EU"), "is in eu-west-1, but the issuer must be in us-east-2"},
		"bucket tagged by others":    {with(stubWorld, "s3api_get_bucket_tagging", "ok:False\tFalse"), "the S3 bucket mycluster-oidc exists without the tag"},
		"other published keys":       {with(converged(p), "s3api_list_objects_v2", "ok:0\tTrue\tTrue\tTrue\tFalse"), "publishes other signer keys than this plan's"},
		"account restricts public":   {with(stubWorld, "s3control_get_public_access_block", "ok:False\tTrue"), "RestrictPublicBuckets"},
		"account blocks the policy":  {with(stubWorld, "s3control_get_public_access_block", "ok:True\tFalse"), "BlockPublicPolicy, which refuses the bucket policy"},
		"provider without audience":  {with(stubWorld, "iam_get_open_id_connect_provider", "ok:False\tTrue\tTrue\tTrue\tFalse"), "lacks the client ID openshift"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runStub(t, files, ApplyScript, tt.world)
			if r.code != 1 || writes(r) != nil || !strings.Contains(r.err, tt.want) || !strings.Contains(r.err, "Nothing was changed") && !strings.Contains(r.err, "denied") {
				t.Errorf("exit %d, writes %v, want an error with %q:\n%s", r.code, writes(r), tt.want, r.err)
			}
		})
	}
	// Someone else's provider for exactly this issuer, with the audience, is used as it is.
	r := runStub(t, files, ApplyScript, with(stubWorld, "iam_get_open_id_connect_provider", "ok:False\tFalse\tFalse\tFalse\tTrue"))
	if r.code != 0 || slices.ContainsFunc(writes(r), func(op string) bool { return strings.Contains(op, "open-id-connect") }) {
		t.Errorf("a provider not ours with the audience: exit %d, writes %v\n%s", r.code, writes(r), r.err)
	}
}

// delete.sh lists what it would delete and, without a terminal, needs --yes.
func TestDeleteAsksFirst(t *testing.T) {
	_, files := onePlan(t)
	world := with(stubWorld, "iam_get_account_authorization_details", "ok:mycluster-ns-s", "iam_list_open_id_connect_providers", "ok:None",
		"s3api_get_bucket_tagging", "ok:True")
	r := runStub(t, files, DeleteScript, world)
	if r.code != 1 || writes(r) != nil || !strings.Contains(r.err, "- iam-role mycluster-ns-s") || !strings.Contains(r.err, "add --yes to delete these 2 resources (nothing was deleted)") {
		t.Errorf("without --yes: exit %d, writes %v\n%s", r.code, writes(r), r.err)
	}
	if r := runStub(t, files, DeleteScript, world, "--dry-run"); r.code != 0 || writes(r) != nil || !strings.Contains(r.out, "2 resources to delete (--dry-run") {
		t.Errorf("--dry-run: exit %d, writes %v\n%s%s", r.code, writes(r), r.out, r.err)
	}
}
