package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"sigs.k8s.io/yaml"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/upgrade"
)

const (
	alboNS  = "aws-load-balancer-operator"
	alboSub = "aws-load-balancer-operator"
	alboSA  = "aws-load-balancer-operator-controller-manager"
	ccoNS   = "openshift-cloud-credential-operator"
)

func operatorData(parts ...string) string {
	return testdata(append([]string{"operators", "aws-load-balancer-operator"}, parts...)...)
}

// installOLM gives the cluster OLM's own CRDs (server-side: the CSV CRD
// is too large for a client-side apply's annotation).
func (c *stsCluster) installOLM(t *testing.T) {
	t.Helper()
	c.kubectl(t, "apply", "--server-side", "-f", testdata("crds", "olm"))
	c.kubectl(t, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
}

// installCSV installs a bundle's CSV into ns, as OLM copies it there, and
// points the Subscription at it, as OLM does once it has installed it.
func (c *stsCluster) installCSV(t *testing.T, ns, sub, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var csv map[string]any
	if err := yaml.Unmarshal(data, &csv); err != nil {
		t.Fatal(err)
	}
	meta := csv["metadata"].(map[string]any)
	meta["namespace"] = ns // the bundle says "placeholder"
	b, _ := json.Marshal(csv)
	f := filepath.Join(t.TempDir(), "csv.json")
	os.WriteFile(f, b, 0o644)
	c.kubectl(t, "apply", "--server-side", "-f", f)
	name := meta["name"].(string)
	status, _ := json.Marshal(map[string]any{"status": map[string]any{"installedCSV": name, "currentCSV": name, "state": "AtLatestKnown", "lastUpdated": "2026-01-01T00:00:00Z"}})
	c.kubectl(t, "patch", "subscription", "-n", ns, sub, "--subresource=status", "--type=merge", "-p", string(status))
	return name
}

// operatorCreates plays the operator: it creates its CredentialsRequest
// from the file where its code puts it, with the role of ROLEARN when the
// Subscription gives one (pkg/operator/credentials.go of the operator).
func (c *stsCluster) operatorCreates(t *testing.T, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cr map[string]any
	if err := yaml.Unmarshal(data, &cr); err != nil {
		t.Fatal(err)
	}
	cr["metadata"].(map[string]any)["namespace"] = ccoNS
	if arn := c.subscriptionEnv(t, alboNS, alboSub, "ROLEARN"); arn != "" {
		spec := cr["spec"].(map[string]any)
		spec["providerSpec"].(map[string]any)["stsIAMRoleARN"] = arn
		spec["cloudTokenPath"] = "/var/run/secrets/openshift/serviceaccount/token"
	}
	b, _ := json.Marshal(cr)
	f := filepath.Join(t.TempDir(), "cr.json")
	os.WriteFile(f, b, 0o644)
	c.kubectl(t, "apply", "-f", f)
}

func (c *stsCluster) subscriptionEnv(t *testing.T, ns, sub, name string) string {
	t.Helper()
	return c.kubectl(t, "get", "subscription", "-n", ns, sub, "-o", fmt.Sprintf(`jsonpath={.spec.config.env[?(@.name=="%s")].value}`, name))
}

// ccoSync runs the cloud-credential-operator's own AWS actuator on the
// cluster's CredentialsRequests (bin/tools/cco-sts-secret, make test-tools).
func (c *stsCluster) ccoSync(t *testing.T) {
	t.Helper()
	bin := filepath.Join(repoRoot(), "bin", "tools", "cco-sts-secret")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run make test-tools", bin)
	}
	// The operator reads the cluster's region (and more) from its Infrastructure.
	c.apply(t, "apiVersion: config.openshift.io/v1\nkind: Infrastructure\nmetadata: {name: cluster}\nspec: {platformSpec: {type: AWS}}")
	status := `{"status":{"infrastructureName":"` + c.plan.Name + `","platform":"AWS","platformStatus":{"type":"AWS","aws":{"region":"us-east-2"}},` +
		`"controlPlaneTopology":"HighlyAvailable","infrastructureTopology":"HighlyAvailable","apiServerURL":"https://api.example.com:6443","apiServerInternalURI":"https://api-int.example.com:6443","etcdDiscoveryDomain":""}}`
	c.kubectl(t, "patch", "infrastructure", "cluster", "--subresource=status", "--type=merge", "-p", status)
	if res := runCmd(t, exec.Command(bin, "--kubeconfig", c.kube.Kubeconfig)); res.code != 0 {
		t.Fatalf("cco-sts-secret: exit %d\n%s", res.code, res.stderr)
	}
}

