package upgrade

import (
	"context"
	"errors"
	"fmt"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/openshift/library-go/pkg/manifest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
)

var (
	clusterVersionGVR = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "clusterversions"}
	featureGateGVR    = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "featuregates"}
)

// ErrNoClusterVersion is returned when the cluster has no ClusterVersion:
// there is no cluster-version operator to predict.
var ErrNoClusterVersion = errors.New("the cluster has no ClusterVersion version: it is not an OpenShift cluster the cluster-version operator manages, so what an upgrade does cannot be told")

// State is what the cluster says that decides what the CVO will apply.
type State struct {
	ClusterVersion *configv1.ClusterVersion
	FeatureGate    *configv1.FeatureGate // nil when there is none (Default, as the CVO assumes)
	// Requests are the cluster's CredentialsRequest objects, as manifests:
	// the CVO applies them with their release annotations.
	Requests []manifest.Manifest
}

// Current is the version the cluster runs (status.desired).
func (s State) Current() string { return s.ClusterVersion.Status.Desired.Version }

// UpdateImage finds the release image of a version among the available
// and conditional updates.
func (s State) UpdateImage(version string) (string, bool) {
	for _, u := range s.ClusterVersion.Status.AvailableUpdates {
		if u.Version == version {
			return u.Image, true
		}
	}
	for _, u := range s.ClusterVersion.Status.ConditionalUpdates {
		if u.Release.Version == version {
			return u.Release.Image, true
		}
	}
	return "", false
}

// Updating reports whether the latest history entry is not Completed: the
// CVO may not have applied everything of the current release yet.
func (s State) Updating() bool {
	h := s.ClusterVersion.Status.History
	return len(h) > 0 && h[0].State != configv1.CompletedUpdate
}

// ReadState reads ClusterVersion version, FeatureGate cluster and the
// CredentialsRequests.
func ReadState(ctx context.Context, dyn dynamic.Interface) (State, error) {
	var s State
	obj, err := dyn.Resource(clusterVersionGVR).Get(ctx, "version", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return s, ErrNoClusterVersion
	case err != nil:
		return s, fmt.Errorf("reading ClusterVersion version: %w", err)
	}
	s.ClusterVersion = &configv1.ClusterVersion{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, s.ClusterVersion); err != nil {
		return s, fmt.Errorf("ClusterVersion version: %w", err)
	}
	if s.Current() == "" {
		return s, errors.New("ClusterVersion version has no status.desired.version: the cluster-version operator has not said which release the cluster runs")
	}
	fg, err := dyn.Resource(featureGateGVR).Get(ctx, "cluster", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return s, fmt.Errorf("reading FeatureGate cluster: %w", err)
	default:
		s.FeatureGate = &configv1.FeatureGate{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(fg.Object, s.FeatureGate); err != nil {
			return s, fmt.Errorf("FeatureGate cluster: %w", err)
		}
	}
	list, err := dyn.Resource(clustercheck.CredentialsRequestGVR).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return s, fmt.Errorf("listing CredentialsRequests: %w", err)
	}
	if list != nil {
		for i := range list.Items {
			m, err := asManifest(&list.Items[i])
			if err != nil {
				return s, err
			}
			s.Requests = append(s.Requests, m)
		}
	}
	return s, nil
}

func asManifest(obj *unstructured.Unstructured) (manifest.Manifest, error) {
	raw, err := obj.MarshalJSON()
	if err != nil {
		return manifest.Manifest{}, err
	}
	var m manifest.Manifest
	if err := m.UnmarshalJSON(raw); err != nil {
		return m, fmt.Errorf("%s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	m.OriginalFilename = "the cluster's " + obj.GetKind() + " " + strings.TrimPrefix(obj.GetNamespace()+"/"+obj.GetName(), "/")
	return m, nil
}

// Objects finds the cluster's object for a manifest of any kind.
type Objects interface {
	Get(ctx context.Context, m *manifest.Manifest) (obj *manifest.Manifest, found bool, err error)
}

// NewObjects looks objects up by the kinds the API server serves.
func NewObjects(dyn dynamic.Interface, disco discovery.DiscoveryInterface) Objects {
	return &objects{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))}
}

type objects struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
}

func (o *objects) Get(ctx context.Context, m *manifest.Manifest) (*manifest.Manifest, bool, error) {
	mapping, err := o.mapper.RESTMapping(m.GVK.GroupKind(), m.GVK.Version)
	if meta.IsNoMatchError(err) {
		return nil, false, nil // the kind is not served: nothing of it is applied
	}
	if err != nil {
		return nil, false, fmt.Errorf("looking up %s: %w", m.GVK, err)
	}
	ri := o.dyn.Resource(mapping.Resource)
	var obj *unstructured.Unstructured
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		obj, err = ri.Namespace(m.Obj.GetNamespace()).Get(ctx, m.Obj.GetName(), metav1.GetOptions{})
	} else {
		obj, err = ri.Get(ctx, m.Obj.GetName(), metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s %s/%s: %w", m.GVK.Kind, m.Obj.GetNamespace(), m.Obj.GetName(), err)
	}
	live, err := asManifest(obj)
	if err != nil {
		return nil, false, err
	}
	return &live, true, nil
}
