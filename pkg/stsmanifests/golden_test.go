package stsmanifests

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	configv1 "github.com/openshift/api/config/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/test/golden"
)

const roleARN = "arn:aws:iam::123456789012:role/mycluster-openshift-image-registry-installer-cloud-credentials"

// The credentials Secret is testdata/secret.yaml (written by hand, in the
// format the cloud-credential-operator and ccoctl write), and what it holds
// is what the AWS SDK's shared-config reader, the components' reader, reads.
func TestSecretGolden(t *testing.T) {
	r := plan.Role{ARN: roleARN, CredentialsRequest: plan.RequestRef{SecretNamespace: "openshift-image-registry", SecretName: "installer-cloud-credentials"}}
	got := Secret(r)
	golden.Check(t, "secret.yaml", got)

	var s corev1.Secret
	if err := yaml.UnmarshalStrict(got, &s); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(shared, []byte(s.StringData[CredentialsKey]), 0o600); err != nil {
		t.Fatal(err)
	}
	sc, err := config.LoadSharedConfigProfile(context.Background(), "default", func(o *config.LoadSharedConfigOptions) {
		o.ConfigFiles, o.CredentialsFiles = []string{shared}, []string{}
	})
	if err != nil {
		t.Fatal(err)
	}
	// (sts_regional_endpoints is for the v1 SDKs; v2 is always regional.)
	if sc.RoleARN != roleARN || sc.WebIdentityTokenFile != TokenFile {
		t.Errorf("the AWS SDK reads role %q token %q", sc.RoleARN, sc.WebIdentityTokenFile)
	}
	if c := ParseCredentials(s.StringData[CredentialsKey]); c != (Credentials{RoleARN: roleARN, TokenFile: TokenFile, Regional: true}) {
		t.Errorf("ParseCredentials: %+v", c)
	}
}

// The Authentication manifest is testdata/authentication.yaml (by hand),
// and decodes strictly as openshift/api's config.openshift.io/v1 type.
func TestAuthenticationGolden(t *testing.T) {
	const issuer = "https://mycluster-oidc.s3.us-east-2.amazonaws.com"
	got := Authentication(issuer)
	golden.Check(t, "authentication.yaml", got)
	var a configv1.Authentication
	if err := yaml.UnmarshalStrict(got, &a); err != nil {
		t.Fatal(err)
	}
	if a.APIVersion != configv1.GroupVersion.String() || a.Kind != "Authentication" || a.Name != "cluster" || a.Spec.ServiceAccountIssuer != issuer {
		t.Errorf("decoded: %+v", a)
	}
}
