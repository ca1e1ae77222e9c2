package upgrade

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/openshift/library-go/pkg/manifest"

	"github.com/oc-sts/oc-sts/pkg/credreq"
)

func fixture(t *testing.T, release string) []credreq.File {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	files, err := credreq.ReadDir(filepath.Join(filepath.Dir(file), "..", "..", "test", "testdata", "credentialsrequests", release))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func caps(names ...string) []configv1.ClusterVersionCapability {
	var out []configv1.ClusterVersionCapability
	for _, n := range names {
		out = append(out, configv1.ClusterVersionCapability(n))
	}
	return out
}

// A 4.14 cluster with baseline None plus what its AWS requests need, the
// CVO having applied the 4.14 requests it includes.
func cluster414(t *testing.T, history configv1.UpdateState) State {
	enabled := caps("MachineAPI", "Storage", "ImageRegistry", "Ingress")
	cv := &configv1.ClusterVersion{
		Spec: configv1.ClusterVersionSpec{Capabilities: &configv1.ClusterVersionCapabilitiesSpec{BaselineCapabilitySet: configv1.ClusterVersionCapabilitySetNone, AdditionalEnabledCapabilities: enabled}},
		Status: configv1.ClusterVersionStatus{Desired: configv1.Release{Version: "4.14.30", Image: "quay.io/x/release@sha256:1"},
			History:      []configv1.UpdateHistory{{State: history, Version: "4.14.30"}},
			Capabilities: configv1.ClusterVersionCapabilitiesStatus{EnabledCapabilities: enabled}},
	}
	st := State{ClusterVersion: cv, FeatureGate: &configv1.FeatureGate{}}
	ms, err := credreq.Parse(fixture(t, "4.14"))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := credreq.NewInclusion(settings(st, Target{Version: "4.14.30"}))
	for i := range ms {
		if in.Include(&ms[i]) == nil && credreq.IsAWS(&ms[i]) {
			st.Requests = append(st.Requests, ms[i])
		}
	}
	return st
}

var release416 = Target{Version: "4.16.20", Name: "release 4.16.20", Complete: true}

func TestPredictImplicitFromTheClustersObjects(t *testing.T) {
	st := cluster414(t, configv1.CompletedUpdate)
	target := release416
	target.Files = fixture(t, "4.16")
	p, err := Predict(context.Background(), st, nil, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Implicit) != 1 || p.Implicit[0].Capability != "CloudCredential" || p.CurrentFrom != "the cluster's own objects" {
		t.Fatalf("implicit %+v from %s", p.Implicit, p.CurrentFrom)
	}
	sel, err := credreq.Select(target.Files, p.Inclusion)
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Requests) != 6 {
		t.Errorf("%d requests included, want the six 4.16 AWS requests 4.14 ran", len(sel.Requests))
	}
	f := ImplicitFindings(sel.Requests, p.Inclusion)
	if len(f) != 6 || f[0].Blocking || !strings.HasPrefix(f[0].Detail, "included because capability CloudCredential will be implicitly enabled: it covers CredentialsRequest/openshift-cloud-credential-operator/") {
		t.Errorf("findings %+v", f)
	}
}

type fakeObjects map[string]*manifest.Manifest

func (f fakeObjects) Get(_ context.Context, m *manifest.Manifest) (*manifest.Manifest, bool, error) {
	o, ok := f[m.GVK.Kind+"/"+m.Obj.GetNamespace()+"/"+m.Obj.GetName()]
	return o, ok, nil
}

