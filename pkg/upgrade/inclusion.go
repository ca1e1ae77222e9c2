package upgrade

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/openshift/library-go/pkg/manifest"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/credreq"
)

// Target is the release upgrade-check predicts.
type Target struct {
	Files   []credreq.File
	Version string // "" when unknown (a directory without --target-version)
	Name    string // for messages: "release 4.17.3", "--credentials-requests-dir d"
	// Complete says every manifest of the release that carries a
	// capability is among Files (a release image; a full extract), not
	// only its CredentialsRequests.
	Complete bool
}

// CurrentRelease reads the current release's manifests, for when the
// cluster's own objects cannot tell what the current release runs.
type CurrentRelease struct {
	Name string // "release image quay.io/...", "--current-credentials-requests-dir d"
	Read func(ctx context.Context) ([]credreq.File, error)
	// Given says the user named it: it is used even when the cluster could tell.
	Given bool
}

// Prediction is the target's inclusion as the CVO will compute it once the
// cluster runs the target: the cluster's feature set, gates and
// capabilities, plus the capabilities it will enable implicitly.
type Prediction struct {
	Inclusion *credreq.Inclusion
	Implicit  []credreq.Implicit
	// CurrentFrom says what told which objects the current release runs.
	CurrentFrom string
	Warnings    []string
}

const (
	gatesOrigin   = "FeatureGate cluster"
	versionOrigin = "ClusterVersion version"
)

// Predict computes the target's inclusion for the cluster after the upgrade.
func Predict(ctx context.Context, st State, objs Objects, t Target, current *CurrentRelease) (*Prediction, error) {
	p := &Prediction{CurrentFrom: "the cluster's own objects"}
	base := settings(st, t)
	if st.FeatureGate == nil {
		p.Warnings = append(p.Warnings, "the cluster has no FeatureGate cluster: the Default feature set is assumed, as the cluster-version operator does")
	}
	targetIn, err := credreq.NewInclusion(base)
	if err != nil {
		return nil, err
	}
	// The running CVO decides implicit enabling with today's gates and capabilities.
	now := base
	now.Release, now.ReleaseName, now.Version, now.MajorVersion = nil, "", st.Current(), majorOf(st.Current())
	nowIn, err := credreq.NewInclusion(now)
	if err != nil {
		return nil, err
	}
	gates := nowIn.Gates().Set()
	enabled := st.ClusterVersion.Status.Capabilities.EnabledCapabilities
	targetMajor := majorOf(t.Version)

	manifests, err := credreq.Parse(t.Files)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(manifests, func(m manifest.Manifest) bool { return credreq.IsAWS(&m) }) {
		return nil, fmt.Errorf("%s holds no AWS CredentialsRequest: it is not an AWS release's (or not the output of oc adm release extract --credentials-requests); there is nothing to compare", t.Name)
	}
	wanted := wantedCapabilities(manifests, targetIn)
	var included []manifest.Manifest
	if len(wanted) > 0 {
		var unsure []string
		if current == nil || !current.Given {
			included, unsure, err = runningObjects(ctx, st, objs, candidates(manifests, wanted, enabled, gates, targetMajor))
			if err != nil {
				return nil, err
			}
		}
		if len(unsure) > 0 || (current != nil && current.Given) {
			if included, err = currentIncluded(ctx, st, current, unsure, enabled, gates); err != nil {
				return nil, err
			}
			p.CurrentFrom = current.Name
		}
	}
	p.Implicit = credreq.ImplicitlyEnabled(manifests, included, enabled, gates, targetMajor, st.Current())
	final := base
	final.ImplicitCapabilities = p.Implicit
	if p.Inclusion, err = credreq.NewInclusion(final); err != nil {
		return nil, err
	}
	if a := p.Inclusion.GateAssumption(t.Files); a != "" {
		p.Warnings = append(p.Warnings, a)
	}
	if !t.Complete {
		for _, c := range sets.List(wantedCapabilities(manifests, p.Inclusion)) {
			p.Warnings = append(p.Warnings, fmt.Sprintf("capability %s, which a CredentialsRequest of the target needs, is not enabled; %s holds only CredentialsRequests, so whether another manifest of the release will enable it implicitly is not known: check with --to RELEASE_IMAGE (or a directory from oc adm release extract --to)", c, t.Name))
		}
	}
	return p, nil
}

