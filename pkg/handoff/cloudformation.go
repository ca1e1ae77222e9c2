package handoff

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// StackName is the CloudFormation stack of name's issuer, provider and roles.
func StackName(name string) string { return "oc-sts-" + name }

// MaxTemplateBody is the largest template CloudFormation takes inline; a
// larger one must be uploaded to S3 first (aws cloudformation deploy --s3-bucket).
const MaxTemplateBody = 51200

// Logical IDs of the template's resources (roles get Role<name>).
const (
	bucketID       = "IssuerBucket"
	bucketPolicyID = "IssuerBucketPolicy"
	providerID     = "OIDCProvider"
	oacID          = "OriginAccessControl"
	distributionID = "Distribution"
)

type template struct {
	AWSTemplateFormatVersion string              `yaml:"AWSTemplateFormatVersion"`
	Description              string              `yaml:"Description"`
	Rules                    map[string]rule     `yaml:"Rules"`
	Resources                map[string]resource `yaml:"Resources"`
	Outputs                  map[string]output   `yaml:"Outputs"`
}

type rule struct {
	Assertions []assertion `yaml:"Assertions"`
}

type assertion struct {
	Assert            any    `yaml:"Assert"`
	AssertDescription string `yaml:"AssertDescription"`
}

type resource struct {
	Type       string         `yaml:"Type"`
	DependsOn  []string       `yaml:"DependsOn,omitempty"`
	Properties map[string]any `yaml:"Properties"`
}

type output struct {
	Description string `yaml:"Description"`
	Value       any    `yaml:"Value"`
}

// Template renders p as one CloudFormation stack: the issuer bucket with
// its public access block, ownership tags and bucket policy (for a private
// issuer also the origin access control and the CloudFront distribution),
// the IAM OIDC provider and every role with its trust policy, inline
// policy, path, boundary and tags. Every value is the plan's own, so the
// stack and `oc sts prepare` make the same resources. The two discovery
// documents are objects CloudFormation cannot hold: they are uploaded once
// the stack exists (UploadCommands).
func Template(p *plan.Plan) ([]byte, error) { return render(p, true) }

// IssuerTemplate is the first stage of a private issuer's handoff: the
// bucket, the origin access control and the distribution, whose domain (a
// stack output) the rest of the plan needs. The full Template updates the
// same stack; these resources are rendered identically in both.
func IssuerTemplate(p *plan.Plan) ([]byte, error) { return render(p, false) }

func render(p *plan.Plan, full bool) ([]byte, error) {
	t := template{
		AWSTemplateFormatVersion: "2010-09-09",
		Rules: map[string]rule{"PlanAccountAndRegion": {Assertions: []assertion{
			{Assert: equals(ref("AWS::AccountId"), p.AccountID), AssertDescription: fmt.Sprintf("This stack is oc sts's plan for AWS account %s: its ARNs name that account.", p.AccountID)},
			{Assert: equals(ref("AWS::Region"), p.Region), AssertDescription: fmt.Sprintf("This stack is oc sts's plan for region %s, the cluster's: the issuer URL names it.", p.Region)},
		}}},
		Resources: map[string]resource{},
		Outputs:   map[string]output{},
	}
	what := "the OIDC issuer, IAM OIDC provider and IAM roles"
	if !full {
		what = "stage 1 of 2, the private OIDC issuer's bucket and CloudFront distribution"
	}
	t.Description = fmt.Sprintf("oc sts: %s of OpenShift cluster %s (AWS account %s, %s), from its plan.", what, p.Name, p.AccountID, p.Region)
	block := p.Bucket.PublicAccessBlock
	t.Resources[bucketID] = resource{Type: "AWS::S3::Bucket", Properties: map[string]any{
		"BucketName":        p.Bucket.Name,
		"OwnershipControls": map[string]any{"Rules": []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}},
		"PublicAccessBlockConfiguration": map[string]any{
			"BlockPublicAcls": block.BlockPublicAcls, "IgnorePublicAcls": block.IgnorePublicAcls,
			"BlockPublicPolicy": block.BlockPublicPolicy, "RestrictPublicBuckets": block.RestrictPublicBuckets,
		},
		"Tags": awsTags(p.Bucket.Tags),
	}}
	if p.Bucket.Private {
		if err := distribution(&t, p); err != nil {
			return nil, err
		}
	}
	if !full {
		return marshal(t)
	}
	var err error
	policy := func(raw json.RawMessage) any {
		var doc any
		if e := json.Unmarshal(raw, &doc); e != nil && err == nil {
			err = fmt.Errorf("a policy of the plan is not JSON: %w", e)
		}
		return doc
	}
	t.Resources[bucketPolicyID] = resource{Type: "AWS::S3::BucketPolicy", Properties: map[string]any{
		"Bucket": ref(bucketID), "PolicyDocument": policy(p.Bucket.Policy),
	}}
	t.Resources[providerID] = resource{Type: "AWS::IAM::OIDCProvider", Properties: map[string]any{
		"Url": p.OIDCProvider.URL, "ClientIdList": p.OIDCProvider.ClientIDs, "Tags": awsTags(p.OIDCProvider.Tags),
	}}
	t.Outputs["IssuerURL"] = output{Description: "The service-account issuer (the cluster's spec.serviceAccountIssuer).", Value: p.Issuer.URL}
	t.Outputs["OIDCProviderArn"] = output{Description: "The IAM OIDC provider of the issuer.", Value: ref(providerID)}
	for id, r := range roleIDs(p) {
		props := map[string]any{
			"RoleName": r.Name, "Path": r.Path, "Description": r.Description(),
			"AssumeRolePolicyDocument": policy(r.TrustPolicy),
			"Policies":                 []any{map[string]any{"PolicyName": r.PolicyName, "PolicyDocument": policy(r.Policy)}},
			"Tags":                     awsTags(r.Tags),
		}
		if r.PermissionsBoundary != "" {
			props["PermissionsBoundary"] = r.PermissionsBoundary
		}
		// The trust policy names the provider by its ARN: create it first.
		t.Resources[id] = resource{Type: "AWS::IAM::Role", DependsOn: []string{providerID}, Properties: props}
		ref := r.CredentialsRequest
		t.Outputs[id+"Arn"] = output{Description: fmt.Sprintf("The role of Secret %s/%s (CredentialsRequest %s).", ref.SecretNamespace, ref.SecretName, ref.Name), Value: getAtt(id, "Arn")}
	}
	if err != nil {
		return nil, err
	}
	return marshal(t)
}

