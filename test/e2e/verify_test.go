package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/test/kubeworld"
)

// stsCluster is a cluster as an STS install leaves it: a real
// kube-apiserver signing with the key prepare wrote, for the issuer prepare
// published, with the manifests prepare wrote applied.
type stsCluster struct {
	w    *world
	kube *kubeworld.Cluster
	dir  string
	plan *plan.Plan
}

func newSTSCluster(t *testing.T, release string, prepareArgs ...string) *stsCluster {
	t.Helper()
	w := newWorld(t)
	dir := exampleDir(t, nil)
	crDir := testdata("credentialsrequests", release)
	if res := w.prepare(t, dir, crDir, prepareArgs...); res.code != 0 {
		t.Fatal(res.stderr)
	}
	p := readPlan(t, dir)
	k, err := kubeworld.Start(context.Background(), kubeworld.Options{Dir: t.TempDir(), Issuer: p.Issuer.URL,
		SigningKeyFile: filepath.Join(dir, "tls", "bound-service-account-signing-key.key")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Stop)
	c := &stsCluster{w: w, kube: k, dir: dir, plan: p}
	c.kubectl(t, "apply", "-f", testdata("crds"))
	c.kubectl(t, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
	namespaces := map[string]bool{"openshift-cloud-credential-operator": true}
	var objects []string
	for _, r := range p.Roles {
		namespaces[r.CredentialsRequest.SecretNamespace] = true
		for _, sa := range r.CredentialsRequest.ServiceAccounts {
			objects = append(objects, fmt.Sprintf("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: %s, namespace: %s}", sa, r.CredentialsRequest.SecretNamespace))
		}
	}
	for ns := range namespaces { // namespaces first: kubectl applies in order
		objects = append([]string{fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}", ns)}, objects...)
	}
	objects = append(objects, "apiVersion: operator.openshift.io/v1\nkind: CloudCredential\nmetadata: {name: cluster}\nspec: {credentialsMode: Manual, managementState: Managed}")
	c.apply(t, strings.Join(objects, "\n---\n"))
	c.kubectl(t, "apply", "-f", filepath.Join(dir, "manifests"))
	for _, r := range p.Roles {
		c.kubectl(t, "apply", "-f", filepath.Join(crDir, r.CredentialsRequest.File))
	}
	return c
}

func (c *stsCluster) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("kubectl", append([]string{"--kubeconfig", c.kube.Kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (c *stsCluster) apply(t *testing.T, yaml string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "objects.yaml")
	os.WriteFile(f, []byte(yaml), 0o644)
	c.kubectl(t, "apply", "-f", f)
}

// verify runs oc sts verify --token-exchange -o json.
func (c *stsCluster) verify(t *testing.T) (clustercheck.Report, result) {
	t.Helper()
	res := c.w.ocSTS(t, "verify", "--token-exchange", "--kubeconfig", c.kube.Kubeconfig, "--region", "us-east-2", "-o", "json")
	var r clustercheck.Report
	if err := json.Unmarshal([]byte(res.stdout), &r); err != nil {
		t.Fatalf("verify -o json: %v\nstdout %s\nstderr %s", err, res.stdout, res.stderr)
	}
	return r, res
}

func failed(r clustercheck.Report) []clustercheck.Result {
	var out []clustercheck.Result
	for _, res := range r.Results {
		if res.Status == clustercheck.Fail {
			out = append(out, res)
		}
	}
	return out
}

func TestVerifyAgainstARealAPIServer(t *testing.T) {
	t.Parallel()
	c := newSTSCluster(t, "4.16")
	c.w.gate.ResetLog()
	report, res := c.verify(t)
	if res.code != 0 || report.Failed != 0 {
		t.Fatalf("a cluster prepared by oc sts must pass: exit %d, %+v\n%s", res.code, failed(report), res.stderr)
	}
	if m := c.w.mutating(); len(m) != 0 {
		t.Errorf("verify changed AWS: %v", m)
	}
	exchanged := 0
	for _, r := range report.Results {
		if r.Check == clustercheck.CheckTokenExchange && r.Status == clustercheck.Pass {
			exchanged++
		}
	}
	if exchanged != len(c.plan.Roles) {
		t.Errorf("%d token exchanges passed, want %d", exchanged, len(c.plan.Roles))
	}
	human := c.w.ocSTS(t, "verify", "--kubeconfig", c.kube.Kubeconfig, "--region", "us-east-2")
	if human.code != 0 || !strings.Contains(human.stdout, "Every link of the STS chain holds") {
		t.Errorf("human output: exit %d\n%s", human.code, human.stdout)
	}

	role := c.plan.Roles[0]
	issuer := c.plan.Issuer.URL
	for _, tc := range []struct {
		name         string
		breakIt, fix func(t *testing.T)
		check, fixes string
	}{
		{"wrong issuer", func(t *testing.T) { c.patchIssuer(t, "https://other-oidc.s3.us-east-2.amazonaws.com") },
			func(t *testing.T) { c.patchIssuer(t, issuer) }, clustercheck.CheckDiscovery, "readable by anyone"},
		{"trailing slash", func(t *testing.T) { c.patchIssuer(t, issuer+"/") },
			func(t *testing.T) { c.patchIssuer(t, issuer) }, clustercheck.CheckIssuer, "set spec.serviceAccountIssuer to " + issuer},
		{"Authentication manifest never applied", func(t *testing.T) { c.kubectl(t, "delete", "authentication", "cluster") },
			func(t *testing.T) {
				c.kubectl(t, "apply", "-f", filepath.Join(c.dir, "manifests", "cluster-authentication-02-config.yaml"))
			},
			clustercheck.CheckIssuer, "cluster-authentication-02-config.yaml"},
		{"signer key missing from the JWKS", func(t *testing.T) { c.putObject(t, "keys.json", `{"keys":[]}`) },
			func(t *testing.T) { c.putObject(t, "keys.json", string(c.plan.Bucket.Objects[1].Body)) }, clustercheck.CheckSigningKeys, "publish the cluster's"},
		{"bucket made private", func(t *testing.T) { c.blockBucket(t, true) },
			func(t *testing.T) { c.blockBucket(t, false) }, clustercheck.CheckDiscovery, "readable by anyone"},
		{"role trusting another service account", func(t *testing.T) {
			c.setTrust(t, role.Name, strings.Replace(string(role.TrustPolicy), ":"+role.CredentialsRequest.ServiceAccounts[0]+`"`, `:someone-else"`, 1))
		}, func(t *testing.T) { c.setTrust(t, role.Name, string(role.TrustPolicy)) }, clustercheck.CheckTrust, "oc sts prepare"},
		{"trust with a negated statement admitting every other service account", func(t *testing.T) {
			negated := fmt.Sprintf(`{"Effect":"Allow","Principal":{"Federated":%q},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringNotEquals":{"%s:sub":"system:serviceaccount:nobody:nobody"},"StringEquals":{"%s:aud":"openshift"}}}`,
				c.plan.OIDCProvider.ARN, c.plan.Issuer.HostPath, c.plan.Issuer.HostPath)
			var doc struct {
				Version   string
				Statement []json.RawMessage
			}
			json.Unmarshal(role.TrustPolicy, &doc)
			doc.Statement = append(doc.Statement, json.RawMessage(negated))
			wide, _ := json.Marshal(doc)
			c.setTrust(t, role.Name, string(wide))
			// As in AWS, the gate lets a service account of another namespace in.
			if err := c.w.assumeAs(t, c.dir, c.plan, role.ARN, "system:serviceaccount:intruder:sa"); err != nil {
				t.Errorf("the too-wide trust should admit a foreign service account, as AWS does: %v", err)
			}
		}, func(t *testing.T) { c.setTrust(t, role.Name, string(role.TrustPolicy)) }, clustercheck.CheckTrust, "oc sts prepare"},
		{"Secret naming a role of another account", func(t *testing.T) {
			manifest, _ := os.ReadFile(filepath.Join(c.dir, "manifests", role.CredentialsRequest.SecretNamespace+"-"+role.CredentialsRequest.SecretName+"-credentials.yaml"))
			f := filepath.Join(t.TempDir(), "secret.yaml")
			os.WriteFile(f, []byte(strings.ReplaceAll(string(manifest), ":"+c.plan.AccountID+":", ":999999999999:")), 0o600)
			c.kubectl(t, "apply", "-f", f)
		}, func(t *testing.T) { c.kubectl(t, "apply", "-f", filepath.Join(c.dir, "manifests")) }, clustercheck.CheckTrust, "oc sts prepare"},
		{"action missing from a role", func(t *testing.T) {
			c.setPolicy(t, role, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}]}`)
		}, func(t *testing.T) { c.setPolicy(t, role, string(role.Policy)) }, clustercheck.CheckPermissions, "oc sts prepare"},
		{"Secret with static keys", func(t *testing.T) {
			c.apply(t, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\nstringData: {aws_access_key_id: AKIA0000, aws_secret_access_key: x}",
				role.CredentialsRequest.SecretName, role.CredentialsRequest.SecretNamespace))
		}, func(t *testing.T) {
			c.kubectl(t, "delete", "secret", "-n", role.CredentialsRequest.SecretNamespace, role.CredentialsRequest.SecretName)
			c.kubectl(t, "apply", "-f", filepath.Join(c.dir, "manifests"))
		}, clustercheck.CheckSecret, "deactivate the keys"},
		{"aws-creds present", func(t *testing.T) {
			c.kubectl(t, "create", "secret", "generic", "-n", "kube-system", "aws-creds", "--from-literal=aws_access_key_id=AKIA0000")
		},
			func(t *testing.T) { c.kubectl(t, "delete", "secret", "-n", "kube-system", "aws-creds") }, clustercheck.CheckRootCredential, "oc delete secret -n kube-system aws-creds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.breakIt(t)
			report, res := c.verify(t)
			tc.fix(t)
			found := false
			for _, f := range failed(report) {
				if f.Check == tc.check && strings.Contains(f.Fix, tc.fixes) {
					found = true
				}
			}
			if res.code != 1 || !found {
				t.Errorf("want a FAIL of %s with a fix naming %q; exit %d, FAILs %+v", tc.check, tc.fixes, res.code, failed(report))
			}
		})
	}
	if report, res := c.verify(t); res.code != 0 {
		t.Errorf("after every repair: exit %d, %+v", res.code, failed(report))
	}

}

func (c *stsCluster) patchIssuer(t *testing.T, issuer string) {
	c.kubectl(t, "patch", "authentication", "cluster", "--type=merge", "-p", fmt.Sprintf(`{"spec":{"serviceAccountIssuer":%q}}`, issuer))
}

func (c *stsCluster) putObject(t *testing.T, key, body string) {
	if _, err := c.w.s3().PutObject(context.Background(), &s3.PutObjectInput{Bucket: &c.plan.Bucket.Name, Key: &key, Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func (c *stsCluster) blockBucket(t *testing.T, private bool) {
	_, err := c.w.s3().PutPublicAccessBlock(context.Background(), &s3.PutPublicAccessBlockInput{Bucket: &c.plan.Bucket.Name,
		PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true),
			BlockPublicPolicy: aws.Bool(private), RestrictPublicBuckets: aws.Bool(private)}})
	if err != nil {
		t.Fatal(err)
	}
}

func (c *stsCluster) setTrust(t *testing.T, role, doc string) {
	if _, err := c.w.iam().UpdateAssumeRolePolicy(context.Background(), &iam.UpdateAssumeRolePolicyInput{RoleName: &role, PolicyDocument: &doc}); err != nil {
		t.Fatal(err)
	}
}

func (c *stsCluster) setPolicy(t *testing.T, role plan.Role, doc string) {
	if _, err := c.w.iam().PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{RoleName: &role.Name, PolicyName: &role.PolicyName, PolicyDocument: &doc}); err != nil {
		t.Fatal(err)
	}
}
