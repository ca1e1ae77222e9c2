package rotation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
)

// How the kube-apiserver operator takes a signer key (openshift/
// cluster-kube-apiserver-operator, BoundSATokenSignerController): a key
// pair in the Secret next-bound-service-account-signing-key of
// openshift-kube-apiserver-operator (service-account.key, .pub) is taken as
// it is (the operator generates one only when the Secret or either key is
// missing); its public key is added to the ConfigMap
// bound-sa-token-signing-certs of openshift-kube-apiserver (every key
// there is accepted; none is ever removed by the operator) and rolled out
// to every kube-apiserver; only once every node runs a revision holding
// it is the pair copied to the Secret bound-service-account-signing-key
// and rolled out again: then the API servers sign with it.
const (
	OperatorNamespace  = "openshift-kube-apiserver-operator"
	OperandNamespace   = "openshift-kube-apiserver"
	NextSecret         = "next-bound-service-account-signing-key"
	PublicKeysMap      = "bound-sa-token-signing-certs"
	PrivateKeyData     = "service-account.key"
	PublicKeyData      = "service-account.pub"
	operatorConfigMap  = "config"
	operatorConfigData = "config.yaml"
)

var (
	kubeAPIServerGVR  = schema.GroupVersionResource{Group: "operator.openshift.io", Version: "v1", Resource: "kubeapiservers"}
	authenticationGVR = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "authentications"}
)

// Subject is a service account tokens can be requested for.
type Subject struct{ Namespace, Name string }

// KubeCluster is a live cluster through its API.
type KubeCluster struct {
	Kube kubernetes.Interface
	Dyn  dynamic.Interface
	// Subjects are the service accounts tried, in order, for TokenRequests
	// (the CredentialsRequests' own).
	Subjects []Subject
	working  *Subject
}

func (k *KubeCluster) Issuer(ctx context.Context) (string, error) {
	obj, err := k.Dyn.Resource(authenticationGVR).Get(ctx, "cluster", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading authentication cluster: %w", err)
	}
	v, _, _ := unstructured.NestedString(obj.Object, "spec", "serviceAccountIssuer")
	return v, nil
}

func (k *KubeCluster) SigningKIDs(ctx context.Context, n int) ([]string, error) {
	var kids []string
	for len(kids) < n {
		kid, err := k.signingKID(ctx)
		if err != nil {
			return nil, err
		}
		kids = append(kids, kid)
	}
	return kids, nil
}

func (k *KubeCluster) signingKID(ctx context.Context) (string, error) {
	if k.working != nil {
		return clustercheck.TokenKeyID(ctx, k.Kube, k.working.Namespace, k.working.Name)
	}
	var errs []error
	for _, s := range k.Subjects {
		kid, err := clustercheck.TokenKeyID(ctx, k.Kube, s.Namespace, s.Name)
		if err == nil {
			k.working = &s
			return kid, nil
		}
		if !apierrors.IsNotFound(err) {
			return "", err
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("no service account of the plan's CredentialsRequests exists in the cluster to request a token for (is this the cluster of this state dir?): %w", errors.Join(errs...))
}

func (k *KubeCluster) AcceptedKIDs(ctx context.Context) ([]string, error) {
	raw, err := k.Kube.CoreV1().RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's keys (/openid/v1/jwks): %w", err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("/openid/v1/jwks: %w", err)
	}
	var kids []string
	for _, key := range set.Keys {
		kids = append(kids, key.Kid)
	}
	return kids, nil
}

func (k *KubeCluster) HandedKID(ctx context.Context) (string, error) {
	s, err := k.Kube.CoreV1().Secrets(OperatorNamespace).Get(ctx, NextSecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading secret %s/%s: %w", OperatorNamespace, NextSecret, err)
	}
	pub, err := oidckeys.ParsePublicKey(s.Data[PublicKeyData])
	if err != nil {
		return "", nil
	}
	return oidckeys.KeyID(pub)
}

func (k *KubeCluster) HandOver(ctx context.Context, key *oidckeys.Signer) (bool, error) {
	data := map[string][]byte{PrivateKeyData: key.PrivatePEM, PublicKeyData: key.PublicPEM()}
	secrets := k.Kube.CoreV1().Secrets(OperatorNamespace)
	for attempt := 0; ; attempt++ {
		s, err := secrets.Get(ctx, NextSecret, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: NextSecret, Namespace: OperatorNamespace}, Data: data}, metav1.CreateOptions{})
		case err == nil && bytes.Equal(s.Data[PrivateKeyData], data[PrivateKeyData]) && bytes.Equal(s.Data[PublicKeyData], data[PublicKeyData]):
			return false, nil
		case err == nil:
			if s.Data == nil {
				s.Data = map[string][]byte{}
			}
			s.Data[PrivateKeyData], s.Data[PublicKeyData] = data[PrivateKeyData], data[PublicKeyData]
			_, err = secrets.Update(ctx, s, metav1.UpdateOptions{}) // resourceVersion: the operator's own write is not lost
		}
		if err == nil {
			return true, nil
		}
		if (!apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err)) || attempt == 4 {
			return false, fmt.Errorf("writing secret %s/%s: %w", OperatorNamespace, NextSecret, err)
		}
	}
}

func (k *KubeCluster) Rollout(ctx context.Context) (Rollout, error) {
	obj, err := k.Dyn.Resource(kubeAPIServerGVR).Get(ctx, "cluster", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Rollout{}, nil
	}
	if err != nil {
		return Rollout{}, fmt.Errorf("reading kubeapiserver cluster: %w", err)
	}
	var st struct {
		LatestAvailableRevision int32 `json:"latestAvailableRevision"`
		NodeStatuses            []struct {
			CurrentRevision int32 `json:"currentRevision"`
			TargetRevision  int32 `json:"targetRevision"`
		} `json:"nodeStatuses"`
		Conditions []struct{ Type, Status, Message string } `json:"conditions"`
	}
	raw, _, _ := unstructured.NestedMap(obj.Object, "status")
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &st); err != nil {
		return Rollout{}, fmt.Errorf("kubeapiserver cluster status: %w", err)
	}
	r := Rollout{Known: true, LatestRevision: st.LatestAvailableRevision, Nodes: len(st.NodeStatuses)}
	for _, n := range st.NodeStatuses {
		if n.CurrentRevision == st.LatestAvailableRevision && (n.TargetRevision == 0 || n.TargetRevision == n.CurrentRevision) {
			r.NodesAtLatest++
		}
	}
	for _, c := range st.Conditions {
		switch {
		case c.Type == "NodeInstallerProgressing" && c.Status == "True":
			r.Progressing = true
		case c.Status == "True" && (c.Type == "BoundSATokenSignerControllerDegraded" || c.Type == "NodeInstallerDegraded"):
			r.Degraded = c.Type + ": " + c.Message
		}
	}
	return r, nil
}

func (k *KubeCluster) TokenSettings(ctx context.Context) TokenSettings {
	source := "configmap " + OperandNamespace + "/" + operatorConfigMap
	cm, err := k.Kube.CoreV1().ConfigMaps(OperandNamespace).Get(ctx, operatorConfigMap, metav1.GetOptions{})
	if err != nil {
		return TokenSettings{Source: source + ": " + err.Error()}
	}
	var cfg struct {
		APIServerArguments map[string][]string `json:"apiServerArguments"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data[operatorConfigData]), &cfg); err != nil {
		return TokenSettings{Source: source + ": " + operatorConfigData + ": " + err.Error()}
	}
	s, err := ParseTokenSettings(cfg.APIServerArguments, source)
	if err != nil {
		return TokenSettings{Source: err.Error()}
	}
	return s
}
