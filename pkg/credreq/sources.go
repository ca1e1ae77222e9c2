package credreq

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/openshift/library-go/pkg/manifest"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const featureGateAnnotation = "release.openshift.io/feature-gate"

// Source says what decided one input of inclusion: the feature set, a
// feature gate or a capability.
type Source struct {
	Kind      string `json:"kind"` // feature-set, feature-gate, capability
	Name      string `json:"name"`
	Enabled   bool   `json:"enabled"`
	DecidedBy string `json:"decidedBy"`
}

// Sources lists the feature set, then every feature gate and capability
// that a CredentialsRequest of files names, with what decided it.
func (in *Inclusion) Sources(files []File) []Source {
	set := in.featureSet
	if set == "" {
		set = string(configv1.Default)
	}
	out := []Source{{Kind: "feature-set", Name: set, Enabled: true, DecidedBy: in.origin + "featureSet"}}
	gates, caps := map[string]bool{}, map[configv1.ClusterVersionCapability]bool{}
	for _, f := range files {
		if !bytes.Contains(f.Data, []byte(gvk.Kind)) {
			continue // a release's other manifests
		}
		ms, err := parse(f)
		if err != nil {
			continue
		}
		for _, m := range ms {
			if m.GVK != gvk {
				continue
			}
			for _, g := range strings.Split(m.Obj.GetAnnotations()[featureGateAnnotation], ",") {
				if g = strings.TrimPrefix(strings.TrimSpace(g), "-"); g != "" {
					gates[g] = true
				}
			}
			for _, c := range m.GetManifestCapabilities() {
				caps[c] = true
			}
		}
	}
	var gateRows, capRows []Source
	for g := range gates {
		gateRows = append(gateRows, Source{Kind: "feature-gate", Name: g, Enabled: in.gates.Enabled(g), DecidedBy: in.gates.SourceOf(g)})
	}
	for c := range caps {
		enabled, why := in.capabilityEnabled(c)
		capRows = append(capRows, Source{Kind: "capability", Name: string(c), Enabled: enabled, DecidedBy: why})
	}
	for _, rows := range [][]Source{gateRows, capRows} {
		sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
		out = append(out, rows...)
	}
	return out
}

func (in *Inclusion) capabilityEnabled(c configv1.ClusterVersionCapability) (bool, string) {
	if in.capabilities == nil {
		return true, "no capabilities in " + in.capabilitiesOrigin() + ": nothing is filtered by capability"
	}
	if why, ok := in.capabilities.why[c]; ok {
		return true, why
	}
	if needs, gated := gatedCapabilities[c]; gated {
		var names []string
		for _, g := range needs {
			names = append(names, string(g))
		}
		return false, "needs feature gate " + strings.Join(names, " or ") + ", which is not enabled"
	}
	if !slices.Contains(configv1.KnownClusterVersionCapabilities, c) {
		return false, fmt.Sprintf("not a capability openshift/api %s knows: treated as not enabled", apiVersion())
	}
	return false, "not enabled by " + in.capabilitiesOrigin()
}

func (in *Inclusion) capabilitiesOrigin() string { return in.capabilities.originOr(in.origin) }

// ImplicitFor lists the implicitly enabled capabilities r needs: without
// them the cluster would not include it.
func (in *Inclusion) ImplicitFor(r Request) []Implicit {
	if in.capabilities == nil {
		return nil
	}
	var out []Implicit
	for _, c := range strings.Split(r.CR.Annotations[manifest.CapabilityAnnotation], "+") {
		if i, ok := in.capabilities.implicit[configv1.ClusterVersionCapability(c)]; ok {
			out = append(out, i)
		}
	}
	return out
}

// GateAssumption is the assumption made about feature gates (see
// Gates.Assumption) when a CredentialsRequest of files depends on a gate,
// else "".
func (in *Inclusion) GateAssumption(files []File) string {
	if in.gates.Assumption == "" {
		return ""
	}
	for _, s := range in.Sources(files) {
		if s.Kind == "feature-gate" {
			return in.gates.Assumption
		}
	}
	return ""
}

// CapabilityEnabled says whether the cluster enables the capability, and why.
func (in *Inclusion) CapabilityEnabled(c configv1.ClusterVersionCapability) (bool, string) {
	return in.capabilityEnabled(c)
}

// ExcludedOnlyByCapabilities reports whether m is left out for its
// capabilities alone: every other rule includes it.
func (in *Inclusion) ExcludedOnlyByCapabilities(m *manifest.Manifest) bool {
	if in.Include(m) == nil {
		return false
	}
	fs, profile, major := in.featureSet, in.profile, in.majorVersion
	return m.Include(nil, &fs, &profile, nil, nil, in.gates.enabled, &major) == nil
}

// IsAWS reports whether m is an AWS CredentialsRequest (not a tombstone).
func IsAWS(m *manifest.Manifest) bool {
	kind, _, _ := unstructured.NestedString(m.Obj.Object, "spec", "providerSpec", "kind")
	return m.GVK == gvk && kind == awsKind && m.Obj.GetAnnotations()[deleteAnnotation] != "true"
}
