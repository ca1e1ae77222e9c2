package credreq

import (
	"fmt"
	"slices"
	"sort"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/openshift/api/features"
	"github.com/openshift/library-go/pkg/manifest"
	"k8s.io/apimachinery/pkg/util/sets"
)

// gatedCapabilities are the capabilities the CVO keeps out of the known
// and enabled sets unless one of the feature gates is enabled (the CVO's
// lib/capability, after the FeatureGateAwareEnum markers of openshift/api).
var gatedCapabilities = map[configv1.ClusterVersionCapability][]configv1.FeatureGateName{
	configv1.ClusterVersionCapabilityCompatibilityRequirements: {features.FeatureGateCRDCompatibilityRequirementOperator, features.FeatureGateClusterAPIMachineManagement},
	configv1.ClusterVersionCapabilityClusterAPI:                {features.FeatureGateClusterAPIMachineManagement},
}

// Implicit is a capability the CVO will enable on upgrade because an object
// the current release runs needs it in the target release.
type Implicit struct {
	Capability configv1.ClusterVersionCapability
	Kind       string // of the object that carries it
	Namespace  string
	Name       string
	Current    string // the current release's version, for the explanation
}

// Reason is the explanation upgrade-check prints.
func (i Implicit) Reason() string {
	obj := i.Kind + "/" + i.Name
	if i.Namespace != "" {
		obj = i.Kind + "/" + i.Namespace + "/" + i.Name
	}
	current := i.Current
	if current == "" {
		current = "the current release"
	}
	return fmt.Sprintf("capability %s will be implicitly enabled: it covers %s that %s already runs", i.Capability, obj, current)
}

// capabilities are the enabled capabilities and why each is enabled; nil
// means nothing filters by capability (an install-config without any).
type capabilities struct {
	why      map[configv1.ClusterVersionCapability]string
	known    sets.Set[configv1.ClusterVersionCapability]
	implicit map[configv1.ClusterVersionCapability]Implicit
	origin   string
}

func (c *capabilities) originOr(def string) string {
	if c == nil || c.origin == "" {
		return def
	}
	return c.origin
}

// resolveCapabilities follows the CVO: the baseline set (vCurrent when
// unset) and the additional capabilities of spec, plus what a live cluster
// already enables (status), plus the implicitly enabled ones; gated
// capabilities stay out unless their feature gate is enabled. Known is
// what openshift/api knows plus everything enabled: a capability unknown to
// both is not enabled.
func resolveCapabilities(s ClusterSettings, gates *Gates, origin, spec string) (*capabilities, error) {
	if s.Capabilities == nil && s.EnabledCapabilities == nil && len(s.ImplicitCapabilities) == 0 {
		return nil, nil
	}
	c := &capabilities{why: map[configv1.ClusterVersionCapability]string{}, known: sets.New(configv1.KnownClusterVersionCapabilities...),
		implicit: map[configv1.ClusterVersionCapability]Implicit{}, origin: origin}
	add := func(capability configv1.ClusterVersionCapability, why string) {
		if _, ok := c.why[capability]; !ok {
			c.why[capability] = why
		}
	}
	for _, capability := range s.EnabledCapabilities {
		add(capability, origin+" status.capabilities.enabledCapabilities")
	}
	var baseline configv1.ClusterVersionCapabilitySet
	var additional []configv1.ClusterVersionCapability
	if s.Capabilities != nil {
		baseline, additional = s.Capabilities.BaselineCapabilitySet, s.Capabilities.AdditionalEnabledCapabilities
	}
	baselineFrom := origin + " " + spec + "capabilities.baselineCapabilitySet " + string(baseline)
	if baseline == "" {
		baseline = configv1.ClusterVersionCapabilitySetCurrent // the installer's and the CVO's default
		baselineFrom = origin + " " + spec + "capabilities.baselineCapabilitySet unset: vCurrent"
	}
	set, ok := configv1.ClusterVersionCapabilitySets[baseline]
	if !ok {
		return nil, fmt.Errorf("capabilities.baselineCapabilitySet %q is not a known capability set (known: %s)", baseline, knownSets())
	}
	if s.Capabilities != nil || s.EnabledCapabilities != nil {
		for _, capability := range set {
			add(capability, baselineFrom+", as openshift/api "+apiVersion()+" defines it")
		}
	}
	for _, capability := range additional {
		add(capability, origin+" "+spec+"capabilities.additionalEnabledCapabilities")
	}
	for capability, needs := range gatedCapabilities {
		if !slices.ContainsFunc(needs, func(g configv1.FeatureGateName) bool { return gates.Enabled(string(g)) }) {
			delete(c.why, capability)
			c.known.Delete(capability)
		}
	}
	for _, i := range s.ImplicitCapabilities {
		if _, ok := c.why[i.Capability]; !ok {
			c.implicit[i.Capability] = i
		}
		add(i.Capability, i.Reason())
	}
	for capability := range c.why {
		c.known.Insert(capability)
	}
	return c, nil
}

func (c *capabilities) status() *configv1.ClusterVersionCapabilitiesStatus {
	if c == nil {
		return nil
	}
	st := &configv1.ClusterVersionCapabilitiesStatus{KnownCapabilities: sets.List(c.known)}
	for capability := range c.why {
		st.EnabledCapabilities = append(st.EnabledCapabilities, capability)
	}
	sort.Slice(st.EnabledCapabilities, func(i, j int) bool { return st.EnabledCapabilities[i] < st.EnabledCapabilities[j] })
	return st
}

// ImplicitlyEnabled is the CVO's rule for a minor upgrade: a manifest of
// the target that the cluster would exclude, whose object (group, kind,
// namespace, name) the current release includes, keeps being applied, and
// the capabilities it needs beyond the current manifest's and the enabled
// ones are enabled implicitly. currentIncluded are the manifests the current
// release includes; enabled, gates and targetMajor are the cluster's
// capabilities, its enabled feature gates and the target's major version,
// as the CVO uses them for this check (unknown capabilities allowed).
func ImplicitlyEnabled(target, currentIncluded []manifest.Manifest, enabled []configv1.ClusterVersionCapability, gates sets.Set[string], targetMajor uint64, currentVersion string) []Implicit {
	st := &configv1.ClusterVersionCapabilitiesStatus{EnabledCapabilities: enabled, KnownCapabilities: enabled}
	have := sets.New(enabled...)
	seen := sets.New[configv1.ClusterVersionCapability]()
	var out []Implicit
	for i := range target {
		u := &target[i]
		if u.IncludeAllowUnknownCapabilities(nil, nil, nil, st, nil, gates, &targetMajor, true) == nil {
			continue
		}
		for j := range currentIncluded {
			c := &currentIncluded[j]
			if !u.SameResourceID(*c) {
				continue
			}
			grown := sets.New(u.GetManifestCapabilities()...).Difference(sets.New(c.GetManifestCapabilities()...)).Difference(have)
			for _, capability := range sets.List(grown) {
				if seen.Has(capability) {
					continue
				}
				seen.Insert(capability)
				out = append(out, Implicit{Capability: capability, Kind: u.GVK.Kind, Namespace: u.Obj.GetNamespace(), Name: u.Obj.GetName(), Current: currentVersion})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Capability < out[j].Capability })
	return out
}

// Parse reads every object of the files with library-go, as the CVO does.
func Parse(files []File) ([]manifest.Manifest, error) {
	var out []manifest.Manifest
	for _, f := range files {
		ms, err := parse(f)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}
