package operator

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var authenticationGVR = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "authentications"}

// ReadIssuer is the cluster's service-account issuer (Authentication
// cluster): the roles trust tokens of that issuer only. A cluster without
// one signs for its internal issuer, which AWS cannot reach.
func ReadIssuer(ctx context.Context, dyn dynamic.Interface) (string, error) {
	obj, err := dyn.Resource(authenticationGVR).Get(ctx, "cluster", metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("reading authentication cluster: %w", err)
	}
	var issuer string
	if err == nil {
		issuer, _, _ = unstructured.NestedString(obj.Object, "spec", "serviceAccountIssuer")
	}
	switch {
	case issuer == "":
		return "", fmt.Errorf("the cluster has no service-account issuer (authentication cluster spec.serviceAccountIssuer): it does not run on AWS STS; oc sts verify says more")
	case !strings.HasPrefix(issuer, "https://") || strings.HasSuffix(issuer, "/"):
		return "", fmt.Errorf("the cluster's service-account issuer %q is not https:// without a trailing slash: oc sts verify says what to fix", issuer)
	}
	return issuer, nil
}
