package credreq

import (
	"slices"
	"strings"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/openshift/library-go/pkg/manifest"
	"k8s.io/apimachinery/pkg/util/sets"
)

func capList(names ...string) []configv1.ClusterVersionCapability {
	var out []configv1.ClusterVersionCapability
	for _, n := range names {
		out = append(out, configv1.ClusterVersionCapability(n))
	}
	return out
}

func mustParse(t *testing.T, files []File) []manifest.Manifest {
	t.Helper()
	ms, err := Parse(files)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// 4.14 -> 4.16 on a cluster that enabled every 4.14 capability the AWS
// requests need but not CloudCredential (new in 4.14's sets, added to every
// request's annotation in 4.16): the CVO keeps the requests 4.14 runs and
// enables CloudCredential implicitly.
func TestImplicitlyEnabledFromTheRealReleases(t *testing.T) {
	enabled := capList("MachineAPI", "Storage", "ImageRegistry", "Ingress")
	current := mustParse(t, mustRead(t, "4.14"))
	var included []manifest.Manifest
	for _, m := range current {
		if m.IncludeAllowUnknownCapabilities(nil, nil, nil, &configv1.ClusterVersionCapabilitiesStatus{EnabledCapabilities: enabled}, nil, sets.New[string](), nil, true) == nil {
			included = append(included, m)
		}
	}
	got := ImplicitlyEnabled(mustParse(t, mustRead(t, "4.16")), included, enabled, sets.New[string](), 4, "4.14.3")
	if len(got) != 1 || got[0].Capability != "CloudCredential" || got[0].Kind != "CredentialsRequest" || got[0].Current != "4.14.3" {
		t.Fatalf("implicitly enabled %+v, want CloudCredential from a CredentialsRequest", got)
	}
	if r := got[0].Reason(); !strings.HasPrefix(r, "capability CloudCredential will be implicitly enabled: it covers CredentialsRequest/openshift-cloud-credential-operator/") || !strings.HasSuffix(r, " that 4.14.3 already runs") {
		t.Errorf("reason %q", r)
	}

	// With it, the 4.16 requests 4.14 ran stay; the cluster-api one is
	// TechPreview only, and nothing implicit reaches past what ran.
	withImplicit := selectNames(t, mustRead(t, "4.16"), ClusterSettings{Capabilities: caps("None", "MachineAPI", "Storage", "ImageRegistry", "Ingress"),
		EnabledCapabilities: enabled, ImplicitCapabilities: got, Live: true, Origin: "ClusterVersion version"})
	if strings.Join(withImplicit, ",") != strings.Join(default416, ",") {
		t.Errorf("4.16 with CloudCredential implicitly enabled: %v, want %v", withImplicit, default416)
	}
	without := selectNames(t, mustRead(t, "4.16"), ClusterSettings{Capabilities: caps("None", "MachineAPI", "Storage", "ImageRegistry", "Ingress"),
		EnabledCapabilities: enabled, Live: true})
	if len(without) != 0 {
		t.Errorf("without implicit enabling every 4.16 request needs CloudCredential; got %v", without)
	}

	// A request the current release does not include enables nothing: the
	// storage request without Storage enabled.
	noStorage := capList("MachineAPI", "ImageRegistry", "Ingress")
	included = included[:0]
	for _, m := range current {
		if m.IncludeAllowUnknownCapabilities(nil, nil, nil, &configv1.ClusterVersionCapabilitiesStatus{EnabledCapabilities: noStorage}, nil, sets.New[string](), nil, true) == nil {
			included = append(included, m)
		}
	}
	got = ImplicitlyEnabled(mustParse(t, mustRead(t, "4.16")), included, noStorage, sets.New[string](), 4, "4.14.3")
	if len(got) != 1 || got[0].Capability != "CloudCredential" || strings.Contains(got[0].Name, "ebs") {
		t.Errorf("without Storage: %+v", got)
	}
}

// A's request becomes A+B: B is enabled implicitly, and the request is
// explained by it.
func TestImplicitCapabilityExplainsTheRequest(t *testing.T) {
	cr := func(caps string) File {
		return File{Name: "0000_50_x_credentials-request.yaml", Data: []byte(strings.Replace(strings.Replace(gated,
			"release.openshift.io/feature-gate: MyNewGate", "capability.openshift.io/name: "+caps, 1), "name: gated", "name: grows", 1))}
	}
	current, target := mustParse(t, []File{cr("Console")}), []File{cr("Console+Insights")}
	implicit := ImplicitlyEnabled(mustParse(t, target), current, capList("Console"), sets.New[string](), 4, "4.18.1")
	in := mustInclusion(t, ClusterSettings{Capabilities: caps("None", "Console"), EnabledCapabilities: capList("Console"), ImplicitCapabilities: implicit,
		Live: true, Origin: "ClusterVersion version"})
	sel, err := Select(target, in)
	if err != nil || len(sel.Requests) != 1 {
		t.Fatalf("%v %+v", err, sel)
	}
	why := in.ImplicitFor(sel.Requests[0])
	if len(why) != 1 || why[0].Reason() != "capability Insights will be implicitly enabled: it covers CredentialsRequest/openshift-cloud-credential-operator/grows that 4.18.1 already runs" {
		t.Errorf("explanation %+v", why)
	}
	rows := in.Sources(target)
	if !slices.Contains(rows, Source{Kind: "capability", Name: "Insights", Enabled: true, DecidedBy: why[0].Reason()}) ||
		!slices.Contains(rows, Source{Kind: "capability", Name: "Console", Enabled: true, DecidedBy: "ClusterVersion version status.capabilities.enabledCapabilities"}) {
		t.Errorf("sources %+v", rows)
	}
}

func TestLiveCapabilities(t *testing.T) {
	files := mustRead(t, "4.16")
	// No spec.capabilities: the baseline is vCurrent, which has everything.
	if got := selectNames(t, files, ClusterSettings{EnabledCapabilities: capList("Console"), Live: true}); strings.Join(got, ",") != strings.Join(default416, ",") {
		t.Errorf("vCurrent cluster: %v", got)
	}
	// A capability neither openshift/api nor the cluster knows is not enabled, and -v says so.
	unknown := File{Name: "u.yaml", Data: []byte(strings.Replace(gated, "release.openshift.io/feature-gate: MyNewGate", "capability.openshift.io/name: FutureThing", 1))}
	in := mustInclusion(t, ClusterSettings{EnabledCapabilities: capList("Console"), Live: true, Origin: "ClusterVersion version"})
	if sel, _ := Select([]File{unknown}, in); len(sel.Requests) != 0 {
		t.Error("a request needing an unknown capability was included")
	}
	rows := in.Sources([]File{unknown})
	if len(rows) != 2 || rows[1].Enabled || !strings.Contains(rows[1].DecidedBy, "not a capability openshift/api") {
		t.Errorf("sources %+v", rows)
	}
	// ...unless the cluster already enables it.
	in = mustInclusion(t, ClusterSettings{EnabledCapabilities: capList("FutureThing"), Live: true})
	if sel, _ := Select([]File{unknown}, in); len(sel.Requests) != 1 {
		t.Error("a capability the cluster enables was not honoured")
	}
	// vCurrent's ClusterAPI stays out unless its feature gate is enabled, as the CVO does.
	capi := File{Name: "c.yaml", Data: []byte(strings.Replace(gated, "release.openshift.io/feature-gate: MyNewGate", "capability.openshift.io/name: ClusterAPI", 1))}
	if sel, _ := Select([]File{capi}, mustInclusion(t, ClusterSettings{EnabledCapabilities: capList("Console"), Live: true})); len(sel.Requests) != 0 {
		t.Error("ClusterAPI enabled without ClusterAPIMachineManagement")
	}
	if sel, _ := Select([]File{capi}, mustInclusion(t, ClusterSettings{EnabledCapabilities: capList("Console"), Live: true, FeatureSet: "CustomNoUpgrade",
		FeatureGates: []string{"ClusterAPIMachineManagement=true"}})); len(sel.Requests) != 1 {
		t.Error("ClusterAPI not enabled with ClusterAPIMachineManagement")
	}
}
