package handoff

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/test/awsworld"
)

const boundary = "arn:aws:iam::123456789012:policy/openshift-boundary"

func withEverything(in *plan.Input) {
	in.RolePath, in.PermissionsBoundary = "/openshift/", boundary
	in.Tags = map[string]string{"team": "platform", "cost-center": "4711"}
}

func privatePlan(t *testing.T) *plan.Plan {
	return fixturePlan(t, func(in *plan.Input) {
		withEverything(in)
		in.IssuerKind, in.CloudFrontDomain, in.DistributionARN = plan.PrivateCloudFront, "d111111abcdef8.cloudfront.net", "arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE"
	})
}

// The templates CloudFormation is given pass cfn-lint (CloudFormation's own
// linter, its resource schemas): public and private issuer, both stages of
// the private one, with a role path, a permissions boundary and user tags.
func TestTemplatesPassCfnLint(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs cfn-lint")
	}
	lint, err := awsworld.FindPythonTool("cfn-lint", "cfn-lint (pip package cfn-lint)")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	public, err := Files(fixturePlan(t, withEverything))
	if err != nil {
		t.Fatal(err)
	}
	private, err := Files(privatePlan(t))
	if err != nil {
		t.Fatal(err)
	}
	stage1, err := IssuerFiles(privatePlan(t))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for name, files := range map[string]map[string][]byte{"public": public, "private": private, "private-stage1": stage1} {
		path := filepath.Join(dir, name+".yaml")
		os.WriteFile(path, files[TemplateFile], 0o644)
		paths = append(paths, path)
	}
	// --non-zero-exit-code informational: warnings fail too.
	out, err := exec.Command(lint, append([]string{"--non-zero-exit-code", "informational", "--"}, paths...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint: %v\n%s", err, out)
	}
}

type cfnTemplate struct {
	Rules     map[string]any `yaml:"Rules"`
	Resources map[string]struct {
		Type       string         `yaml:"Type"`
		DependsOn  []string       `yaml:"DependsOn"`
		Properties map[string]any `yaml:"Properties"`
	} `yaml:"Resources"`
	Outputs map[string]struct {
		Value any `yaml:"Value"`
	} `yaml:"Outputs"`
}

func parseTemplate(t *testing.T, b []byte) cfnTemplate {
	t.Helper()
	var tmpl cfnTemplate
	if err := yaml.Unmarshal(b, &tmpl); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return tmpl
}

// sameJSON says whether a YAML value of the template is the plan's JSON document.
func sameJSON(t *testing.T, got any, want json.RawMessage) bool {
	t.Helper()
	var w any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	var gv any
	json.Unmarshal(g, &gv)
	return reflect.DeepEqual(gv, w)
}

func tagsOf(tags []plan.Tag) []any {
	var out []any
	for _, t := range tags {
		out = append(out, map[string]any{"Key": t.Key, "Value": t.Value})
	}
	return out
}

