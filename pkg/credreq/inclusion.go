// Package credreq reads CredentialsRequest manifests and decides, with the
// cluster-version operator's own rules (library-go pkg/manifest), which ones
// a cluster will include.
package credreq

import (
	"fmt"
	"sort"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/openshift/api/features"
	"github.com/openshift/library-go/pkg/manifest"
	"k8s.io/apimachinery/pkg/util/sets"
)

// DefaultMajorVersion is used when the release version is not known (a plain
// directory of manifests).
const DefaultMajorVersion uint64 = 4

// ClusterSettings are the install-config fields that decide inclusion.
type ClusterSettings struct {
	FeatureSet   string
	FeatureGates []string // "Name=true|false", honoured for CustomNoUpgrade as the installer does
	Capabilities *configv1.ClusterVersionCapabilitiesSpec
	// EnabledCapabilities, when set, is a live cluster's exact set
	// (ClusterVersion status.capabilities), taking precedence over Capabilities.
	EnabledCapabilities []configv1.ClusterVersionCapability
	MajorVersion        uint64 // 0 means DefaultMajorVersion
}

// Inclusion holds the arguments library-go's Manifest.Include takes.
type Inclusion struct {
	featureSet   string
	profile      string
	capabilities *configv1.ClusterVersionCapabilitiesStatus
	enabledGates sets.Set[string]
	majorVersion uint64
}

// NewInclusion builds the filter the way `oc adm release extract --included
// --install-config` does: the self-managed profile, the install-config's
// feature set, and its capabilities (baseline set plus additional ones) when
// it sets any. Feature gates come from openshift/api for the feature set.
func NewInclusion(s ClusterSettings) (*Inclusion, error) {
	major := s.MajorVersion
	if major == 0 {
		major = DefaultMajorVersion
	}
	in := &Inclusion{featureSet: s.FeatureSet, profile: manifest.DefaultClusterProfile, majorVersion: major}
	gates, err := enabledGates(major, s)
	if err != nil {
		return nil, err
	}
	in.enabledGates = gates
	if s.EnabledCapabilities != nil {
		in.capabilities = &configv1.ClusterVersionCapabilitiesStatus{EnabledCapabilities: s.EnabledCapabilities, KnownCapabilities: configv1.KnownClusterVersionCapabilities}
		return in, nil
	}
	if s.Capabilities != nil {
		baseline := s.Capabilities.BaselineCapabilitySet
		if baseline == "" {
			baseline = configv1.ClusterVersionCapabilitySetCurrent // the installer's default
		}
		enabled, ok := configv1.ClusterVersionCapabilitySets[baseline]
		if !ok {
			return nil, fmt.Errorf("capabilities.baselineCapabilitySet %q is not a known capability set (known: %s)", baseline, knownSets())
		}
		in.capabilities = &configv1.ClusterVersionCapabilitiesStatus{
			EnabledCapabilities: append(append([]configv1.ClusterVersionCapability{}, enabled...), s.Capabilities.AdditionalEnabledCapabilities...),
			KnownCapabilities:   configv1.KnownClusterVersionCapabilities,
		}
	}
	return in, nil
}

func enabledGates(major uint64, s ClusterSettings) (sets.Set[string], error) {
	fs := configv1.FeatureSet(s.FeatureSet)
	known := false
	for _, f := range configv1.AllFixedFeatureSets {
		known = known || f == fs
	}
	if !known && fs != configv1.CustomNoUpgrade {
		return nil, fmt.Errorf("featureSet %q is not a known feature set (known: Default, %s)", s.FeatureSet, strings.Join(fixedSetNames(), ", "))
	}
	enabled := sets.New[string]()
	base := fs
	if fs == configv1.CustomNoUpgrade {
		base = configv1.Default // custom gates start from the default set
	}
	for _, g := range features.FeatureSets(major, features.SelfManaged, base).Enabled {
		enabled.Insert(string(g.FeatureGateAttributes.Name))
	}
	if len(s.FeatureGates) > 0 && fs != configv1.CustomNoUpgrade {
		return nil, fmt.Errorf("featureGates are only honoured with featureSet: CustomNoUpgrade (got featureSet %q)", s.FeatureSet)
	}
	for _, g := range s.FeatureGates {
		name, val, ok := strings.Cut(g, "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("featureGates entry %q: want Name=true or Name=false", g)
		case val == "true":
			enabled.Insert(name)
		case val == "false":
			enabled.Delete(name)
		default:
			return nil, fmt.Errorf("featureGates entry %q: value must be true or false", g)
		}
	}
	return enabled, nil
}

// Include returns nil when the cluster includes m, else the reason it does not.
func (in *Inclusion) Include(m *manifest.Manifest) error {
	// oc includes unannotated CredentialsRequests for manual mode (they
	// predate the annotations); library-go alone would refuse them.
	if len(m.Obj.GetAnnotations()) == 0 {
		return nil
	}
	fs, profile, major := in.featureSet, in.profile, in.majorVersion
	return m.Include(nil, &fs, &profile, in.capabilities, nil, in.enabledGates, &major)
}

func knownSets() string {
	var names []string
	for k := range configv1.ClusterVersionCapabilitySets {
		names = append(names, string(k))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func fixedSetNames() []string {
	var names []string
	for _, f := range configv1.AllFixedFeatureSets {
		if f != configv1.Default {
			names = append(names, string(f))
		}
	}
	return names
}