type operatorReport struct {
	Roles []struct {
		Name, ARN, Origin  string
		TrustPolicy        json.RawMessage
		Policy             json.RawMessage
		CredentialsRequest struct{ ServiceAccounts []string }
		Wiring             struct{ Env, Secret string }
	}
	Changes []struct {
		Resource, Name, Action string
	}
	ClusterChanges []struct{ Object, Field, Action, From, To string }
}

func (c *stsCluster) operator(t *testing.T, args ...string) (operatorReport, result) {
	t.Helper()
	res := c.w.ocSTS(t, append([]string{"operator", "--kubeconfig", c.kube.Kubeconfig, "--region", "us-east-2", "-o", "json"}, args...)...)
	var r operatorReport
	if res.code == 0 {
		if err := json.Unmarshal([]byte(res.stdout), &r); err != nil {
			t.Fatalf("operator -o json: %v\nstdout %s\nstderr %s", err, res.stdout, res.stderr)
		}
	}
	return r, res
}

// exchange gets a TokenRequest token of a service account (audience
// openshift) from the kube-apiserver and trades it at STS for roleARN,
// through the gate, which verifies it against the published issuer as STS does.
// convergedRerun runs oc sts operator again, which must change nothing in
// AWS or the cluster, then verify, which must pass.
func (c *stsCluster) convergedRerun(t *testing.T, args ...string) clustercheck.Report {
	t.Helper()
	c.w.gate.ResetLog()
	again, res := c.operator(t, args...)
	if res.code != 0 || len(again.Changes) != 0 || len(again.ClusterChanges) != 0 {
		t.Errorf("a second run: exit %d, changes %+v %+v\n%s", res.code, again.Changes, again.ClusterChanges, res.stderr)
	}
	if m := c.w.mutating(); len(m) != 0 {
		t.Errorf("a converged re-run called %v", m)
	}
	vr, res := c.verify(t)
	if res.code != 0 {
		t.Fatalf("verify: exit %d %+v\n%s", res.code, failed(vr), res.stderr)
	}
	return vr
}

func (c *stsCluster) exchange(t *testing.T, ns, sa, roleARN string) error {
	t.Helper()
	tok := strings.TrimSpace(c.kubectl(t, "create", "token", "-n", ns, sa, "--audience", "openshift", "--duration", "10m"))
	cfg := c.w.direct.Copy()
	cfg.BaseEndpoint = aws.String(strings.TrimPrefix(c.w.env[0], "AWS_ENDPOINT_URL="))
	_, err := sts.NewFromConfig(cfg).AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: &roleARN, RoleSessionName: aws.String("e2e"), WebIdentityToken: &tok})
	return err
}

// roleDoc reads a role's trust or inline policy straight from moto.
func (c *stsCluster) role(t *testing.T, name string) (trust, policy string, tags map[string]string) {
	t.Helper()
	ctx := context.Background()
	got, err := c.w.iam().GetRole(ctx, &iam.GetRoleInput{RoleName: &name})
	if err != nil {
		t.Fatalf("role %s: %v", name, err)
	}
	trust, _ = url.QueryUnescape(aws.ToString(got.Role.AssumeRolePolicyDocument))
	pol, err := c.w.iam().GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: &name, PolicyName: &name})
	if err != nil {
		t.Fatalf("policy of %s: %v", name, err)
	}
	policy, _ = url.QueryUnescape(aws.ToString(pol.PolicyDocument))
	tags = map[string]string{}
	for _, tg := range got.Role.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return trust, policy, tags
}

func resultOf(r clustercheck.Report, check, object string) *clustercheck.Result {
	for i := range r.Results {
		if r.Results[i].Check == check && r.Results[i].Object == object {
			return &r.Results[i]
		}
	}
	return nil
}

// The AWS Load Balancer Operator, as OLM installs it: its CSV supports
// token auth and it creates its CredentialsRequest at start-up. oc sts
// operator makes the role and sets ROLEARN; the operator (played by the
// test) puts it in its request, the cloud-credential-operator's own code
// writes the Secret; the service account's token is traded at STS for the
// role; a re-run changes nothing; verify passes; an operator update that
// needs more is reported by upgrade-check and converged; --delete leaves
// nothing of it.
func TestOperatorRoleForASubscription(t *testing.T) {
	t.Parallel()
	c := newSTSCluster(t, "4.16")
	c.installOLM(t)
	c.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: %[2]s, namespace: %[1]s}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: other, namespace: %[1]s}
