package upgrade

import (
	"context"
	"fmt"

	configv1 "github.com/openshift/api/config/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
)

var (
	clusterVersionGVR = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "clusterversions"}
	featureGateGVR    = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "featuregates"}
)

// UpgradeableToAnnotation tells the cloud credential operator in Manual mode
// that the credentials are ready for a minor upgrade to the named version.
const UpgradeableToAnnotation = "cloudcredential.openshift.io/upgradeable-to"

// Version is what the cluster says about its release and its updates.
type Version struct {
	Current     string
	Enabled     []configv1.ClusterVersionCapability // nil when the cluster does not say
	FeatureSet  string
	UpdateImage map[string]string // version -> release image, from available and conditional updates
}

// ReadVersion reads ClusterVersion version and FeatureGate cluster; a
// cluster without them (no cluster-version operator) reads as unknown.
func ReadVersion(ctx context.Context, dyn dynamic.Interface) (Version, error) {
	v := Version{UpdateImage: map[string]string{}}
	obj, err := dyn.Resource(clusterVersionGVR).Get(ctx, "version", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return v, fmt.Errorf("reading ClusterVersion version: %w", err)
	default:
		var cv configv1.ClusterVersion
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &cv); err != nil {
			return v, fmt.Errorf("ClusterVersion version: %w", err)
		}
		v.Current = cv.Status.Desired.Version
		if cv.Status.Capabilities.EnabledCapabilities != nil {
			v.Enabled = cv.Status.Capabilities.EnabledCapabilities
		}
		for _, u := range cv.Status.AvailableUpdates {
			v.UpdateImage[u.Version] = u.Image
		}
		for _, u := range cv.Status.ConditionalUpdates {
			v.UpdateImage[u.Release.Version] = u.Release.Image
		}
	}
	fg, err := dyn.Resource(featureGateGVR).Get(ctx, "cluster", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return v, fmt.Errorf("reading FeatureGate cluster: %w", err)
	default:
		v.FeatureSet, _, _ = unstructured.NestedString(fg.Object, "spec", "featureSet")
	}
	return v, nil
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
