package hive

import (
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/test/golden"
)

// The hub objects and the ClusterDeployment patch of a one-role plan are
// testdata/objects.yaml and testdata/clusterdeployment-patch.json: reviewed
// against Hive's ClusterDeployment CRD (spec.boundServiceAccountSigningKeySecretRef,
// spec.provisioning.manifestsSecretRef / manifestsConfigMapRef: LocalObjectReference)
// and the install-dir flow's manifests (the same file names and contents).
func TestObjectsGolden(t *testing.T) {
	p := &plan.Plan{
		Issuer: plan.Issuer{URL: "https://mycluster-oidc.s3.us-east-2.amazonaws.com"},
		Roles: []plan.Role{{ARN: "arn:aws:iam::123456789012:role/mycluster-openshift-machine-api-aws-cloud-credentials",
			CredentialsRequest: plan.RequestRef{SecretNamespace: "openshift-machine-api", SecretName: "aws-cloud-credentials"}}},
	}
	const key = "-----BEGIN RSA PRIVATE KEY-----\nnot a key: a stand-in\n-----END RSA PRIVATE KEY-----\n"
	for name, configMap := range map[string]bool{"objects.yaml": false, "objects-configmap.yaml": true} {
		objs := Build("mycluster", "hive-clusters", p, []byte(key), configMap)
		list, err := yaml.Marshal(objs.List())
		if err != nil {
			t.Fatal(err)
		}
		golden.Check(t, name, list)
		if !configMap {
			golden.Check(t, "clusterdeployment-patch.json", append(objs.ClusterDeploymentPatch, '\n'))
		}
	}
}
