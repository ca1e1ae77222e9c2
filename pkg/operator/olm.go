// Package operator gives day-2 OLM operators their AWS roles on an STS
// cluster: it reads the operator (its Subscription, ClusterServiceVersion
// and the CredentialsRequests it makes or ships), computes the roles as
// prepare computes its own, and wires each role into the cluster the way
// the operator consumes it — ROLEARN in the Subscription for operators
// that support OpenShift's token-auth flow, otherwise the credentials
// Secret its CredentialsRequest names.
package operator

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// OLM's resources (operators.coreos.com/v1alpha1).
var (
	SubscriptionGVR = schema.GroupVersionResource{Group: "operators.coreos.com", Version: "v1alpha1", Resource: "subscriptions"}
	CSVGVR          = schema.GroupVersionResource{Group: "operators.coreos.com", Version: "v1alpha1", Resource: "clusterserviceversions"}
)

// TokenAuthAnnotation is the CSV annotation by which an operator says it
// supports AWS STS through the cloud-credential-operator: it reads ROLEARN
// from its environment and sets it as stsIAMRoleARN on its
// CredentialsRequest (the console then asks for a role ARN at install).
const TokenAuthAnnotation = "features.operators.openshift.io/token-auth-aws"

// RoleARNEnv is the variable the console sets in the Subscription's
// spec.config.env for a token-auth operator.
const RoleARNEnv = "ROLEARN"

// RoleARNVarsAnnotation on a CredentialsRequest names the variable that
// carries its role ARN when it is not ROLEARN (library-go's CSI
// CredentialsRequest controller: the EFS driver's node role is NODE_ROLEARN).
const RoleARNVarsAnnotation = "credentials.openshift.io/role-arns-vars"

// Subscription is what oc sts reads and writes of an OLM Subscription.
type Subscription struct {
	Namespace, Name string
	Package         string // spec.name
	InstalledCSV    string // status.installedCSV
	CurrentCSV      string // status.currentCSV: the newest resolved, maybe awaiting approval
	State           string // status.state: AtLatestKnown, UpgradePending, ...
	Env             []corev1.EnvVar
	ResourceVersion string
}

// Key is namespace/name.
func (s *Subscription) Key() string { return s.Namespace + "/" + s.Name }

// EnvValue is the value of a variable of spec.config.env ("" when unset).
func (s *Subscription) EnvValue(name string) string {
	for _, e := range s.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// CSV is what oc sts reads of a ClusterServiceVersion.
type CSV struct {
	Name, Version string
	Phase         string
	TokenAuthAWS  bool
	// ServiceAccounts run the CSV's deployments: the operator's own.
	ServiceAccounts []string
}

// ReadSubscription reads a Subscription; a missing one (or no OLM at all)
// is an error saying how to find it.
func ReadSubscription(ctx context.Context, dyn dynamic.Interface, namespace, name string) (*Subscription, error) {
	obj, err := dyn.Resource(SubscriptionGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("subscription %s/%s not found: list them with `oc get subscriptions -A` and give -n NAMESPACE --subscription NAME", namespace, name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading subscription %s/%s: %w", namespace, name, err)
	}
	return subscriptionFrom(obj)
}

func subscriptionFrom(obj *unstructured.Unstructured) (*Subscription, error) {
	s := &Subscription{Namespace: obj.GetNamespace(), Name: obj.GetName(), ResourceVersion: obj.GetResourceVersion()}
	s.Package, _, _ = unstructured.NestedString(obj.Object, "spec", "name")
	s.InstalledCSV, _, _ = unstructured.NestedString(obj.Object, "status", "installedCSV")
	s.CurrentCSV, _, _ = unstructured.NestedString(obj.Object, "status", "currentCSV")
	s.State, _, _ = unstructured.NestedString(obj.Object, "status", "state")
	env, _, err := unstructured.NestedSlice(obj.Object, "spec", "config", "env")
	if err != nil {
		return nil, fmt.Errorf("subscription %s: spec.config.env: %w", s.Key(), err)
	}
	for i, e := range env {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("subscription %s: spec.config.env[%d] is not an object", s.Key(), i)
		}
		var v corev1.EnvVar
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &v); err != nil {
			return nil, fmt.Errorf("subscription %s: spec.config.env[%d]: %w", s.Key(), i, err)
		}
		s.Env = append(s.Env, v)
	}
	return s, nil
}

// ListSubscriptions reads every Subscription; none when OLM is not installed.
func ListSubscriptions(ctx context.Context, dyn dynamic.Interface) ([]*Subscription, error) {
	list, err := dyn.Resource(SubscriptionGVR).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions: %w", err)
	}
	var out []*Subscription
	for i := range list.Items {
		s, err := subscriptionFrom(&list.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// ReadCSV reads the ClusterServiceVersion name in namespace; nil when it
// does not exist (a Subscription that has not installed anything yet).
func ReadCSV(ctx context.Context, dyn dynamic.Interface, namespace, name string) (*CSV, error) {
	if name == "" {
		return nil, nil
	}
	obj, err := dyn.Resource(CSVGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading clusterserviceversion %s/%s: %w", namespace, name, err)
	}
	return csvFrom(obj), nil
}

func csvFrom(obj *unstructured.Unstructured) *CSV {
	c := &CSV{Name: obj.GetName(), TokenAuthAWS: strings.EqualFold(obj.GetAnnotations()[TokenAuthAnnotation], "true")}
	c.Version, _, _ = unstructured.NestedString(obj.Object, "spec", "version")
	c.Phase, _, _ = unstructured.NestedString(obj.Object, "status", "phase")
	deployments, _, _ := unstructured.NestedSlice(obj.Object, "spec", "install", "spec", "deployments")
	seen := map[string]bool{}
	for _, d := range deployments {
		m, _ := d.(map[string]any)
		sa, _, _ := unstructured.NestedString(m, "spec", "template", "spec", "serviceAccountName")
		if sa != "" && !seen[sa] {
			seen[sa] = true
			c.ServiceAccounts = append(c.ServiceAccounts, sa)
		}
	}
	sort.Strings(c.ServiceAccounts)
	return c
}
