package credreq

import (
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
)

func testdata(parts ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "..", "..", "test", "testdata", "credentialsrequests"}, parts...)...)
}

func mustRead(t *testing.T, dirs ...string) []File {
	t.Helper()
	var all []File
	for _, d := range dirs {
		files, err := ReadDir(testdata(d))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, files...)
	}
	return all
}

func selectNames(t *testing.T, files []File, s ClusterSettings) []string {
	t.Helper()
	in, err := NewInclusion(s)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := Select(files, in)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range sel.Requests {
		names = append(names, r.Name())
	}
	sort.Strings(names)
	return names
}

func caps(baseline string, extra ...string) *configv1.ClusterVersionCapabilitiesSpec {
	s := &configv1.ClusterVersionCapabilitiesSpec{BaselineCapabilitySet: configv1.ClusterVersionCapabilitySet(baseline)}
	for _, e := range extra {
		s.AdditionalEnabledCapabilities = append(s.AdditionalEnabledCapabilities, configv1.ClusterVersionCapability(e))
	}
	return s
}

var default416 = []string{
	"aws-ebs-csi-driver-operator", "cloud-credential-operator-iam-ro", "openshift-cloud-network-config-controller-aws",
	"openshift-image-registry", "openshift-ingress", "openshift-machine-api-aws",
}

func TestSelectFixtureReleases(t *testing.T) {
	tests := []struct {
		name     string
		dir      string
		settings ClusterSettings
		want     []string
	}{
		{"4.16 default", "4.16", ClusterSettings{}, default416},
		{"4.16 tech preview adds cluster-api", "4.16", ClusterSettings{FeatureSet: "TechPreviewNoUpgrade"},
			append([]string{"openshift-cluster-api-aws"}, default416...)},
		{"4.16 capabilities None: every request needs CloudCredential", "4.16", ClusterSettings{Capabilities: caps("None")}, nil},
		{"4.16 None plus CloudCredential", "4.16", ClusterSettings{Capabilities: caps("None", "CloudCredential")},
			[]string{"cloud-credential-operator-iam-ro", "openshift-cloud-network-config-controller-aws"}},
		{"4.16 None plus CloudCredential and Storage (A+B needs both)", "4.16", ClusterSettings{Capabilities: caps("None", "CloudCredential", "Storage")},
			[]string{"aws-ebs-csi-driver-operator", "cloud-credential-operator-iam-ro", "openshift-cloud-network-config-controller-aws"}},
		{"4.12 default", "4.12", ClusterSettings{}, []string{
			"aws-ebs-csi-driver-operator", "cloud-credential-operator-iam-ro", "openshift-cloud-network-config-controller-aws",
			"openshift-image-registry", "openshift-ingress", "openshift-machine-api-aws"}},
		{"4.12 baseline v4.11 drops Storage", "4.12", ClusterSettings{Capabilities: caps("v4.11")}, []string{
			"cloud-credential-operator-iam-ro", "openshift-cloud-network-config-controller-aws",
			"openshift-image-registry", "openshift-ingress", "openshift-machine-api-aws"}},
		{"other clouds only", "other-clouds", ClusterSettings{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := selectNames(t, mustRead(t, tt.dir), tt.settings)
			sort.Strings(tt.want)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("included %v\nwant       %v", got, tt.want)
			}
		})
	}
}

// A release's tombstones (one reusing a live AWS name) never become roles
// and never clash with the live request.
func TestTombstonesAreSkipped(t *testing.T) {
	files := mustRead(t, "4.16")
	for _, name := range []string{"0000_99_machine-api-operator_00_tombstones.yaml", "0000_50_cluster-storage-operator_ibm-cloud-managed-cleanup.yaml"} {
		data, err := os.ReadFile(testdata("edge-cases", name))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, File{Name: name, Data: data})
	}
	in, _ := NewInclusion(ClusterSettings{})
	sel, err := Select(files, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Requests) != len(default416) {
		t.Errorf("got %d requests, want %d", len(sel.Requests), len(default416))
	}
	tomb := 0
	for _, d := range sel.Decisions {
		if strings.HasPrefix(d.Reason, "tombstone") {
			tomb++
			if d.Included {
				t.Errorf("tombstone %s included", d.Name)
			}
		}
	}
	if tomb == 0 {
		t.Error("no tombstone decision recorded")
	}
}