// distribution adds a private issuer's origin access control and
// distribution, as prepare creates them, and their outputs.
func distribution(t *template, p *plan.Plan) error {
	d := p.Distribution
	if d == nil {
		return fmt.Errorf("the plan of %s has no CloudFront distribution for its private issuer", p.Name)
	}
	t.Resources[oacID] = resource{Type: "AWS::CloudFront::OriginAccessControl", Properties: map[string]any{
		"OriginAccessControlConfig": map[string]any{
			"Name": d.OriginAccessControl, "Description": plan.OACDescription(p.Name),
			"OriginAccessControlOriginType": "s3", "SigningBehavior": "always", "SigningProtocol": "sigv4",
		},
	}}
	t.Resources[distributionID] = resource{Type: "AWS::CloudFront::Distribution", Properties: map[string]any{
		"DistributionConfig": map[string]any{
			"Comment": d.Comment,
			"Enabled": true,
			"Origins": []any{map[string]any{
				"Id": plan.DistributionOriginID, "DomainName": d.OriginDomain, "OriginAccessControlId": getAtt(oacID, "Id"),
				"S3OriginConfig": map[string]any{"OriginAccessIdentity": ""},
			}},
			"DefaultCacheBehavior": map[string]any{
				"TargetOriginId": plan.DistributionOriginID, "ViewerProtocolPolicy": "https-only", "CachePolicyId": d.CachePolicyID,
			},
		},
		"Tags": awsTags(p.Bucket.Tags),
	}}
	t.Outputs["CloudFrontDomain"] = output{Description: "The distribution's domain: the issuer is https://<it> (oc sts prepare --cloudfront-domain).", Value: getAtt(distributionID, "DomainName")}
	t.Outputs["DistributionArn"] = output{Description: "The distribution's ARN (oc sts prepare --distribution-arn).",
		Value: map[string]any{"Fn::Sub": awsid.DistributionARNPrefix("${AWS::Partition}", "${AWS::AccountId}") + "${" + distributionID + "}"}}
	return nil
}

// roleIDs gives each role a logical ID from its name: Role and the words of
// the name after the cluster's, with a hash when two would collide.
func roleIDs(p *plan.Plan) map[string]plan.Role {
	out := map[string]plan.Role{}
	for _, r := range p.Roles {
		id := "Role"
		for _, w := range strings.FieldsFunc(strings.TrimPrefix(r.Name, p.Name+"-"), func(c rune) bool { return c > unicode.MaxASCII || !unicode.IsLetter(c) && !unicode.IsDigit(c) }) {
			id += strings.ToUpper(w[:1]) + w[1:]
		}
		if _, taken := out[id]; taken {
			sum := sha256.Sum256([]byte(r.Name))
			id += hex.EncodeToString(sum[:4])
		}
		out[id] = r
	}
	return out
}

func ref(id string) map[string]any          { return map[string]any{"Ref": id} }
func getAtt(id, attr string) map[string]any { return map[string]any{"Fn::GetAtt": []string{id, attr}} }
func equals(a any, b string) map[string]any { return map[string]any{"Fn::Equals": []any{a, b}} }

func marshal(t template) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(t); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}
