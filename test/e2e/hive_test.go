package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/oc-sts/oc-sts/pkg/hive"
	"github.com/oc-sts/oc-sts/test/kubeworld"
)

func hiveArgs(stateDir string, extra ...string) []string {
	return append([]string{"prepare", "--hive", "--offline", "--account-id", "123456789012", "--name", "demo", "--region", "us-east-2",
		"--credentials-requests-dir", testdata("credentialsrequests", "4.16"), "--state-dir", stateDir, "--hive-namespace", "fleet"}, extra...)
}

// The manifests Hive gets are exactly the ones the install-dir flow writes.
func TestHiveObjectsMatchTheInstallDirFlow(t *testing.T) {
	t.Parallel()
	state := filepath.Join(t.TempDir(), "state")
	res := run(t, true, hiveArgs(state, "-o", "json")...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	var doc struct {
		ObjectsFile            string
		SigningKeySecret       string
		ClusterDeploymentPatch map[string]any
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.stdout, "PRIVATE KEY") {
		t.Error("the signer key is printed on stdout")
	}
	raw, err := os.ReadFile(doc.ObjectsFile)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(doc.ObjectsFile); info.Mode().Perm() != 0o600 {
		t.Errorf("%s holds the signer key but is %v", doc.ObjectsFile, info.Mode().Perm())
	}
	var list struct{ Items []corev1.Secret }
	if err := yaml.Unmarshal(raw, &list); err != nil || len(list.Items) != 2 {
		t.Fatalf("objects.yaml: %v %d", err, len(list.Items))
	}
	key, manifests := list.Items[0], list.Items[1]
	if key.Name != "demo-bound-service-account-signing-key" || key.Namespace != "fleet" || len(key.Data[hive.SigningKeyDataKey]) == 0 {
		t.Errorf("signing key secret %s/%s keys %v", key.Namespace, key.Name, key.Data)
	}
	if !strings.Contains(string(key.Data[hive.SigningKeyDataKey]), "RSA PRIVATE KEY") {
		t.Errorf("signing key data is not the PEM key")
	}
	want := `{"spec":{"boundServiceAccountSigningKeySecretRef":{"name":"demo-bound-service-account-signing-key"},"provisioning":{"manifestsSecretRef":{"name":"demo-sts-manifests"}}}}`
	if got, _ := json.Marshal(doc.ClusterDeploymentPatch); string(got) != want {
		t.Errorf("ClusterDeployment patch %s\nwant %s", got, want)
	}

	dir := exampleDir(t, nil)
	if res := run(t, true, offlineArgs(dir, testdata("credentialsrequests", "4.16"))...); res.code != 0 {
		t.Fatal(res.stderr)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "manifests"))
	if len(entries) != len(manifests.StringData) {
		t.Errorf("%d manifests for Hive, %d in the install dir", len(manifests.StringData), len(entries))
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, "manifests", e.Name()))
		if manifests.StringData[e.Name()] != string(b) {
			t.Errorf("%s differs between Hive's manifests and the install dir:\n%s\n---\n%s", e.Name(), manifests.StringData[e.Name()], b)
		}
	}
}

func TestHiveApplyToHub(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	keyFile := filepath.Join(dir, "sa.key")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	k, err := kubeworld.Start(context.Background(), kubeworld.Options{Dir: dir, Issuer: "https://hub.example.com", SigningKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Stop)
	c := &stsCluster{kube: k}
	c.kubectl(t, "apply", "-f", testdata("hive"))
	c.kubectl(t, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
	c.kubectl(t, "create", "namespace", "fleet")
	example, _ := os.ReadFile(filepath.Join(repoRoot(), "examples", "install-dir", "install-config.yaml"))
	c.kubectl(t, "create", "secret", "generic", "-n", "fleet", "demo-install-config", "--from-file=install-config.yaml="+filepath.Join(repoRoot(), "examples", "install-dir", "install-config.yaml"))
	c.apply(t, "apiVersion: hive.openshift.io/v1\nkind: ClusterDeployment\nmetadata: {name: demo, namespace: fleet}\nspec: {clusterName: demo, baseDomain: example.com, provisioning: {installConfigSecretRef: {name: demo-install-config}}}")

	res := run(t, false, hiveArgs(filepath.Join(dir, "state"), "--hive-manifests-configmap", "--apply-to-hub", "--cluster-deployment", "demo", "--kubeconfig", k.Kubeconfig)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if got := c.kubectl(t, "get", "secret", "-n", "fleet", "demo-bound-service-account-signing-key", "-o", "jsonpath={.data.bound-service-account-signing-key\\.key}"); got == "" {
		t.Error("the signing key Secret lacks its data key")
	}
	if got := c.kubectl(t, "get", "configmap", "-n", "fleet", "demo-sts-manifests", "-o", "jsonpath={.data.cluster-authentication-02-config\\.yaml}"); !strings.Contains(got, "serviceAccountIssuer: https://demo-oidc.s3.us-east-2.amazonaws.com") {
		t.Errorf("the manifests ConfigMap's Authentication: %q", got)
	}
	cd := c.kubectl(t, "get", "clusterdeployment", "-n", "fleet", "demo", "-o", "jsonpath={.spec.boundServiceAccountSigningKeySecretRef.name} {.spec.provisioning.manifestsConfigMapRef.name} {.spec.provisioning.installConfigSecretRef.name}")
	if cd != "demo-bound-service-account-signing-key demo-sts-manifests demo-install-config" {
		t.Errorf("ClusterDeployment refs: %q", cd)
	}
	var secret corev1.Secret
	if err := json.Unmarshal([]byte(c.kubectl(t, "get", "secret", "-n", "fleet", "demo-install-config", "-o", "json")), &secret); err != nil {
		t.Fatal(err)
	}
	edited := string(secret.Data["install-config.yaml"])
	if !strings.Contains(edited, "credentialsMode: Manual") || strings.Replace(edited, "credentialsMode: Manual\n", "", 1) != string(example) {
		t.Errorf("install-config in the Secret: want the original plus one credentialsMode line:\n%s", edited)
	}
}
