package credreq

import (
	"fmt"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/openshift/api/features"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
)

// How a release payload ships its feature sets: one FeatureGate "cluster"
// per feature set and cluster profile (openshift/api payload-manifests,
// released as release-manifests/0000_50_cluster-config-api_featureGate-*),
// which the CVO skips and the config operator renders. oc adm release
// extract --included reads them the same way: by kind and annotations, not
// by file name.
const (
	featureSetAnnotation   = "release.openshift.io/feature-set"
	majorVersionAnnotation = "release.openshift.io/major-version"
	configOperatorOnly     = "false-except-for-the-config-operator"
)

var (
	featureGateGVK = schema.GroupVersionKind{Group: "config.openshift.io", Version: "v1", Kind: "FeatureGate"}
	// A FeatureGate object in JSON (as the payload ships them) or YAML.
	featureGateKind = regexp.MustCompile(`"kind"\s*:\s*"FeatureGate"|(?m)^kind:\s*["']?FeatureGate["']?\s*$`)
)

// HoldsFeatureGate reports whether a manifest file may hold a FeatureGate
// object: what to keep, besides CredentialsRequests, when reading a release.
func HoldsFeatureGate(data []byte) bool { return featureGateKind.Match(data) }

// Gates are the feature gates a cluster enables and what decided each.
type Gates struct {
	FeatureSet string // "" is Default
	enabled    sets.Set[string]
	source     string          // what decided every gate not in custom
	custom     map[string]bool // CustomNoUpgrade choices: gate -> enabled
	customFrom string
	// Assumption names what was assumed when no release or cluster said
	// which gates the feature set enables; "" when one did.
	Assumption string
}

// Enabled reports whether the gate is enabled.
func (g *Gates) Enabled(name string) bool { return g.enabled.Has(name) }

// Set is a copy of the enabled gates.
func (g *Gates) Set() sets.Set[string] { return g.enabled.Clone() }

// SourceOf says what decided a gate.
func (g *Gates) SourceOf(name string) string {
	if _, ok := g.custom[name]; ok {
		return g.customFrom
	}
	return g.source
}

// gateInputs are the places the gates of a feature set can come from, best first.
type gateInputs struct {
	featureSet   string
	custom       []string // Name=true|false, honoured with CustomNoUpgrade
	customFrom   string
	release      []File // the release's manifests: its FeatureGate manifests
	releaseName  string
	status       []configv1.FeatureGateDetails // a cluster's FeatureGate status
	version      string                        // whose status entry applies
	statusFrom   string
	major        uint64
	assumeReason string // why compiled-in sets would be an assumption
}

// resolveGates decides the enabled gates the way the config operator
// renders them: the feature set's gates (CustomNoUpgrade starts from
// Default) from the release's own FeatureGate manifests, else from the
// cluster's status entry for the version, else from the openshift/api sets
// compiled into oc sts (an assumption, said so); then the CustomNoUpgrade
// choices on top.
func resolveGates(in gateInputs) (*Gates, error) {
	fs := configv1.FeatureSet(in.featureSet)
	known := fs == configv1.CustomNoUpgrade
	for _, f := range configv1.AllFixedFeatureSets {
		known = known || f == fs
	}
	if !known {
		return nil, fmt.Errorf("featureSet %q is not a known feature set (known: Default, %s)", in.featureSet, strings.Join(fixedSetNames(), ", "))
	}
	if len(in.custom) > 0 && fs != configv1.CustomNoUpgrade {
		return nil, fmt.Errorf("featureGates are only honoured with featureSet: CustomNoUpgrade (got featureSet %q)", in.featureSet)
	}
	custom, err := parseCustom(in.custom)
	if err != nil {
		return nil, err
	}
	base := fs
	if fs == configv1.CustomNoUpgrade {
		base = configv1.Default // custom gates start from the default set
	}
	g := &Gates{FeatureSet: in.featureSet, custom: custom, customFrom: in.customFrom}
	if enabled, files := releaseGates(in.release, base, in.major); files != nil {
		g.enabled = enabled
		g.source = fmt.Sprintf("%s FeatureGate manifest %s", in.releaseName, strings.Join(files, ", "))
	} else if enabled, ok := statusGates(in.status, in.version); ok {
		g.enabled = enabled
		g.source = fmt.Sprintf("%s status.featureGates for %s", in.statusFrom, in.version)
	} else {
		g.enabled = sets.New[string]()
		for _, d := range features.FeatureSets(in.major, features.SelfManaged, base).Enabled {
			g.enabled.Insert(string(d.FeatureGateAttributes.Name))
		}
		g.source = fmt.Sprintf("openshift/api %s compiled into oc sts (%s feature set)", apiVersion(), setName(base))
		g.Assumption = fmt.Sprintf("the %s feature gates are assumed to be those openshift/api %s defines: %s", setName(base), apiVersion(), in.assumeReason)
	}
	for name, on := range custom {
		if on {
			g.enabled.Insert(name)
		} else {
			g.enabled.Delete(name)
		}
	}
	return g, nil
}