// Every value the stack sets is the plan's: the template is read back as
// CloudFormation reads it and compared with the plan, resource by resource.
func TestTemplateHoldsThePlan(t *testing.T) {
	for _, p := range []*plan.Plan{fixturePlan(t, withEverything), privatePlan(t)} {
		files, err := Files(p)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := parseTemplate(t, files[TemplateFile])
		b := tmpl.Resources["IssuerBucket"].Properties
		block := b["PublicAccessBlockConfiguration"].(map[string]any)
		if b["BucketName"] != p.Bucket.Name || block["BlockPublicPolicy"] != p.Bucket.Private || block["RestrictPublicBuckets"] != p.Bucket.Private ||
			block["BlockPublicAcls"] != true || !reflect.DeepEqual(b["Tags"], tagsOf(p.Bucket.Tags)) {
			t.Errorf("bucket %v", b)
		}
		if !sameJSON(t, tmpl.Resources["IssuerBucketPolicy"].Properties["PolicyDocument"], p.Bucket.Policy) {
			t.Errorf("bucket policy %v, want %s", tmpl.Resources["IssuerBucketPolicy"].Properties, p.Bucket.Policy)
		}
		prov := tmpl.Resources["OIDCProvider"].Properties
		if prov["Url"] != p.OIDCProvider.URL || !reflect.DeepEqual(prov["ClientIdList"], []any{"openshift", "sts.amazonaws.com"}) || !reflect.DeepEqual(prov["Tags"], tagsOf(p.OIDCProvider.Tags)) {
			t.Errorf("provider %v", prov)
		}
		if got := tmpl.Outputs["IssuerURL"].Value; got != p.Issuer.URL {
			t.Errorf("output IssuerURL %v", got)
		}
		roles := 0
		for id, res := range tmpl.Resources {
			if res.Type != "AWS::IAM::Role" {
				continue
			}
			roles++
			props := res.Properties
			var r plan.Role
			for _, pr := range p.Roles {
				if pr.Name == props["RoleName"] {
					r = pr
				}
			}
			policies := props["Policies"].([]any)
			inline := policies[0].(map[string]any)
			if r.Name == "" || props["Path"] != "/openshift/" || props["PermissionsBoundary"] != boundary || !reflect.DeepEqual(props["Tags"], tagsOf(r.Tags)) ||
				!sameJSON(t, props["AssumeRolePolicyDocument"], r.TrustPolicy) || len(policies) != 1 || inline["PolicyName"] != r.PolicyName ||
				!sameJSON(t, inline["PolicyDocument"], r.Policy) || !reflect.DeepEqual(res.DependsOn, []string{"OIDCProvider"}) {
				t.Errorf("role %s: %v", id, props)
			}
			if out := tmpl.Outputs[id+"Arn"].Value; !reflect.DeepEqual(out, map[string]any{"Fn::GetAtt": []any{id, "Arn"}}) {
				t.Errorf("output %sArn %v", id, out)
			}
		}
		if roles != len(p.Roles) || !strings.Contains(string(files[TemplateFile]), "- \"123456789012\"") {
			t.Errorf("%d roles in the template for %d in the plan, or no account rule:\n%s", roles, len(p.Roles), files[TemplateFile])
		}
	}
}

// Stage 1 of a private issuer is part of the full template, identical, so
// updating the stack to stage 2 leaves the bucket and distribution alone.
func TestIssuerStageIsPartOfTheFullTemplate(t *testing.T) {
	p := privatePlan(t)
	stage1, _ := IssuerFiles(p)
	full, _ := Files(p)
	one, two := parseTemplate(t, stage1[TemplateFile]), parseTemplate(t, full[TemplateFile])
	if len(one.Resources) != 3 || len(stage1) != 1 {
		t.Errorf("stage 1 has %d resources and %d files, want the bucket, distribution and OAC in the template alone", len(one.Resources), len(stage1))
	}
	for id, res := range one.Resources {
		if !reflect.DeepEqual(res, two.Resources[id]) {
			t.Errorf("%s differs between the stages:\n%v\n%v", id, res, two.Resources[id])
		}
	}
	dist := one.Resources["Distribution"].Properties["DistributionConfig"].(map[string]any)
	origin := dist["Origins"].([]any)[0].(map[string]any)
	if origin["DomainName"] != "mycluster-oidc.s3.us-east-2.amazonaws.com" || !reflect.DeepEqual(origin["OriginAccessControlId"], map[string]any{"Fn::GetAtt": []any{"OriginAccessControl", "Id"}}) {
		t.Errorf("origin %v", origin)
	}
	for _, o := range []string{"CloudFrontDomain", "DistributionArn"} {
		if one.Outputs[o].Value == nil || two.Outputs[o].Value == nil {
			t.Errorf("output %s missing", o)
		}
	}
	if _, ok := full[ApplyScript]; ok {
		t.Error("a private issuer's handoff is the stack alone: no apply.sh")
	}
}
