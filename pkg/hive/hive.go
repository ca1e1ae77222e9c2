// Package hive renders what a Hive ClusterDeployment needs for an STS
// install: the signer key Secret, the extra install manifests (credentials
// Secrets and the Authentication config, under the names the installer
// reads) and the ClusterDeployment patch that points at them.
package hive

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/stsmanifests"
)

// SigningKeyDataKey is the data key Hive reads the bound service-account
// signing key from (spec.boundServiceAccountSigningKeySecretRef).
const SigningKeyDataKey = "bound-service-account-signing-key.key"

// Objects are the hub objects of one cluster.
type Objects struct {
	SigningKey *corev1.Secret
	// Exactly one of ManifestsSecret (the default: the manifests name role
	// ARNs) and ManifestsConfigMap is set.
	ManifestsSecret    *corev1.Secret
	ManifestsConfigMap *corev1.ConfigMap
	// ClusterDeploymentPatch is a JSON merge patch for the ClusterDeployment.
	ClusterDeploymentPatch json.RawMessage
}

// Build renders the objects for cluster name in namespace.
func Build(name, namespace string, p *plan.Plan, signerPEM []byte, configMap bool) Objects {
	o := Objects{SigningKey: &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name + "-bound-service-account-signing-key", Namespace: namespace},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{SigningKeyDataKey: signerPEM},
	}}
	manifests := map[string]string{stsmanifests.AuthenticationFile: string(stsmanifests.Authentication(p.Issuer.URL))}
	for _, r := range p.Roles {
		manifests[stsmanifests.SecretFile(r)] = string(stsmanifests.Secret(r))
	}
	meta := metav1.ObjectMeta{Name: name + "-sts-manifests", Namespace: namespace}
	ref := "manifestsSecretRef"
	if configMap {
		ref = "manifestsConfigMapRef"
		o.ManifestsConfigMap = &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: meta, Data: manifests}
	} else {
		o.ManifestsSecret = &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: meta, Type: corev1.SecretTypeOpaque, StringData: manifests}
	}
	patch := map[string]any{"spec": map[string]any{
		"boundServiceAccountSigningKeySecretRef": map[string]string{"name": o.SigningKey.Name},
		"provisioning":                           map[string]any{ref: map[string]string{"name": meta.Name}},
	}}
	o.ClusterDeploymentPatch, _ = json.Marshal(patch)
	return o
}

// List is the objects as a v1 List (for -o yaml and kubectl apply).
func (o Objects) List() map[string]any {
	items := []any{o.SigningKey}
	if o.ManifestsSecret != nil {
		items = append(items, o.ManifestsSecret)
	} else {
		items = append(items, o.ManifestsConfigMap)
	}
	return map[string]any{"apiVersion": "v1", "kind": "List", "items": items}
}
