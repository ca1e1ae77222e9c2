package hive

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/oc-sts/oc-sts/pkg/installconfig"
)

var clusterDeploymentGVR = schema.GroupVersionResource{Group: "hive.openshift.io", Version: "v1", Resource: "clusterdeployments"}

// ApplyToHub creates or updates the objects and, when clusterDeployment is
// named, patches it and sets credentialsMode: Manual in its install-config
// Secret (keeping every other byte of the install-config).
func ApplyToHub(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, o Objects, clusterDeployment string, progress func(string, ...any)) error {
	secrets := []*corev1.Secret{o.SigningKey}
	if o.ManifestsSecret != nil {
		secrets = append(secrets, o.ManifestsSecret)
	}
	for _, s := range secrets {
		if err := upsertSecret(ctx, kube, s, progress); err != nil {
			return err
		}
	}
	if cm := o.ManifestsConfigMap; cm != nil {
		_, err := kube.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, cm, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			_, err = kube.CoreV1().ConfigMaps(cm.Namespace).Update(ctx, cm, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("configmap %s/%s: %w", cm.Namespace, cm.Name, err)
		}
		progress("applied configmap %s/%s", cm.Namespace, cm.Name)
	}
	if clusterDeployment == "" {
		return nil
	}
	ns := o.SigningKey.Namespace
	cd, err := dyn.Resource(clusterDeploymentGVR).Namespace(ns).Patch(ctx, clusterDeployment, types.MergePatchType, o.ClusterDeploymentPatch,
		metav1.PatchOptions{FieldValidation: metav1.FieldValidationStrict})
	if err != nil {
		return fmt.Errorf("patching ClusterDeployment %s/%s: %w", ns, clusterDeployment, err)
	}
	progress("patched ClusterDeployment %s/%s", ns, clusterDeployment)
	ref, _, _ := unstructured.NestedString(cd.Object, "spec", "provisioning", "installConfigSecretRef", "name")
	if ref == "" {
		return fmt.Errorf("ClusterDeployment %s/%s has no spec.provisioning.installConfigSecretRef: set credentialsMode: Manual in its install-config yourself", ns, clusterDeployment)
	}
	return setManual(ctx, kube, ns, ref, progress)
}

func upsertSecret(ctx context.Context, kube kubernetes.Interface, s *corev1.Secret, progress func(string, ...any)) error {
	_, err := kube.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = kube.CoreV1().Secrets(s.Namespace).Update(ctx, s, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	progress("applied secret %s/%s", s.Namespace, s.Name)
	return nil
}

// setManual edits install-config.yaml in the install-config Secret.
func setManual(ctx context.Context, kube kubernetes.Interface, ns, name string, progress func(string, ...any)) error {
	sec, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the install-config Secret %s/%s: %w", ns, name, err)
	}
	const key = "install-config.yaml"
	cfg, err := installconfig.Parse(fmt.Sprintf("secret %s/%s key %s", ns, name, key), sec.Data[key])
	if err != nil {
		return err
	}
	edited := cfg.SetManual()
	if string(edited) == string(sec.Data[key]) {
		return nil
	}
	sec.Data[key] = edited
	if _, err := kube.CoreV1().Secrets(ns).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating the install-config Secret %s/%s: %w", ns, name, err)
	}
	progress("set credentialsMode: Manual in secret %s/%s", ns, name)
	return nil
}
