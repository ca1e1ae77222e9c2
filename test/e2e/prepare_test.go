package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

func offlineArgs(dir, crDir string, extra ...string) []string {
	return append([]string{"prepare", "--no-installer", "--dir", dir, "--credentials-requests-dir", crDir, "--offline", "--account-id", "123456789012"}, extra...)
}

// includedRequests reads what the fixture holds, through the library path.
func includedRequests(t *testing.T, crDir string, settings credreq.ClusterSettings) map[string]credreq.Request {
	t.Helper()
	files, err := credreq.ReadDir(crDir)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := credreq.NewInclusion(settings)
	sel, err := credreq.Select(files, in)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]credreq.Request{}
	for _, r := range sel.Requests {
		out[r.Name()] = r
	}
	return out
}

type secretManifest struct {
	Kind       string
	Metadata   struct{ Name, Namespace string }
	StringData map[string]string `yaml:"stringData"`
}

func TestOfflinePrepareEachRelease(t *testing.T) {
	t.Parallel()
	for _, release := range []string{"4.12", "4.14", "4.16"} {
		t.Run(release, func(t *testing.T) {
			dir := exampleDir(t, nil)
			crDir := testdata("credentialsrequests", release)
			original, _ := os.ReadFile(filepath.Join(dir, "install-config.yaml"))

			res := run(t, true, offlineArgs(dir, crDir, "-o", "json")...)
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			var p plan.Plan
			if err := json.Unmarshal([]byte(res.stdout), &p); err != nil {
				t.Fatalf("stdout is not the plan: %v\n%s", err, res.stdout)
			}
			want := includedRequests(t, crDir, credreq.ClusterSettings{})
			if len(p.Roles) != len(want) {
				t.Fatalf("%d roles, %d included requests", len(p.Roles), len(want))
			}

			// One Secret per role, in the right namespace, naming the role.
			for _, r := range p.Roles {
				req := want[r.CredentialsRequest.Name]
				ref := req.CR.Spec.SecretRef
				path := filepath.Join(dir, "manifests", ref.Namespace+"-"+ref.Name+"-credentials.yaml")
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				var s secretManifest
				if err := yaml.Unmarshal(data, &s); err != nil {
					t.Fatal(err)
				}
				creds := s.StringData["credentials"]
				if s.Kind != "Secret" || s.Metadata.Name != ref.Name || s.Metadata.Namespace != ref.Namespace ||
					!strings.Contains(creds, "role_arn = "+r.ARN+"\n") || !strings.Contains(creds, "sts_regional_endpoints = regional") ||
					!strings.Contains(creds, "web_identity_token_file = /var/run/secrets/openshift/serviceaccount/token") {
					t.Errorf("%s:\n%s", path, data)
				}
				if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
					t.Errorf("%s mode %v", path, st.Mode())
				}
			}

			// The Authentication manifest, under its one valid name, carries the plan's issuer.
			var auth struct {
				Kind     string
				Metadata struct{ Name string }
				Spec     struct {
					ServiceAccountIssuer string `yaml:"serviceAccountIssuer"`
				}
			}
			data, err := os.ReadFile(filepath.Join(dir, "manifests", "cluster-authentication-02-config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			yaml.Unmarshal(data, &auth)
			if auth.Kind != "Authentication" || auth.Metadata.Name != "cluster" || auth.Spec.ServiceAccountIssuer != p.Issuer.URL || strings.HasSuffix(p.Issuer.URL, "/") {
				t.Errorf("authentication manifest:\n%s", data)
			}

			// The signer key: RSA 4096, 0600, the one the published JWKS holds.
			keyPath := filepath.Join(dir, "tls", "bound-service-account-signing-key.key")
			keyPEM, _ := os.ReadFile(keyPath)
			key, err := oidckeys.ParsePrivateKey(keyPEM)
			if err != nil || key.N.BitLen() != 4096 {
				t.Fatalf("signer key: %v", err)
			}
			if st, _ := os.Stat(keyPath); st.Mode().Perm() != 0o600 {
				t.Errorf("key mode %v", st.Mode())
			}
			kid, _ := oidckeys.KeyID(&key.PublicKey)
			for _, o := range p.Bucket.Objects {
				if o.Key == "keys.json" && !strings.Contains(string(o.Body), kid) {
					t.Errorf("published JWKS lacks kid %s", kid)
				}
				if strings.Contains(string(o.Body), "PRIVATE") || strings.Contains(string(o.Body), `"d":`) {
					t.Error("private key material in a published object")
				}
			}
			pub, _ := os.ReadFile(filepath.Join(dir, ".oc-sts", "signer.pub"))
			block, _ := pem.Decode(pub)
			if k, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil || !key.PublicKey.Equal(k) {
				t.Error("signer.pub is not the signer's public key")
			}

			// credentialsMode: Manual, every comment and field kept.
			edited, _ := os.ReadFile(filepath.Join(dir, "install-config.yaml"))
			if strings.Replace(string(edited), "credentialsMode: Manual\n", "", 1) != string(original) {
				t.Errorf("install-config.yaml changed beyond credentialsMode:\n%s", edited)
			}

			// A second run changes nothing, byte for byte.
			before := snapshot(t, dir)
			again := run(t, true, offlineArgs(dir, crDir, "-o", "json")...)
			if again.code != 0 || again.stdout != res.stdout {
				t.Fatalf("second run: exit %d, same plan %v: %s", again.code, again.stdout == res.stdout, again.stderr)
			}
			sameTree(t, before, snapshot(t, dir))
		})
	}
}

// The state dir holds the plan and its handoff: a CloudFormation template
// and the aws CLI scripts, whose documents are the plan's; the summary names
// the whole admin flow.
func TestStateDirScript(t *testing.T) {
	t.Parallel()
	dir := exampleDir(t, nil)
	state := filepath.Join(t.TempDir(), "state")
	res := run(t, true, offlineArgs(dir, testdata("credentialsrequests", "4.16"), "--state-dir", state, "--tag", "team=platform")...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	awsDir := filepath.Join(state, "aws")
	for _, want := range []string{
		"aws cloudformation deploy --stack-name oc-sts-demo --template-file " + filepath.Join(awsDir, "cloudformation.yaml") + " --capabilities CAPABILITY_NAMED_IAM --region us-east-2",
		"aws s3api put-object --bucket demo-oidc --key .well-known/openid-configuration --body " + filepath.Join(awsDir, "objects", "openid-configuration"),
		"aws s3api put-object --bucket demo-oidc --key keys.json --body " + filepath.Join(awsDir, "objects", "keys.json"),
		filepath.Join(awsDir, "apply.sh"),
		"oc sts prepare --dir " + dir + " --state-dir " + state + " --credentials-requests-dir " + testdata("credentialsrequests", "4.16") + " --tag team=platform --account-id 123456789012 --dry-run",
		"openshift-install create cluster --dir " + dir,
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("the summary lacks %q:\n%s", want, res.stdout)
		}
	}
	var p plan.Plan
	data, _ := os.ReadFile(filepath.Join(state, "plan.json"))
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	script, _ := os.ReadFile(filepath.Join(awsDir, "apply.sh"))
	for _, name := range []string{"apply.sh", "delete.sh"} {
		if st, _ := os.Stat(filepath.Join(awsDir, name)); st.Mode().Perm()&0o100 == 0 {
			t.Errorf("%s is not executable", name)
		}
		if out, err := runBashSyntaxCheck(filepath.Join(awsDir, name)); err != nil {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(awsDir, "cloudformation.yaml")); err != nil {
		t.Error(err)
	}
	for _, r := range p.Roles {
		trust, err := os.ReadFile(filepath.Join(awsDir, "roles", r.Name+"-trust.json"))
		var want bytes.Buffer
		json.Compact(&want, r.TrustPolicy)
		if err != nil || string(trust) != want.String() || !strings.Contains(string(script), "\nrole "+r.Name+" ") {
			t.Errorf("role %s missing from the script or its files", r.Name)
		}
	}
	if !strings.Contains(string(script), `{"Key":"team","Value":"platform"}`) {
		t.Error("user tag missing from the script")
	}
	if st, _ := os.Stat(filepath.Join(state, "signer.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("state signer.key mode %v", st.Mode())
	}
}

func TestFeatureSetFromInstallConfig(t *testing.T) {
	t.Parallel()
	ic, _ := os.ReadFile(filepath.Join(repoRoot(), "examples", "install-dir", "install-config.yaml"))
	dir := exampleDir(t, append(ic, []byte("featureSet: TechPreviewNoUpgrade\n")...))
	res := run(t, true, offlineArgs(dir, testdata("credentialsrequests", "4.16"), "-o", "json", "--explain")...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stdout, `"name": "openshift-cluster-api-aws"`) {
		t.Error("TechPreviewNoUpgrade did not include the cluster-api request")
	}
	plain := run(t, true, offlineArgs(exampleDir(t, nil), testdata("credentialsrequests", "4.16"), "-o", "json", "--explain")...)
	if strings.Contains(plain.stdout, `"name": "openshift-cluster-api-aws"`) {
		t.Error("the default feature set included a TechPreviewNoUpgrade request")
	}
	if !strings.Contains(plain.stderr, "openshift-cluster-api-aws") || !strings.Contains(plain.stderr, "release.openshift.io/feature-set=TechPreviewNoUpgrade") {
		t.Errorf("-v does not say why the request was left out:\n%s", plain.stderr)
	}
}

// Switching the feature set back removes the Secret written for a request
// the cluster no longer includes; Secrets that are not ours stay.
func TestStaleSecretsAreRemoved(t *testing.T) {
	t.Parallel()
	ic, _ := os.ReadFile(filepath.Join(repoRoot(), "examples", "install-dir", "install-config.yaml"))
	dir := exampleDir(t, append(append([]byte{}, ic...), []byte("featureSet: TechPreviewNoUpgrade\n")...))
	crs := testdata("credentialsrequests", "4.16")
	if res := run(t, true, offlineArgs(dir, crs)...); res.code != 0 {
		t.Fatal(res.stderr)
	}
	capa := filepath.Join(dir, "manifests", "openshift-cluster-api-capa-manager-bootstrap-credentials-credentials.yaml")
	if _, err := os.Stat(capa); err != nil {
		t.Fatalf("tech preview Secret missing: %v", err)
	}
	foreign := filepath.Join(dir, "manifests", "my-app-credentials.yaml")
	os.WriteFile(foreign, []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: y}\nstringData: {credentials: hand-made}\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "install-config.yaml"), ic, 0o640)
	if res := run(t, true, offlineArgs(dir, crs)...); res.code != 0 {
		t.Fatal(res.stderr)
	}
	if _, err := os.Stat(capa); !os.IsNotExist(err) {
		t.Error("the Secret of a request no longer included is still there")
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Error("a Secret oc sts did not write was removed")
	}
}
