package e2e

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gopkg.in/yaml.v3"

	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/statedir"
	"github.com/oc-sts/oc-sts/test/installerworld"
	"github.com/oc-sts/oc-sts/test/registry"
)

// installerSetup is one test's AWS world, as oc sts and as the installer
// see it, with a release image of the 4.16 CredentialsRequests in a local
// registry.
type installerSetup struct {
	*world
	iw      *installerworld.World
	release string // its digest pull spec
	crDir   string // what the release holds
}

const clusterName = "demo"

func newInstallerSetup(t *testing.T) *installerSetup {
	t.Helper()
	if _, err := installerworld.Binary(); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	iw := installerworld.New(t, w.gate, w.moto, w.gate.CACertPEM(), "example.com", "us-east-2")
	var env []string
	for _, e := range w.env {
		if !strings.HasPrefix(e, "SSL_CERT_FILE=") {
			env = append(env, e)
		}
	}
	w.env = append(append(env, "SSL_CERT_FILE="+iw.CABundle, "AWS_CA_BUNDLE="+iw.CABundle), installerworld.DataEnv()...)
	crDir := testdata("credentialsrequests", "4.16")
	srv := registry.Start(t, "", "")
	spec := srv.Push(t, "ocp-release:4.16.0", registry.Release(t, crDir, "4.16.0", nil))
	return &installerSetup{world: w, iw: iw, release: spec, crDir: crDir}
}

const fakePullSecret = `{"auths":{"registry.example.com":{"auth":"ZGVtbzpkZW1v"}}}`

// installDir is what `openshift-install create install-config` leaves.
func (s *installerSetup) installDir(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	ic := append(s.iw.InstallConfig(clusterName, fakePullSecret), extra...)
	if err := os.WriteFile(filepath.Join(dir, "install-config.yaml"), ic, 0o640); err != nil {
		t.Fatal(err)
	}
	return dir
}

// installer runs openshift-install in the world as a user would, with the
// release override when the binary has no release of its own.
func (s *installerSetup) installer(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.iw.Run(t, append(s.env, "OPENSHIFT_INSTALL_RELEASE_IMAGE_OVERRIDE="+s.release), args...)
	if err != nil {
		t.Fatalf("openshift-install %v: %v\n%s", args, err, out)
	}
	return out
}

// awsChanges are the mutating calls oc sts made (the installer's EC2 and
// Route 53 reads left out: the gate counts Describe* among the mutating).
func (s *installerSetup) awsChanges() []string {
	var out []string
	for _, c := range s.gate.Calls() {
		if c.Mutating && c.Injected == "" && c.Service != "ec2" && c.Service != "route53" {
			out = append(out, c.Service+" "+c.Operation)
		}
	}
	return out
}

func (s *installerSetup) ocSTSWith(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append([]string{}, s.env...), env...)
	return runCmd(t, cmd)
}

// expectation is what bootstrap.ign must hold, each part taken from where
// the cluster will meet it: AWS (or the offline plan) and the state dir.
type expectation struct {
	secrets map[string]string // namespace/name -> role ARN
	issuer  string
	key     []byte // the signer key, PEM as kept in the state dir
	jwksN   string // modulus of the published key, base64url
}

// fromAWS reads the expectation from the AWS test world: the included
// requests' roles by the service accounts their trust policy names, the
// issuer of the OIDC provider, the JWKS in the issuer bucket.
func (s *installerSetup) fromAWS(t *testing.T, stateDir string) expectation {
	t.Helper()
	ctx := context.Background()
	e := expectation{secrets: map[string]string{}}
	d, err := s.iam().GetAccountAuthorizationDetails(ctx, &iam.GetAccountAuthorizationDetailsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range includedRequests(t, s.crDir, credreq.ClusterSettings{}) {
		ref := r.CR.Spec.SecretRef
		for _, role := range d.RoleDetailList {
			trust, _ := url.QueryUnescape(aws.ToString(role.AssumeRolePolicyDocument))
			if strings.Contains(trust, `system:serviceaccount:`+ref.Namespace+`:`+r.CR.Spec.ServiceAccountNames[0]+`"`) {
				e.secrets[ref.Namespace+"/"+ref.Name] = aws.ToString(role.Arn)
			}
		}
	}
	providers, err := s.iam().ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
	if err != nil || len(providers.OpenIDConnectProviderList) != 1 {
		t.Fatalf("OIDC providers: %v %v", providers, err)
	}
	_, host, _ := strings.Cut(aws.ToString(providers.OpenIDConnectProviderList[0].Arn), ":oidc-provider/")
	e.issuer = "https://" + host
	obj, err := s.s3().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(clusterName + "-oidc"), Key: aws.String("keys.json")})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	var jwks struct{ Keys []struct{ N string } }
	if err := json.NewDecoder(obj.Body).Decode(&jwks); err != nil || len(jwks.Keys) != 1 {
		t.Fatalf("published JWKS: %v %+v", err, jwks)
	}
	e.jwksN = jwks.Keys[0].N
	e.key, err = os.ReadFile(filepath.Join(stateDir, "signer.key"))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// fromPlan is the expectation of an offline run: what its aws CLI script
