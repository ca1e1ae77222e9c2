package operator

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/credreq"
)

func testdata(parts ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "..", "..", "test", "testdata"}, parts...)...)
}

var efsFiles = []string{
	testdata("credentialsrequests", "edge-cases", "csi-operator_aws-efs_credentials.yaml"),
	testdata("credentialsrequests", "edge-cases", "csi-operator_aws-efs_credentials-node.yaml"),
}

func object(t *testing.T, path string, namespace string) unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var obj unstructured.Unstructured
	if err := yaml.Unmarshal(data, &obj.Object); err != nil {
		t.Fatal(err)
	}
	if namespace != "" {
		obj.SetNamespace(namespace)
	}
	return obj
}

// The shipped EFS CredentialsRequests: ${NAMESPACE} filled from
// --namespace, the service accounts they leave out added, then validated.
func TestEFSRendersWithNamespace(t *testing.T) {
	sas, err := ParseServiceAccounts([]string{"aws-efs-csi-driver-operator", "openshift-aws-efs-csi-driver=aws-efs-csi-driver-controller-sa",
		"openshift-aws-efs-csi-driver-node=aws-efs-csi-driver-node-sa"})
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := FromFiles(efsFiles, "openshift-cluster-csi-drivers", sas)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	ctrl, node := reqs[0], reqs[1]
	if ctrl.Name() != "openshift-aws-efs-csi-driver" || ctrl.CR.Spec.SecretRef.Namespace != "openshift-cluster-csi-drivers" || ctrl.CR.Spec.SecretRef.Name != "aws-efs-cloud-credentials" {
		t.Errorf("controller request %s -> %s/%s", ctrl.Name(), ctrl.CR.Spec.SecretRef.Namespace, ctrl.CR.Spec.SecretRef.Name)
	}
	if got := ctrl.CR.Spec.ServiceAccountNames; !slices.Equal(got, []string{"aws-efs-csi-driver-operator", "aws-efs-csi-driver-controller-sa"}) {
		t.Errorf("controller service accounts %v", got)
	}
	if got := node.CR.Spec.ServiceAccountNames; !slices.Equal(got, []string{"aws-efs-csi-driver-operator", "aws-efs-csi-driver-node-sa"}) {
		t.Errorf("node service accounts %v", got)
	}
	if !strings.HasPrefix(ctrl.Origin, "file ") || !strings.HasSuffix(ctrl.Origin, "csi-operator_aws-efs_credentials.yaml") {
		t.Errorf("origin %q", ctrl.Origin)
	}
	if ctrl.AWS.StatementEntries[0].Action[0] != "elasticfilesystem:*" {
		t.Errorf("statements %+v", ctrl.AWS.StatementEntries)
	}

	target := Target{Name: "c1", Partition: "aws", AccountID: "123456789012", IssuerHost: "mycluster-oidc.s3.us-east-2.amazonaws.com",
		ProviderARN: "arn:aws:iam::123456789012:oidc-provider/mycluster-oidc.s3.us-east-2.amazonaws.com"}
	w, err := Assign(reqs, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	roles, err := Roles(target, "", reqs, w)
	if err != nil {
		t.Fatal(err)
	}
	if roles[0].Name != "c1-openshift-cluster-csi-drivers-aws-efs-cloud-credentials" || roles[0].ARN != "arn:aws:iam::123456789012:role/c1-openshift-cluster-csi-drivers-aws-efs-cloud-credentials" {
		t.Errorf("role %s %s", roles[0].Name, roles[0].ARN)
	}
	if roles[1].Name != "c1-openshift-cluster-csi-drivers-node-aws-efs-cloud-credentials" {
		t.Errorf("node role %q", roles[1].Name)
	}
	var trust struct {
		Statement []struct {
			Principal map[string]string
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal(roles[0].TrustPolicy, &trust); err != nil {
		t.Fatal(err)
	}
	cond := trust.Statement[0].Condition["StringEquals"]
	subs, _ := cond["mycluster-oidc.s3.us-east-2.amazonaws.com:sub"].([]any)
	if len(subs) != 2 || subs[0] != "system:serviceaccount:openshift-cluster-csi-drivers:aws-efs-csi-driver-controller-sa" ||
		subs[1] != "system:serviceaccount:openshift-cluster-csi-drivers:aws-efs-csi-driver-operator" || cond["mycluster-oidc.s3.us-east-2.amazonaws.com:aud"] != "openshift" {
		t.Errorf("trust %s", roles[0].TrustPolicy)
	}
	if trust.Statement[0].Principal["Federated"] != target.ProviderARN {
		t.Errorf("trust principal %v", trust.Statement[0].Principal)
	}
	tags := map[string]string{}
	for _, tg := range roles[0].Tags {
		tags[tg.Key] = tg.Value
	}
	if tags["openshift.io/cloud-credential-operator/c1"] != "owned" || tags[RequestTag] != "openshift-cloud-credential-operator/openshift-aws-efs-csi-driver" {
		t.Errorf("tags %v", tags)
	}
	if roles[0].Wiring.Env != "" || roles[0].Wiring.Secret != "openshift-cluster-csi-drivers/aws-efs-cloud-credentials" {
		t.Errorf("wiring %+v", roles[0].Wiring)
	}
}

func TestPlaceholdersNeedTheirFlag(t *testing.T) {
	_, err := FromFiles(efsFiles[:1], "", ServiceAccounts{All: []string{"sa"}})
	if err == nil || !strings.Contains(err.Error(), "csi-operator_aws-efs_credentials.yaml:9: ${NAMESPACE} is a template placeholder: give its value with --namespace") {
		t.Errorf("got %v", err)
	}
	// Validated after substitution: a value is a name, never YAML.
	_, err = FromFiles(efsFiles[:1], "Bad Namespace", ServiceAccounts{All: []string{"sa"}})
	if err == nil || !strings.Contains(err.Error(), `spec.secretRef.namespace "Bad Namespace" is not a valid name`) {
		t.Errorf("got %v", err)
	}
	// No service account at all: the role would trust no one.
	_, err = FromFiles(efsFiles[:1], "ns", ServiceAccounts{})
	if err == nil || !strings.Contains(err.Error(), "--service-account") {
		t.Errorf("got %v", err)
	}
	if _, err := ParseServiceAccounts([]string{"no such=sa"}); err == nil {
		t.Error("a bad request name is accepted")
	}
	sas, _ := ParseServiceAccounts([]string{"openshift-aws-efs-csi-driver-nod=sa", "x"})
	reqs, err := FromFiles(efsFiles, "ns", sas)
	if err != nil {
		t.Fatal(err)
	}
	if err := sas.CheckKnown(reqs); err == nil || !strings.Contains(err.Error(), `no CredentialsRequest "openshift-aws-efs-csi-driver-nod"`) {
		t.Errorf("a REQUEST=SA for no request: %v", err)
	}
}

func albo(t *testing.T, file string) unstructured.Unstructured {
	return object(t, testdata("operators", "aws-load-balancer-operator", file), "openshift-cloud-credential-operator")
}

func TestCSVOfARealBundle(t *testing.T) {
	obj := object(t, testdata("operators", "aws-load-balancer-operator", "v1.2.0.clusterserviceversion.yaml"), "aws-load-balancer-operator")
	c := csvFrom(&obj)
	if c.Name != "aws-load-balancer-operator.v1.2.0" || c.Version != "1.2.0" || !c.TokenAuthAWS || !slices.Equal(c.ServiceAccounts, []string{"aws-load-balancer-operator-controller-manager"}) {
		t.Errorf("%+v", c)
	}
}

func TestClusterRequestsOfTheOperator(t *testing.T) {
	sub := &Subscription{Namespace: "aws-load-balancer-operator", Name: "aws-load-balancer-operator"}
	payload := object(t, testdata("credentialsrequests", "4.16", "0000_50_cluster-ingress-operator_00-ingress-credentials-request.yaml"), "")
	items := []unstructured.Unstructured{albo(t, "operator-credentials-request-7d75b098.yaml"), payload}
	reqs, err := clusterRequests(items, sub, ServiceAccounts{})
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 1 || reqs[0].Key() != "openshift-cloud-credential-operator/aws-load-balancer-operator" || !reqs[0].InCluster ||
		!strings.Contains(reqs[0].Origin, "its Secret goes to the operator's namespace aws-load-balancer-operator") {
		t.Fatalf("%+v", reqs)
	}
	// A payload request whose Secret is in the operator's namespace is not the operator's.
	payload.Object["spec"].(map[string]any)["secretRef"].(map[string]any)["namespace"] = sub.Namespace
	if reqs, _ := clusterRequests([]unstructured.Unstructured{payload}, sub, ServiceAccounts{}); len(reqs) != 0 {
		t.Errorf("the payload's request was taken: %+v", reqs)
	}
	// Once wired, a request elsewhere (Loki's, in the LokiStack's namespace) is found by its role.
	other := albo(t, "operator-credentials-request-7d75b098.yaml")
	other.Object["spec"].(map[string]any)["secretRef"].(map[string]any)["namespace"] = "openshift-logging"
	if reqs, _ := clusterRequests([]unstructured.Unstructured{other}, sub, ServiceAccounts{}); len(reqs) != 0 {
		t.Errorf("an unrelated request was taken")
	}
	other.Object["spec"].(map[string]any)["providerSpec"].(map[string]any)["stsIAMRoleARN"] = "arn:aws:iam::123456789012:role/r"
	sub.Env = []corev1.EnvVar{{Name: "ROLEARN", Value: "arn:aws:iam::123456789012:role/r"}}
	if reqs, _ := clusterRequests([]unstructured.Unstructured{other}, sub, ServiceAccounts{}); len(reqs) != 1 || !strings.Contains(reqs[0].Origin, "stsIAMRoleARN is the Subscription's ROLEARN") {
		t.Errorf("the wired request was not found: %+v", reqs)
	}
}

func TestAssign(t *testing.T) {
	sub := &Subscription{Namespace: "aws-load-balancer-operator", Name: "aws-load-balancer-operator"}
	csv := &CSV{Name: "aws-load-balancer-operator.v1.2.0", TokenAuthAWS: true, ServiceAccounts: []string{"aws-load-balancer-operator-controller-manager"}}
	operatorCR := albo(t, "operator-credentials-request-7d75b098.yaml")
	controller := albo(t, "operator-credentials-request-7d75b098.yaml")
	controller.SetName("aws-load-balancer-controller-cluster")
	controller.Object["spec"].(map[string]any)["serviceAccountNames"] = []any{"aws-load-balancer-controller-cluster"}
	controller.Object["spec"].(map[string]any)["secretRef"].(map[string]any)["name"] = "aws-load-balancer-controller-cluster"
	reqs, err := clusterRequests([]unstructured.Unstructured{operatorCR, controller}, sub, ServiceAccounts{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := Assign(reqs, sub, csv)
	if err != nil {
		t.Fatal(err)
	}
	// sorted by key: the controller's first
	if w[0].Env != "" || w[1].Env != "ROLEARN" || !strings.Contains(w[0].Reason, "ROLEARN serves openshift-cloud-credential-operator/aws-load-balancer-operator") {
		t.Errorf("%+v", w)
	}
	if w, _ := Assign(reqs, sub, &CSV{Name: "old", ServiceAccounts: csv.ServiceAccounts}); w[0].Env != "" || w[1].Env != "" || !strings.Contains(w[1].Reason, "lacks "+TokenAuthAnnotation) {
		t.Errorf("without token auth: %+v", w)
	}
	if _, err := Assign(reqs, sub, &CSV{Name: "x", TokenAuthAWS: true}); err == nil || !strings.Contains(err.Error(), "cannot tell which") {
		t.Errorf("ambiguous: %v", err)
	}
	sas := ServiceAccounts{All: []string{"sa"}}
	efs, err := FromFiles(efsFiles, "openshift-cluster-csi-drivers", sas)
	if err != nil {
		t.Fatal(err)
	}
	w, err = Assign(efs, &Subscription{Namespace: "openshift-cluster-csi-drivers", Name: "aws-efs-csi-driver-operator"}, &CSV{Name: "efs", TokenAuthAWS: true})
	if err != nil || w[0].Env != "ROLEARN" || w[1].Env != "NODE_ROLEARN" {
		t.Errorf("EFS: %+v %v", w, err)
	}
}

func TestDiffWiring(t *testing.T) {
	sub := &Subscription{Namespace: "ns", Name: "op", Env: []corev1.EnvVar{{Name: "HTTP_PROXY", Value: "p"}}}
	cr := &ccov1.CredentialsRequest{ObjectMeta: metav1.ObjectMeta{Namespace: "openshift-cloud-credential-operator", Name: "b"}}
	env := Role{Wiring: Wiring{Env: "ROLEARN", Secret: "ns/a"}}
	env.ARN = "arn:aws:iam::123456789012:role/c-ns-a"
	sec := Role{Wiring: Wiring{Secret: "ns/b"}, Request: Request{Request: credreq.Request{CR: cr, File: "b.yaml"}}}
	sec.ARN = "arn:aws:iam::123456789012:role/c-ns-b"
	o := &Observed{Subscription: sub, Secrets: map[string]clustercheck.Secret{"ns/b": {Found: true, StaticKeys: true}}, Namespaces: map[string]bool{"ns": true},
		Records: map[string]*unstructured.Unstructured{}}
	if _, err := DiffWiring([]Role{env, sec}, o); err == nil || !strings.Contains(err.Error(), `credentialsMode is "", not Manual`) {
		t.Errorf("a record on a cluster whose cloud-credential-operator would mint keys: %v", err)
	}
	o.CredentialsMode = "Manual"
	changes, err := DiffWiring([]Role{env, sec}, o)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"  + subscription ns/op spec.config.env[ROLEARN]: arn:aws:iam::123456789012:role/c-ns-a",
		"  + credentialsrequest openshift-cloud-credential-operator/b spec: as given in b.yaml (what verify and upgrade-check hold the role to)",
		"  ~ secret ns/b data.credentials: static access keys (long-lived; deactivate them in IAM afterwards) -> arn:aws:iam::123456789012:role/c-ns-b",
	}
	var got []string
	for _, ch := range changes {
		got = append(got, ch.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	rec, _ := record(sec)
	o.Records[sec.Request.Key()] = rec
	sub.Env = append(sub.Env, corev1.EnvVar{Name: "ROLEARN", Value: env.ARN})
	o.Secrets["ns/b"] = clustercheck.Secret{Found: true, RoleARN: sec.ARN, TokenFile: "/var/run/secrets/openshift/serviceaccount/token", Regional: true}
	if changes, err := DiffWiring([]Role{env, sec}, o); err != nil || len(changes) != 0 {
		t.Errorf("converged: %v %v", changes, err)
	}
	o.Namespaces["ns"] = false
	if _, err := DiffWiring([]Role{sec}, o); err == nil || !strings.Contains(err.Error(), "namespace ns does not exist") {
		t.Errorf("missing namespace: %v", err)
	}
	o.Namespaces["ns"] = true
	sec.Request.STSRoleARN = "arn:aws:iam::123456789012:role/someone-elses"
	if _, err := DiffWiring([]Role{sec}, o); err == nil || !strings.Contains(err.Error(), "will not write another role") {
		t.Errorf("a request with another stsIAMRoleARN: %v", err)
	}

	deleted := map[string]bool{env.ARN: true, sec.ARN: true}
	o.CCOSecrets = map[string]bool{}
	un := DiffUnwire(deleted, sub, o)
	if len(un) != 3 || un[0].String() != "  - subscription ns/op spec.config.env[ROLEARN] (was "+env.ARN+")" || un[1].Object != "secret ns/b" ||
		un[2].String() != "  - credentialsrequest openshift-cloud-credential-operator/b spec (was recorded from b.yaml)" {
		t.Errorf("unwire %v", un)
	}
	o.CCOSecrets["ns/b"] = true
	delete(o.Records, sec.Request.Key())
	if un := DiffUnwire(deleted, sub, o); len(un) != 1 {
		t.Errorf("a Secret the cloud-credential-operator wrote is deleted: %v", un)
	}
}

func TestTagValueFitsAWS(t *testing.T) {
	long := "openshift-cloud-credential-operator/" + strings.Repeat("a", 253)
	v := TagValue(long)
	if len(v) != 256 || v == TagValue(long[:len(long)-1]+"b") || TagValue("ns/name") != "ns/name" {
		t.Errorf("%d %q", len(v), v)
	}
}
