// Package credreq reads CredentialsRequest manifests and decides, with the
// cluster-version operator's own rules (library-go pkg/manifest), which ones
// a cluster will include.
package credreq

import (
	"fmt"
	"sort"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/openshift/library-go/pkg/manifest"
)

// DefaultMajorVersion is used when the release version is not known (a plain
// directory of manifests).
const DefaultMajorVersion uint64 = 4

// ClusterSettings are what decides inclusion, for a cluster being installed
// (prepare: the install-config and the release) or for a cluster after an
// upgrade (upgrade-check: the live cluster and the target release). Both go
// through NewInclusion.
type ClusterSettings struct {
	FeatureSet   string
	FeatureGates []string // "Name=true|false", honoured for CustomNoUpgrade as the installer does
	Capabilities *configv1.ClusterVersionCapabilitiesSpec
	// EnabledCapabilities, when set, is a live cluster's
	// status.capabilities.enabledCapabilities; Capabilities is then its spec.
	EnabledCapabilities []configv1.ClusterVersionCapability
	// ImplicitCapabilities are enabled on top (upgrade-check).
	ImplicitCapabilities []Implicit
	MajorVersion         uint64 // 0 means DefaultMajorVersion

	// Release is the release's manifests: its FeatureGate manifests say
	// which gates each feature set enables. ReleaseName names it.
	Release     []File
	ReleaseName string
	// GateStatus is a live cluster's FeatureGate status.featureGates; the
	// entry for Version is used when the release has no FeatureGate manifests.
	GateStatus []configv1.FeatureGateDetails
	Version    string
	// Origin names where the settings were read ("install-config.yaml",
	// "ClusterVersion version"), for the sources -v prints; GatesOrigin is
	// the same for the feature set and gates ("FeatureGate cluster"). Live
	// says they are objects of a cluster (fields under spec and status).
	Origin, GatesOrigin string
	Live                bool
}

// Inclusion holds the arguments library-go's Manifest.Include takes, and
// what decided each of them.
type Inclusion struct {
	featureSet   string
	profile      string
	capabilities *capabilities
	gates        *Gates
	majorVersion uint64
	origin       string
}

// NewInclusion builds the filter the way the CVO (and `oc adm release
// extract --included`) does: the self-managed profile, the feature set and
// its gates (see resolveGates), the capabilities (see resolveCapabilities)
// and the release's major version.
func NewInclusion(s ClusterSettings) (*Inclusion, error) {
	major := s.MajorVersion
	if major == 0 {
		major = DefaultMajorVersion
	}
	origin, gatesOrigin := s.Origin, s.GatesOrigin
	if origin == "" {
		origin = "install-config.yaml"
	}
	if gatesOrigin == "" {
		gatesOrigin = origin
	}
	spec := ""
	if s.Live {
		spec = "spec."
	}
	reason := "no release manifests were given"
	if s.ReleaseName != "" {
		reason = s.ReleaseName + " has no FeatureGate manifest for it"
	}
	if s.Version != "" {
		reason += fmt.Sprintf(", and %s status has no entry for %s", gatesOrigin, s.Version)
	}
	gates, err := resolveGates(gateInputs{
		featureSet: s.FeatureSet, custom: s.FeatureGates, customFrom: gatesOrigin + " " + spec + "featureGates (CustomNoUpgrade)",
		release: s.Release, releaseName: s.ReleaseName, status: s.GateStatus, version: s.Version, statusFrom: gatesOrigin,
		major: major, assumeReason: reason,
	})
	if err != nil {
		return nil, err
	}
	caps, err := resolveCapabilities(s, gates, origin, spec)
	if err != nil {
		return nil, err
	}
	return &Inclusion{featureSet: s.FeatureSet, profile: manifest.DefaultClusterProfile, capabilities: caps, gates: gates, majorVersion: major, origin: gatesOrigin + " " + spec}, nil
}

// Gates are the feature gates the inclusion uses.
func (in *Inclusion) Gates() *Gates { return in.gates }

// Include returns nil when the cluster includes m, else the reason it does not.
func (in *Inclusion) Include(m *manifest.Manifest) error {
	// oc includes unannotated CredentialsRequests for manual mode (they
	// predate the annotations); library-go alone would refuse them.
	if len(m.Obj.GetAnnotations()) == 0 {
		return nil
	}
	fs, profile, major := in.featureSet, in.profile, in.majorVersion
	return m.Include(nil, &fs, &profile, in.capabilities.status(), nil, in.gates.enabled, &major)
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