// will create, from plan.json and the JWKS object it uploads.
func fromPlan(t *testing.T, crDir, stateDir string) expectation {
	t.Helper()
	p, err := statedir.ReadPlan(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	e := expectation{secrets: map[string]string{}, issuer: p.Issuer.URL}
	included := includedRequests(t, crDir, credreq.ClusterSettings{})
	for _, r := range p.Roles {
		if _, ok := included[r.CredentialsRequest.Name]; !ok {
			t.Errorf("role for %s, a request the cluster does not include", r.CredentialsRequest.Name)
		}
		e.secrets[r.CredentialsRequest.SecretNamespace+"/"+r.CredentialsRequest.SecretName] = r.ARN
	}
	if len(p.Roles) != len(included) {
		t.Errorf("%d roles for %d included requests", len(p.Roles), len(included))
	}
	jwks, err := os.ReadFile(filepath.Join(stateDir, "aws", "objects", "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []struct{ N string } }
	if err := json.Unmarshal(jwks, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS to publish: %v", err)
	}
	e.jwksN = set.Keys[0].N
	if e.key, err = os.ReadFile(filepath.Join(stateDir, "signer.key")); err != nil {
		t.Fatal(err)
	}
	return e
}

const (
	bootstrapManifests = "/opt/openshift/manifests/"
	bootstrapKey       = "/opt/openshift/tls/bound-service-account-signing-key.key"
)

// assertBootstrap reads bootstrap.ign as the bootstrap node would and
// requires one credentials Secret per included request with its role,
// the Authentication manifest with the issuer, and the signer key whose
// JWKS is published.
func assertBootstrap(t *testing.T, dir string, want expectation) {
	t.Helper()
	files, err := installerworld.Bootstrap(filepath.Join(dir, "bootstrap.ign"))
	if err != nil {
		t.Fatal(err)
	}
	if len(want.secrets) == 0 {
		t.Fatal("nothing expected: the expectation is broken")
	}
	got := map[string]string{}
	issuers := 0
	for path, data := range files {
		if !strings.HasPrefix(path, bootstrapManifests) {
			continue
		}
		var o struct {
			Kind     string
			Metadata struct{ Name, Namespace string }
			Spec     struct {
				ServiceAccountIssuer string `yaml:"serviceAccountIssuer"`
			}
			StringData map[string]string `yaml:"stringData"`
		}
		if yaml.Unmarshal(data, &o) != nil {
			continue
		}
		switch {
		case o.Kind == "Secret" && strings.Contains(o.StringData["credentials"], "web_identity_token_file"):
			for _, line := range strings.Split(o.StringData["credentials"], "\n") {
				if arn, ok := strings.CutPrefix(line, "role_arn = "); ok {
					got[o.Metadata.Namespace+"/"+o.Metadata.Name] = arn
				}
			}
		case o.Kind == "Authentication" && o.Metadata.Name == "cluster":
			issuers++
			if path != bootstrapManifests+"cluster-authentication-02-config.yaml" || o.Spec.ServiceAccountIssuer != want.issuer {
				t.Errorf("%s: Authentication issuer %q, want %q", path, o.Spec.ServiceAccountIssuer, want.issuer)
			}
		}
	}
	for ref, arn := range want.secrets {
		if got[ref] != arn {
			t.Errorf("bootstrap.ign: Secret %s has role %q, want %q", ref, got[ref], arn)
		}
	}
	if len(got) != len(want.secrets) {
		t.Errorf("bootstrap.ign has %d credentials Secrets, want %d: %v", len(got), len(want.secrets), got)
	}
	if issuers != 1 {
		t.Errorf("bootstrap.ign has %d Authentication manifests, want 1", issuers)
	}
	key := files[bootstrapKey]
	if string(key) != string(want.key) {
		t.Errorf("bootstrap.ign: %s is not the signer key oc sts kept (%d bytes)", bootstrapKey, len(key))
	}
	block, _ := pem.Decode(key)
	if block == nil {
		t.Fatal("bootstrap.ign: no PEM signer key")
	}
	k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if n := base64.RawURLEncoding.EncodeToString(k.N.Bytes()); n != want.jwksN || new(big.Int).SetBytes(mustB64(t, want.jwksN)).Cmp(k.N) != 0 {
		t.Error("bootstrap.ign: the signer key is not the one whose JWKS is published")
	}
}

func mustB64(t *testing.T, s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