// The OLM-installed EFS controller request carries no annotations, so oc
// includes it; its template placeholder and missing service accounts are
// named. The node request is annotated without a profile: left out.
func TestInvalidRequestsNameFileAndField(t *testing.T) {
	in, _ := NewInclusion(ClusterSettings{})
	_, err := Select(mustRead(t, "edge-cases"), in)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{
		"csi-operator_aws-efs_credentials.yaml", `spec.secretRef.namespace "${NAMESPACE}" is a template placeholder`,
		"spec.serviceAccountNames is empty",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

const gated = `apiVersion: cloudcredential.openshift.io/v1
kind: CredentialsRequest
metadata:
  name: gated
  namespace: openshift-cloud-credential-operator
  annotations:
    include.release.openshift.io/self-managed-high-availability: "true"
    release.openshift.io/feature-gate: MyNewGate
spec:
  serviceAccountNames: [sa]
  secretRef: {name: s, namespace: ns}
  providerSpec:
    apiVersion: cloudcredential.openshift.io/v1
    kind: AWSProviderSpec
    statementEntries: [{effect: Allow, action: ["s3:GetObject"], resource: "*"}]
`

func TestFeatureGateAnnotation(t *testing.T) {
	files := []File{{Name: "gated.yaml", Data: []byte(gated)}}
	if got := selectNames(t, files, ClusterSettings{}); len(got) != 0 {
		t.Errorf("default feature set included %v", got)
	}
	got := selectNames(t, files, ClusterSettings{FeatureSet: "CustomNoUpgrade", FeatureGates: []string{"MyNewGate=true"}})
	if len(got) != 1 {
		t.Errorf("CustomNoUpgrade with the gate enabled included %v", got)
	}
}

func TestBadSettings(t *testing.T) {
	for _, s := range []ClusterSettings{
		{FeatureSet: "NoSuchSet"},
		{FeatureGates: []string{"A=true"}},
		{FeatureSet: "CustomNoUpgrade", FeatureGates: []string{"A"}},
		{FeatureSet: "CustomNoUpgrade", FeatureGates: []string{"A=yes"}},
		{Capabilities: caps("v9.99")},
	} {
		if _, err := NewInclusion(s); err == nil {
			t.Errorf("%+v: want an error", s)
		}
	}
}

func TestMalformedAndDuplicate(t *testing.T) {
	in, _ := NewInclusion(ClusterSettings{})
	_, err := Select([]File{{Name: "broken.yaml", Data: []byte("apiVersion: v1\nkind: [oops\n")}}, in)
	if err == nil || !strings.Contains(err.Error(), "broken.yaml") {
		t.Errorf("malformed YAML: got %v, want an error naming broken.yaml", err)
	}
	_, err = Select([]File{{Name: "a.yaml", Data: []byte(gated)}, {Name: "b.yaml", Data: []byte(gated)}},
		mustInclusion(t, ClusterSettings{FeatureSet: "CustomNoUpgrade", FeatureGates: []string{"MyNewGate=true"}}))
	if err == nil || !strings.Contains(err.Error(), "a.yaml") || !strings.Contains(err.Error(), "b.yaml") {
		t.Errorf("duplicate: got %v, want an error naming both files", err)
	}
}

func mustInclusion(t *testing.T, s ClusterSettings) *Inclusion {
	t.Helper()
	in, err := NewInclusion(s)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// Identity is metadata.name: the file a request ships in does not matter.
func TestIdentityIsMetadataName(t *testing.T) {
	files := mustRead(t, "4.16")
	for i := range files {
		files[i].Name = "renamed-" + files[i].Name
	}
	if got := selectNames(t, files, ClusterSettings{}); strings.Join(got, ",") != strings.Join(default416, ",") {
		t.Errorf("got %v", got)
	}
}

func FuzzSelect(f *testing.F) {
	for _, d := range []string{"4.12", "4.16", "edge-cases"} {
		files, _ := ReadDir(testdata(d))
		for _, file := range files {
			f.Add(file.Data)
		}
	}
	in, _ := NewInclusion(ClusterSettings{})
	f.Fuzz(func(t *testing.T, data []byte) {
		sel, err := Select([]File{{Name: "fuzz.yaml", Data: data}}, in)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		for _, r := range sel.Requests {
			if len(r.CR.Spec.ServiceAccountNames) == 0 || len(r.AWS.StatementEntries) == 0 || r.CR.Spec.SecretRef.Namespace == "" {
				t.Errorf("invalid request %q selected", r.Name())
			}
		}
	})
}

// Names from a release image are checked as the API server checks them:
// a newline or shell text in any of them never reaches a role, a trust
// policy or the aws CLI script.
func TestHostileNamesAreRefused(t *testing.T) {
	in := mustInclusion(t, ClusterSettings{})
	for field, tt := range map[string][2]string{
		"metadata.name":               {"name: gated", "name: \"x\\ntouch /tmp/pwned\""},
		"metadata.namespace":          {"namespace: openshift-cloud-credential-operator", "namespace: a.b"},
		"spec.secretRef.namespace":    {"namespace: ns}", "namespace: 'ns;rm -rf ~'}"},
		"spec.secretRef.name":         {"{name: s,", "{name: \"$(id)\","},
		"spec.serviceAccountNames[0]": {"[sa]", "[\"sa`id`\"]"},
	} {
		doc := strings.Replace(strings.Replace(gated, "    release.openshift.io/feature-gate: MyNewGate\n", "", 1), tt[0], tt[1], 1)
		if doc == gated {
			t.Fatalf("%s: the fixture did not change", field)
		}
		_, err := Select([]File{{Name: "hostile.yaml", Data: []byte(doc)}}, in)
		if err == nil || !strings.Contains(err.Error(), "hostile.yaml") || !strings.Contains(err.Error(), field+" ") {
			t.Errorf("%s: got %v, want an error naming the file and the field", field, err)
		}
	}
}

// A key set twice is refused at its line, as the installer refuses it; a
// syntax error in a later document is located in the file, not the document.
func TestDuplicateKeysAndSyntaxLines(t *testing.T) {
	in := mustInclusion(t, ClusterSettings{})
	dup := strings.Replace(gated, "  name: gated\n", "  name: gated\n  name: other\n", 1)
	_, err := Select([]File{{Name: "dup.yaml", Data: []byte(dup)}}, in)
	if err == nil || !strings.Contains(err.Error(), `dup.yaml:5: metadata.name: key "name" is already set at line 4`) {
		t.Errorf("duplicate metadata.name: %v", err)
	}
	bad := "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: [\n"
	_, err = Select([]File{{Name: "multi.yaml", Data: []byte(bad)}}, in)
	if err == nil || !strings.HasPrefix(err.Error(), "multi.yaml:7: ") {
		t.Errorf("syntax error in the second document: %v", err)
	}
}

func TestReadDirRefusesSpecialAndHugeFiles(t *testing.T) {
	dir := t.TempDir()
	os.Symlink("/dev/zero", filepath.Join(dir, "zero.yaml"))
	if _, err := ReadDir(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("/dev/zero: %v", err)
	}
	os.Remove(filepath.Join(dir, "zero.yaml"))
	f, _ := os.Create(filepath.Join(dir, "huge.yaml"))
	f.Truncate(5 << 20)
	f.Close()
	if _, err := ReadDir(dir); err == nil || !strings.Contains(err.Error(), "CredentialsRequest file limit (4 MiB)") {
		t.Errorf("5 MiB file: %v", err)
	}
}