---
apiVersion: operators.coreos.com/v1alpha1
kind: Subscription
metadata: {name: %[3]s, namespace: %[1]s}
spec: {channel: stable-v1, name: aws-load-balancer-operator, source: redhat-operators, sourceNamespace: openshift-marketplace,
  installPlanApproval: Manual, config: {env: [{name: HTTP_PROXY, value: "http://proxy.example.com:3128"}]}}`, alboNS, alboSA, alboSub))
	c.installCSV(t, alboNS, alboSub, operatorData("v1.1.0.clusterserviceversion.yaml"))
	c.operatorCreates(t, operatorData("operator-credentials-request-2234d1e4.yaml"))

	roleName := c.plan.Name + "-aws-load-balancer-operator-aws-load-balancer-operator"
	c.w.gate.ResetLog()
	report, res := c.operator(t, "--subscription", alboSub, "-n", alboNS, "--dry-run")
	if res.code != 0 || len(report.Changes) != 1 || len(report.ClusterChanges) != 1 ||
		!strings.Contains(res.stderr, "  + iam-role "+roleName) || !strings.Contains(res.stderr, "  + subscription "+alboNS+"/"+alboSub+" spec.config.env[ROLEARN]: arn:aws:iam::") {
		t.Errorf("--dry-run: exit %d %+v %+v\n%s", res.code, report.Changes, report.ClusterChanges, res.stderr)
	}
	if m := c.w.mutating(); len(m) != 0 || c.subscriptionEnv(t, alboNS, alboSub, "ROLEARN") != "" {
		t.Errorf("--dry-run changed something: AWS %v", m)
	}

	report, res = c.operator(t, "--subscription", alboSub, "-n", alboNS, "--yes")
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if len(report.Roles) != 1 || report.Roles[0].Name != roleName || report.Roles[0].Wiring.Env != "ROLEARN" ||
		!strings.Contains(report.Roles[0].Origin, "the cluster: credentialsrequest openshift-cloud-credential-operator/aws-load-balancer-operator") {
		t.Fatalf("roles %+v", report.Roles)
	}
	roleARN := report.Roles[0].ARN
	if !strings.Contains(res.stderr, "Permissions of CredentialsRequest openshift-cloud-credential-operator/aws-load-balancer-operator: from the cluster") {
		t.Errorf("where the permissions came from is not said:\n%s", res.stderr)
	}
	trust, policy, tags := c.role(t, roleName)
	wantTrust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"%s"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"%s:aud":"openshift","%s:sub":["system:serviceaccount:%s:%s"]}}}]}`,
		c.plan.OIDCProvider.ARN, c.plan.Issuer.HostPath, c.plan.Issuer.HostPath, alboNS, alboSA)
	if trust != wantTrust {
		t.Errorf("trust\n got %s\nwant %s", trust, wantTrust)
	}
	for _, a := range []string{"ec2:CreateTags", "ec2:DeleteTags", "ec2:DescribeSubnets"} {
		if !strings.Contains(policy, `"`+a+`"`) {
			t.Errorf("policy lacks %s: %s", a, policy)
		}
	}
	if tags["openshift.io/cloud-credential-operator/"+c.plan.Name] != "owned" || tags["oc-sts.openshift.io/subscription"] != alboNS+"/"+alboSub {
		t.Errorf("tags %v", tags)
	}
	if got := c.subscriptionEnv(t, alboNS, alboSub, "ROLEARN"); got != roleARN {
		t.Errorf("ROLEARN is %q, want %s", got, roleARN)
	}
	if got := c.subscriptionEnv(t, alboNS, alboSub, "HTTP_PROXY"); got != "http://proxy.example.com:3128" {
		t.Errorf("the Subscription's other variables were not kept: HTTP_PROXY %q", got)
	}

	// The operator restarts with ROLEARN, the cloud-credential-operator writes its Secret.
	c.operatorCreates(t, operatorData("operator-credentials-request-2234d1e4.yaml"))
	c.ccoSync(t)
	if got := c.kubectl(t, "get", "secret", "-n", alboNS, "aws-load-balancer-operator", "-o", "jsonpath={.data.credentials}"); got == "" {
		t.Fatal("the cloud-credential-operator wrote no Secret")
	}
	if err := c.exchange(t, alboNS, alboSA, roleARN); err != nil {
		t.Errorf("the operator's token is refused at STS: %v", err)
	}
	if err := c.exchange(t, alboNS, "other", roleARN); err == nil {
		t.Error("another service account's token got the operator's role")
	}

	vr := c.convergedRerun(t, "--subscription", alboSub, "-n", alboNS, "--yes")
	object := "credentialsrequest " + ccoNS + "/aws-load-balancer-operator"
	if r := resultOf(vr, clustercheck.CheckTokenExchange, object); r == nil || r.Status != clustercheck.Pass {
		t.Errorf("no token exchange PASS for %s: %+v", object, r)
	}
	if r := resultOf(vr, "operator-role-arn", "subscription "+alboNS+"/"+alboSub); r == nil || r.Status != clustercheck.Pass {
		t.Errorf("no PASS for the Subscription's ROLEARN: %+v", r)
	}

	// An update of the operator that needs more than its role grants.
	c.setClusterVersion(t, "4.16.0", "quay.io/openshift-release-dev/ocp-release@sha256:"+strings.Repeat("0", 64), "", nil, nil)
	c.installCSV(t, alboNS, alboSub, operatorData("v1.2.0.clusterserviceversion.yaml"))
	c.operatorCreates(t, operatorData("operator-credentials-request-7d75b098.yaml"))
	ur, res := c.upgradeCheck(t, "--credentials-requests-dir", testdata("credentialsrequests", "4.16"), "--target-version", "4.16.1")
	f := finding(ur, "aws-load-balancer-operator", upgrade.OperatorMissingActions)
	if f == nil || !slices.Contains(f.Actions, "ec2:DescribeVpcs") || !strings.Contains(f.Detail, "aws-load-balancer-operator.v1.2.0") ||
		!strings.Contains(f.Apply, "oc sts operator --subscription "+alboSub+" -n "+alboNS) {
		t.Errorf("the update's missing permission is not reported: %+v\n%s", ur.Findings, res.stderr)
	}
	report, res = c.operator(t, "--subscription", alboSub, "-n", alboNS, "--yes")
	if res.code != 0 || len(report.Changes) != 1 || report.Changes[0].Action != "update" {
		t.Errorf("converging the update: exit %d %+v\n%s", res.code, report.Changes, res.stderr)
	}
	if ur, _ := c.upgradeCheck(t, "--credentials-requests-dir", testdata("credentialsrequests", "4.16"), "--target-version", "4.16.1"); finding(ur, "aws-load-balancer-operator", upgrade.OperatorMissingActions) != nil {
		t.Errorf("still reported after converging: %+v", ur.Findings)
	}

	// --delete: the role and the wiring go; prepare's roles stay.
	report, res = c.operator(t, "--subscription", alboSub, "-n", alboNS, "--delete", "--yes")
	if res.code != 0 {
		t.Fatalf("--delete: exit %d\n%s", res.code, res.stderr)
	}
	if _, err := c.w.iam().GetRole(context.Background(), &iam.GetRoleInput{RoleName: &roleName}); err == nil {
		t.Error("the operator's role is still there")
	}
	if got := c.subscriptionEnv(t, alboNS, alboSub, "ROLEARN"); got != "" {
		t.Errorf("ROLEARN is still %q", got)
	}
	for _, r := range c.plan.Roles {
		if _, err := c.w.iam().GetRole(context.Background(), &iam.GetRoleInput{RoleName: &r.Name}); err != nil {
			t.Errorf("prepare's role %s went with the operator's: %v", r.Name, err)
		}
	}
}

