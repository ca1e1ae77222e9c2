package stsmanifests

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/oc-sts/oc-sts/pkg/plan"
)

// EnsureSecrets creates or updates each role's credentials Secret in a
// running cluster (the manifest prepare writes), creating its namespace when
// it is missing: the one writer of upgrade-check --apply and oc sts operator.
func EnsureSecrets(ctx context.Context, kube kubernetes.Interface, roles []plan.Role, progress func(string, ...any)) error {
	for _, r := range roles {
		var want corev1.Secret
		if err := yaml.Unmarshal(Secret(r), &want); err != nil {
			return err
		}
		ns := want.Namespace
		if _, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			progress("creating namespace %s", ns)
			if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("creating namespace %s: %w", ns, err)
			}
		}
		have, err := kube.CoreV1().Secrets(ns).Get(ctx, want.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			progress("creating secret %s/%s", ns, want.Name)
			_, err = kube.CoreV1().Secrets(ns).Create(ctx, &want, metav1.CreateOptions{})
		case err == nil && string(have.Data["credentials"]) != want.StringData["credentials"]:
			progress("updating secret %s/%s", ns, want.Name)
			have.Data, have.StringData = nil, want.StringData
			_, err = kube.CoreV1().Secrets(ns).Update(ctx, have, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("secret %s/%s: %w", ns, want.Name, err)
		}
	}
	return nil
}