// settings are the cluster's, for the target release.
func settings(st State, t Target) credreq.ClusterSettings {
	cv := st.ClusterVersion
	s := credreq.ClusterSettings{
		Capabilities:        cv.Spec.Capabilities,
		EnabledCapabilities: append([]configv1.ClusterVersionCapability{}, cv.Status.Capabilities.EnabledCapabilities...),
		MajorVersion:        majorOf(t.Version),
		Release:             t.Files, ReleaseName: t.Name,
		Version: t.Version,
		Origin:  versionOrigin, GatesOrigin: gatesOrigin, Live: true,
	}
	if fg := st.FeatureGate; fg != nil {
		s.FeatureSet = string(fg.Spec.FeatureSet)
		s.GateStatus = fg.Status.FeatureGates
		if fg.Spec.FeatureSet == configv1.CustomNoUpgrade && fg.Spec.CustomNoUpgrade != nil {
			for _, g := range fg.Spec.CustomNoUpgrade.Enabled {
				s.FeatureGates = append(s.FeatureGates, string(g)+"=true")
			}
			for _, g := range fg.Spec.CustomNoUpgrade.Disabled {
				s.FeatureGates = append(s.FeatureGates, string(g)+"=false")
			}
		}
	}
	return s
}

// wantedCapabilities are the capabilities that AWS CredentialsRequests of
// the target need and the inclusion does not enable: the only ones whose
// implicit enabling changes what upgrade-check reports.
func wantedCapabilities(manifests []manifest.Manifest, in *credreq.Inclusion) sets.Set[configv1.ClusterVersionCapability] {
	out := sets.New[configv1.ClusterVersionCapability]()
	for i := range manifests {
		m := &manifests[i]
		if !credreq.IsAWS(m) || !in.ExcludedOnlyByCapabilities(m) {
			continue
		}
		for _, c := range m.GetManifestCapabilities() {
			if ok, _ := in.CapabilityEnabled(c); !ok {
				out.Insert(c)
			}
		}
	}
	return out
}

// candidates are the target's manifests the running CVO would exclude that
// carry a wanted capability: only their counterparts can enable one.
func candidates(manifests []manifest.Manifest, wanted sets.Set[configv1.ClusterVersionCapability], enabled []configv1.ClusterVersionCapability, gates sets.Set[string], major uint64) []manifest.Manifest {
	st := &configv1.ClusterVersionCapabilitiesStatus{EnabledCapabilities: enabled}
	var out []manifest.Manifest
	for _, m := range manifests {
		if wanted.HasAny(m.GetManifestCapabilities()...) && m.IncludeAllowUnknownCapabilities(nil, nil, nil, st, nil, gates, &major, true) != nil {
			out = append(out, m)
		}
	}
	return out
}

// runningObjects finds, for each candidate, the object the current release
// runs: the cluster's object of the same group, kind, namespace and name,
// applied by the CVO (its release annotations) with capabilities the
// cluster enables. Where the cluster cannot tell, unsure says why.
func runningObjects(ctx context.Context, st State, objs Objects, cands []manifest.Manifest) (included []manifest.Manifest, unsure []string, err error) {
	enabled := sets.New(st.ClusterVersion.Status.Capabilities.EnabledCapabilities...)
	for i := range cands {
		u := &cands[i]
		live, found, err := lookup(ctx, st, objs, u)
		if err != nil {
			return nil, nil, err
		}
		id := describe(u)
		switch {
		case !found && st.Updating():
			unsure = append(unsure, id+" is not on the cluster, and ClusterVersion's latest history entry is not Completed: the current release may not be fully applied")
		case !found:
			// The current release does not include it.
		case !appliedByCVO(live):
			unsure = append(unsure, id+" is on the cluster without the release annotations the cluster-version operator applies")
		case !enabled.HasAll(live.GetManifestCapabilities()...):
			unsure = append(unsure, fmt.Sprintf("%s is on the cluster, annotated with capabilities %v that ClusterVersion does not list as enabled", id, live.GetManifestCapabilities()))
		default:
			included = append(included, *live)
		}
	}
	return included, unsure, nil
}

