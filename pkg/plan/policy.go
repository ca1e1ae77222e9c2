package plan

import (
	"encoding/json"
	"sort"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"

	"github.com/oc-sts/oc-sts/pkg/awsid"
)

const policyVersion = "2012-10-17"

type policyDocument struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Sid       string                    `json:"Sid,omitempty"`
	Effect    string                    `json:"Effect"`
	Principal any                       `json:"Principal,omitempty"`
	Action    any                       `json:"Action"`
	Resource  any                       `json:"Resource,omitempty"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

// compact marshals a policy the way IAM counts it: no insignificant whitespace.
func compact(doc policyDocument) json.RawMessage {
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // only plain strings, maps and slices: cannot fail
	}
	return b
}

// TrustPolicy lets exactly the given service accounts, with the openshift
// audience, assume the role through the issuer's OIDC provider.
func TrustPolicy(providerARN, issuerHostPath string, subjects []string) json.RawMessage {
	return compact(policyDocument{Version: policyVersion, Statement: []statement{{
		Effect:    "Allow",
		Principal: map[string]string{"Federated": providerARN},
		Action:    "sts:AssumeRoleWithWebIdentity",
		Condition: map[string]map[string]any{"StringEquals": {
			issuerHostPath + ":sub": subjects,
			issuerHostPath + ":aud": awsid.Audience,
		}},
	}}})
}

// Subjects are the token subjects of a request's service accounts, sorted and unique.
func Subjects(namespace string, serviceAccounts []string) []string {
	set := map[string]bool{}
	for _, sa := range serviceAccounts {
		set["system:serviceaccount:"+namespace+":"+sa] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// PermissionsPolicy is the inline policy granting a request's statementEntries.
func PermissionsPolicy(entries []ccov1.StatementEntry) json.RawMessage {
	doc := policyDocument{Version: policyVersion}
	for _, e := range entries {
		s := statement{Effect: e.Effect, Action: e.Action, Resource: e.Resource}
		if len(e.PolicyCondition) > 0 {
			s.Condition = map[string]map[string]any{}
			for op, kv := range e.PolicyCondition {
				s.Condition[op] = map[string]any(kv)
			}
		}
		doc.Statement = append(doc.Statement, s)
	}
	return compact(doc)
}

// BucketPolicy allows anonymous reads of exactly the discovery objects
// (public issuer) or reads by one CloudFront distribution (private issuer).
func BucketPolicy(partition, bucket, distributionARN string, keys []string) json.RawMessage {
	var resources []string
	for _, k := range keys {
		resources = append(resources, awsid.ObjectARN(partition, bucket, k))
	}
	s := statement{Sid: "AllowPublicReadOfOIDCDiscovery", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: resources}
	if distributionARN != "" {
		s.Sid = "AllowCloudFrontReadOfOIDCDiscovery"
		s.Principal = map[string]string{"Service": "cloudfront.amazonaws.com"}
		s.Condition = map[string]map[string]any{"StringEquals": {"AWS:SourceArn": distributionARN}}
	}
	return compact(policyDocument{Version: policyVersion, Statement: []statement{s}})
}