func parseCustom(entries []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, e := range entries {
		name, val, ok := strings.Cut(e, "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("featureGates entry %q: want Name=true or Name=false", e)
		case val == "true":
			out[name] = true
		case val == "false":
			out[name] = false
		default:
			return nil, fmt.Errorf("featureGates entry %q: value must be true or false", e)
		}
	}
	return out, nil
}

// releaseGates unions the enabled gates of the release's FeatureGate
// manifests for the self-managed profile, the feature set and the major
// version; files is nil when none applies. Older payloads name the set
// only in spec.featureSet and carry no major-version annotation.
func releaseGates(files []File, set configv1.FeatureSet, major uint64) (sets.Set[string], []string) {
	enabled := sets.New[string]()
	var used []string
	for _, f := range files {
		if !HoldsFeatureGate(f.Data) {
			continue
		}
		ms, err := parse(f)
		if err != nil {
			continue // not ours to judge: the CVO would refuse the release
		}
		for _, m := range ms {
			if m.GVK != featureGateGVK {
				continue
			}
			var fg configv1.FeatureGate
			if runtime.DefaultUnstructuredConverter.FromUnstructured(m.Obj.Object, &fg) != nil {
				continue
			}
			ann := fg.Annotations
			manifestSet, ok := ann[featureSetAnnotation]
			if !ok {
				manifestSet = setName(fg.Spec.FeatureSet)
			}
			if ann[string(features.SelfManaged)] != configOperatorOnly || manifestSet != setName(set) || !forMajor(ann[majorVersionAnnotation], major) {
				continue
			}
			used = append(used, f.Name)
			for _, d := range fg.Status.FeatureGates {
				for _, e := range d.Enabled {
					enabled.Insert(string(e.Name))
				}
			}
		}
	}
	if used == nil {
		return nil, nil
	}
	sort.Strings(used)
	return enabled, used
}

// setName is a feature set as annotations name it: "" is "Default".
func setName(fs configv1.FeatureSet) string {
	if fs == "" {
		return "Default"
	}
	return string(fs)
}

func forMajor(annotation string, major uint64) bool {
	if annotation == "" {
		return true
	}
	for _, v := range strings.Split(annotation, ",") {
		if strings.TrimSpace(v) == strconv.FormatUint(major, 10) {
			return true
		}
	}
	return false
}

func statusGates(status []configv1.FeatureGateDetails, version string) (sets.Set[string], bool) {
	if version == "" {
		return nil, false
	}
	for _, d := range status {
		if d.Version != version {
			continue
		}
		enabled := sets.New[string]()
		for _, e := range d.Enabled {
			enabled.Insert(string(e.Name))
		}
		return enabled, true
	}
	return nil, false
}

// apiVersion is the openshift/api module version this binary was built with.
func apiVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/openshift/api" {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return "(unknown version)"
}