func lookup(ctx context.Context, st State, objs Objects, u *manifest.Manifest) (*manifest.Manifest, bool, error) {
	if u.GVK.Group == clustercheck.CredentialsRequestGVR.Group && u.GVK.Kind == "CredentialsRequest" {
		for i := range st.Requests {
			if u.SameResourceID(st.Requests[i]) {
				return &st.Requests[i], true, nil
			}
		}
		return nil, false, nil
	}
	if objs == nil {
		return nil, false, fmt.Errorf("cannot look up %s on the cluster", describe(u))
	}
	return objs.Get(ctx, u)
}

// appliedByCVO: manifests of a self-managed payload carry this annotation,
// and the CVO keeps a manifest's annotations on the object it applies.
func appliedByCVO(m *manifest.Manifest) bool {
	_, ok := m.Obj.GetAnnotations()["include.release.openshift.io/"+manifest.DefaultClusterProfile]
	return ok
}

func describe(m *manifest.Manifest) string {
	if ns := m.Obj.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", m.GVK.Kind, ns, m.Obj.GetName())
	}
	return m.GVK.Kind + " " + m.Obj.GetName()
}

// currentIncluded reads the current release and keeps what the running CVO
// includes, as it decides for implicit enabling.
func currentIncluded(ctx context.Context, st State, current *CurrentRelease, unsure []string, enabled []configv1.ClusterVersionCapability, gates sets.Set[string]) ([]manifest.Manifest, error) {
	why := ""
	if len(unsure) > 0 {
		sort.Strings(unsure)
		why = "which capabilities the upgrade enables implicitly depends on what the current release runs, and the cluster cannot tell: " + strings.Join(unsure, "; ")
	}
	if current == nil || current.Read == nil {
		return nil, fmt.Errorf("%s; give --current-credentials-requests-dir DIR with the current release's manifests (oc adm release extract --to DIR %s)", why, st.ClusterVersion.Status.Desired.Image)
	}
	files, err := current.Read(ctx)
	if err != nil {
		if why == "" {
			return nil, fmt.Errorf("reading %s: %w", current.Name, err)
		}
		return nil, fmt.Errorf("%s; reading %s to tell instead failed: %w; give --current-credentials-requests-dir DIR (oc adm release extract --to DIR %s)", why, current.Name, err, st.ClusterVersion.Status.Desired.Image)
	}
	ms, err := credreq.Parse(files)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", current.Name, err)
	}
	major := majorOf(st.Current())
	caps := &configv1.ClusterVersionCapabilitiesStatus{EnabledCapabilities: enabled}
	var out []manifest.Manifest
	for _, m := range ms {
		if m.IncludeAllowUnknownCapabilities(nil, nil, nil, caps, nil, gates, &major, true) == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// majorOf is a version's major, or credreq's default when it has none.
func majorOf(version string) uint64 {
	major, _, _ := strings.Cut(version, ".")
	if v, err := strconv.ParseUint(major, 10, 64); err == nil {
		return v
	}
	return credreq.DefaultMajorVersion
}

// ImplicitFindings explain the requests the target keeps only because a
// capability will be implicitly enabled.
func ImplicitFindings(target []credreq.Request, in *credreq.Inclusion) []Finding {
	var out []Finding
	for _, r := range target {
		for _, i := range in.ImplicitFor(r) {
			out = append(out, Finding{CredentialsRequest: r.Name(), Kind: ImplicitlyEnabled, Detail: "included because " + i.Reason()})
		}
	}
	return out
}
