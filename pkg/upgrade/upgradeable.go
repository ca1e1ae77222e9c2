package upgrade

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
)

// UpgradeableToAnnotation tells the cloud credential operator in Manual mode
// that the credentials are ready for a minor upgrade to the named version.
const UpgradeableToAnnotation = "cloudcredential.openshift.io/upgradeable-to"

// How the cloud credential operator reads the annotation (its
// UpgradeableCheck): the value, with a "v" put in front when it has none,
// is a semantic version (x, x.y or x.y.z, optional pre-release and build);
// its major.minor must be above that of the highest Completed entry of
// ClusterVersion's history, else Manual mode reports Upgradeable=False. A
// cluster with no Completed entry is not blocked; a value it cannot read
// never unblocks.
var semverRE = regexp.MustCompile(`^v(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?$`)

type minorVersion struct{ major, minor int }

func (m minorVersion) after(o minorVersion) bool {
	return m.major > o.major || m.major == o.major && m.minor > o.minor
}

func (m minorVersion) String() string { return fmt.Sprintf("%d.%d", m.major, m.minor) }

// parseMinor reads an annotation value as the operator does (a missing "v"
// added); ok is false when it cannot.
func parseMinor(v string) (minorVersion, bool) {
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	m := semverRE.FindStringSubmatch(v)
	if m == nil {
		return minorVersion{}, false
	}
	for _, id := range strings.Split(m[3], ".") {
		if len(id) > 1 && id[0] == '0' && strings.Trim(id, "0123456789") == "" {
			return minorVersion{}, false // numeric pre-release identifiers have no leading zero
		}
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2]) // "" (v4) is minor 0
	return minorVersion{major, minor}, true
}

// completed is the highest Completed version of the history, as the
// operator compares with; any is false when nothing completed, readable
// false when entries completed but none parses.
func completed(cv *configv1.ClusterVersion) (v minorVersion, any, readable bool) {
	for _, h := range cv.Status.History {
		if h.State != configv1.CompletedUpdate {
			continue
		}
		any = true
		if m, ok := parseMinor(h.Version); ok && !strings.HasPrefix(h.Version, "v") {
			if !readable || m.after(v) {
				v = m
			}
			readable = true
		}
	}
	return v, any, readable
}

// Unblocks says whether the annotation value lets the cloud credential
// operator report Upgradeable for this cluster.
func Unblocks(value string, cv *configv1.ClusterVersion) bool {
	done, any, readable := completed(cv)
	if !any {
		return true
	}
	v, ok := parseMinor(value)
	return readable && ok && v.after(done)
}

// Covers says whether the value already allows the upgrade to target: it
// unblocks, and names the target's minor version or a later one.
func Covers(value, target string, cv *configv1.ClusterVersion) bool {
	v, ok := parseMinor(value)
	t, tok := parseMinor(target)
	return ok && tok && Unblocks(value, cv) && !t.after(v)
}

// AnnotationNeeded says whether upgrading to target needs the annotation:
// only minor (and major) upgrades do, the CVO ignores Upgradeable for
// patch updates. An error means the target version is not one the
// operator could read.
func AnnotationNeeded(target string, cv *configv1.ClusterVersion) (bool, error) {
	t, ok := parseMinor(target)
	if !ok {
		return false, fmt.Errorf("the target version %q is not a release version (x.y.z): the cloud credential operator could not read it in %s; give --target-version", target, UpgradeableToAnnotation)
	}
	done, _, readable := completed(cv)
	return !readable || t.after(done), nil
}

// ReadAnnotation reads the annotation on CloudCredential cluster.
func ReadAnnotation(ctx context.Context, dyn dynamic.Interface) (string, error) {
	obj, err := dyn.Resource(clustercheck.CloudCredentialGVR).Get(ctx, "cluster", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading CloudCredential cluster: %w", err)
	}
	return obj.GetAnnotations()[UpgradeableToAnnotation], nil
}

// MarkUpgradeable sets the upgradeable-to annotation on CloudCredential cluster.
func MarkUpgradeable(ctx context.Context, dyn dynamic.Interface, version string) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, UpgradeableToAnnotation, version)
	_, err := dyn.Resource(clustercheck.CloudCredentialGVR).Patch(ctx, "cluster", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("annotating CloudCredential cluster with %s=%s: %w", UpgradeableToAnnotation, version, err)
	}
	return nil
}