// When the cluster cannot tell (an update in progress, objects without the
// CVO's annotations), the current release decides; without one, Predict
// says why it cannot tell.
func TestPredictWhenTheClusterCannotTell(t *testing.T) {
	target := release416
	target.Files = fixture(t, "4.16")
	st := cluster414(t, configv1.PartialUpdate)
	st.Requests = st.Requests[1:] // one not applied yet
	_, err := Predict(context.Background(), st, nil, target, nil)
	if err == nil || !strings.Contains(err.Error(), "latest history entry is not Completed") || !strings.Contains(err.Error(), "oc adm release extract --to DIR quay.io/x/release@sha256:1") {
		t.Fatalf("got %v", err)
	}
	read := 0
	current := &CurrentRelease{Name: "the current release image quay.io/x/release@sha256:1", Read: func(context.Context) ([]credreq.File, error) {
		read++
		return fixture(t, "4.14"), nil
	}}
	p, err := Predict(context.Background(), st, nil, target, current)
	if err != nil || read != 1 || p.CurrentFrom != current.Name || len(p.Implicit) != 1 {
		t.Fatalf("%v: read %d times, from %s, implicit %+v", err, read, p.CurrentFrom, p.Implicit)
	}
	failing := &CurrentRelease{Name: "the current release image x", Read: func(context.Context) ([]credreq.File, error) { return nil, errors.New("unauthorized") }}
	if _, err := Predict(context.Background(), st, nil, target, failing); err == nil || !strings.Contains(err.Error(), "unauthorized") || !strings.Contains(err.Error(), "--current-credentials-requests-dir") {
		t.Errorf("got %v", err)
	}

	// Completed, but an object without release annotations.
	st = cluster414(t, configv1.CompletedUpdate)
	st.Requests[0].Obj.SetAnnotations(nil)
	if _, err := Predict(context.Background(), st, nil, target, nil); err == nil || !strings.Contains(err.Error(), "without the release annotations") {
		t.Errorf("unannotated object: %v", err)
	}
}

// Another kind's manifest can enable a capability a new request needs: the
// cluster's object of that kind tells.
func TestPredictImplicitFromAnotherKind(t *testing.T) {
	deployment := func(caps string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: insights-operator\n  namespace: openshift-insights\n  annotations:\n" +
			"    include.release.openshift.io/self-managed-high-availability: \"true\"\n    capability.openshift.io/name: " + caps + "\n"
	}
	request, _ := os.ReadFile(filepath.Join("..", "..", "test", "testdata", "credentialsrequests", "4.16", "0000_50_cloud-credential-operator_05-iam-ro-credentialsrequest.yaml"))
	newRequest := strings.Replace(strings.Replace(string(request), "name: cloud-credential-operator-iam-ro", "name: insights-aws", 1),
		"capability.openshift.io/name: CloudCredential", "capability.openshift.io/name: Insights", 1)
	target := Target{Version: "4.19.1", Name: "release 4.19.1", Complete: true, Files: []credreq.File{
		{Name: "0000_50_insights_deployment.yaml", Data: []byte(deployment("Console+Insights"))},
		{Name: "0000_50_insights_credentials-request.yaml", Data: []byte(newRequest)},
	}}
	st := cluster414(t, configv1.CompletedUpdate)
	st.ClusterVersion.Status.Capabilities.EnabledCapabilities = caps("Console")
	st.ClusterVersion.Spec.Capabilities.AdditionalEnabledCapabilities = caps("Console")
	live := credreqParse(t, deployment("Console"))
	p, err := Predict(context.Background(), st, fakeObjects{"Deployment/openshift-insights/insights-operator": &live}, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Implicit) != 1 || p.Implicit[0].Capability != "Insights" || p.Implicit[0].Kind != "Deployment" {
		t.Fatalf("implicit %+v", p.Implicit)
	}
	if sel, _ := credreq.Select(target.Files, p.Inclusion); len(sel.Requests) != 1 {
		t.Errorf("the new Insights request is not included: %+v", sel.Decisions)
	}
	// Without the object on the cluster nothing is enabled.
	p, err = Predict(context.Background(), st, fakeObjects{}, target, nil)
	if err != nil || len(p.Implicit) != 0 {
		t.Errorf("%v %+v", err, p.Implicit)
	}
}

func credreqParse(t *testing.T, yaml string) manifest.Manifest {
	t.Helper()
	ms, err := credreq.Parse([]credreq.File{{Name: "live.yaml", Data: []byte(yaml)}})
	if err != nil || len(ms) != 1 {
		t.Fatal(err)
	}
	return ms[0]
}