// The EFS CSI driver's CredentialsRequests as its operator ships them
// (${NAMESPACE} in one, no service accounts in either), given with -f:
// -n fills the placeholder, --service-account the accounts; oc sts writes
// their Secrets and records the requests, verify holds the roles to them,
// a re-run changes nothing, and destroy removes the roles with the cluster's.
func TestOperatorRoleFromAFile(t *testing.T) {
	t.Parallel()
	const ns = "openshift-cluster-csi-drivers"
	c := newSTSCluster(t, "4.16")
	c.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: aws-efs-csi-driver-controller-sa, namespace: %[1]s}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: aws-efs-csi-driver-node-sa, namespace: %[1]s}`, ns))
	files := []string{"-f", testdata("credentialsrequests", "edge-cases", "csi-operator_aws-efs_credentials.yaml"),
		"-f", testdata("credentialsrequests", "edge-cases", "csi-operator_aws-efs_credentials-node.yaml")}
	sas := []string{"--service-account", "openshift-aws-efs-csi-driver=aws-efs-csi-driver-controller-sa",
		"--service-account", "openshift-aws-efs-csi-driver-node=aws-efs-csi-driver-node-sa"}

	c.w.gate.ResetLog()
	if _, res := c.operator(t, append(files, "--yes")...); res.code == 0 || !strings.Contains(res.stderr, "csi-operator_aws-efs_credentials.yaml:9: ${NAMESPACE} is a template placeholder: give its value with --namespace") {
		t.Errorf("without -n: exit %d\n%s", res.code, res.stderr)
	}
	if m := c.w.mutating(); len(m) != 0 {
		t.Errorf("a refused run called %v", m)
	}

	args := append(append(append([]string(nil), files...), sas...), "-n", ns, "--yes")
	report, res := c.operator(t, args...)
	if res.code != 0 || len(report.Roles) != 2 {
		t.Fatalf("exit %d, roles %+v\n%s", res.code, report.Roles, res.stderr)
	}
	for _, r := range report.Roles {
		secret := r.Wiring.Secret
		sa := map[string]string{ns + "/aws-efs-cloud-credentials": "aws-efs-csi-driver-controller-sa", ns + "/node-aws-efs-cloud-credentials": "aws-efs-csi-driver-node-sa"}[secret]
		if sa == "" || r.Wiring.Env != "" {
			t.Fatalf("role %s wired %+v", r.Name, r.Wiring)
		}
		trust, _, tags := c.role(t, r.Name)
		if !strings.Contains(trust, `:sub":["system:serviceaccount:`+ns+`:`+sa+`"]`) || tags["oc-sts.openshift.io/added-service-accounts"] != sa {
			t.Errorf("role %s: trust %s tags %v", r.Name, trust, tags)
		}
		got := c.kubectl(t, "get", "secret", "-n", ns, strings.TrimPrefix(secret, ns+"/"), "-o", "jsonpath={.data.credentials}")
		if creds, _ := base64.StdEncoding.DecodeString(got); !strings.Contains(string(creds), "role_arn = "+r.ARN) {
			t.Errorf("secret %s: %q", secret, creds)
		}
		if err := c.exchange(t, ns, sa, r.ARN); err != nil {
			t.Errorf("%s's token is refused for %s: %v", sa, r.ARN, err)
		}
	}
	if got := c.kubectl(t, "get", "credentialsrequest", "-n", ccoNS, "openshift-aws-efs-csi-driver", "-o", "jsonpath={.spec.secretRef.namespace}"); got != ns {
		t.Errorf("the recorded request's Secret namespace is %q", got)
	}

	vr := c.convergedRerun(t, args...)
	for _, name := range []string{"openshift-aws-efs-csi-driver", "openshift-aws-efs-csi-driver-node"} {
		if r := resultOf(vr, clustercheck.CheckTokenExchange, "credentialsrequest "+ccoNS+"/"+name); r == nil || r.Status != clustercheck.Pass {
			t.Errorf("no token exchange PASS for %s: %+v", name, r)
		}
	}

	// --delete: the roles, the Secrets oc sts wrote and its records go.
	del := append(append([]string(nil), files...), "-n", ns, "--delete", "--yes")
	if _, res := c.operator(t, del...); res.code != 0 {
		t.Fatalf("--delete: exit %d\n%s", res.code, res.stderr)
	}
	for _, r := range report.Roles {
		if _, err := c.w.iam().GetRole(context.Background(), &iam.GetRoleInput{RoleName: &r.Name}); err == nil {
			t.Errorf("--delete left the role %s", r.Name)
		}
	}
	if got := c.kubectl(t, "get", "secrets,credentialsrequests", "-A", "--field-selector", "metadata.namespace!=kube-system", "-o", "name"); strings.Contains(got, "aws-efs") {
		t.Errorf("--delete left %s", got)
	}

	// destroy removes an operator's roles with the cluster's.
	if _, res := c.operator(t, args...); res.code != 0 {
		t.Fatalf("again: exit %d\n%s", res.code, res.stderr)
	}
	if res := c.w.ocSTS(t, "destroy", "--dir", c.dir, "--yes"); res.code != 0 {
		t.Fatalf("destroy: exit %d\n%s", res.code, res.stderr)
	}
	for _, r := range report.Roles {
		if _, err := c.w.iam().GetRole(context.Background(), &iam.GetRoleInput{RoleName: &r.Name}); err == nil {
			t.Errorf("destroy left the operator's role %s", r.Name)
		}
	}
}
