package kubeworld

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The emulated step: on a real cluster, the kube-apiserver operator
// (openshift/cluster-kube-apiserver-operator, BoundSATokenSignerController
// and its static-pod revisions) takes a new signer key from the Secret
// openshift-kube-apiserver-operator/next-bound-service-account-signing-key.
// Here Operator plays that part against the one real kube-apiserver:
//
//  1. a Secret missing or lacking either key gets a generated RSA 2048 pair
//     (as the operator does);
//  2. its public key is added to the ConfigMap
//     openshift-kube-apiserver/bound-sa-token-signing-certs
//     (service-account-NNN.pub; none is ever removed);
//  3. a new revision is rolled out: kube-apiserver restarts accepting every
//     key of that ConfigMap (one --service-account-key-file each), still
//     signing with the old key;
//  4. once the node runs a revision holding the new public key, the pair is
//     copied to openshift-kube-apiserver/bound-service-account-signing-key
//     and a second revision rolled out: kube-apiserver restarts signing with
//     the new key.
//
// Each rollout is reported in KubeAPIServer cluster's status as the
// operator reports it (latestAvailableRevision, nodeStatuses with target
// and current revision, NodeInstallerProgressing), under the real CRD's
// validation. The operator's ConfigMap openshift-kube-apiserver/config
// holds the apiServerArguments kube-apiserver runs with. One node:
// master-0. What is not emulated: several API servers, installer pods,
// the kube-controller-manager's legacy key.
type Operator struct {
	c    *Cluster
	kube kubernetes.Interface
	dyn  dynamic.Interface
	dir  string
	args map[string][]string // extra kube-apiserver flags, as config.yaml lists them

	mu       sync.Mutex
	revision int32
	accepted []string // the public keys the running kube-apiserver accepts (PEM)
	signing  []byte   // the private key it signs with (PEM)
	rollouts int
	err      error
	stop     context.CancelFunc
	done     chan struct{}
}

// OperatorOptions configure the emulation.
type OperatorOptions struct {
	// SigningKey is the PEM private key kube-apiserver runs with now (the
	// installer's tls/bound-service-account-signing-key.key).
	SigningKey []byte
	// APIServerArguments are extra kube-apiserver flags (name -> values),
	// e.g. service-account-max-token-expiration, applied to every restart
	// and published in openshift-kube-apiserver/config.
	APIServerArguments map[string][]string
}

const (
	operatorNS    = "openshift-kube-apiserver-operator"
	operandNS     = "openshift-kube-apiserver"
	nextSecret    = "next-bound-service-account-signing-key"
	operandSecret = "bound-service-account-signing-key"
	publicKeysCM  = "bound-sa-token-signing-certs"
	privateData   = "service-account.key"
	publicData    = "service-account.pub"
	nodeName      = "master-0"
)

var kubeAPIServers = schema.GroupVersionResource{Group: "operator.openshift.io", Version: "v1", Resource: "kubeapiservers"}

// EmulateKubeAPIServerOperator seeds the cluster as an installed OpenShift
// one (revision 1 signing with o.SigningKey), restarts kube-apiserver with
// o.APIServerArguments, and plays the operator until Stop. The KubeAPIServer
// CRD must be installed.
func (c *Cluster) EmulateKubeAPIServerOperator(ctx context.Context, dir string, o OperatorOptions) (*Operator, error) {
	cfg := c.RESTConfig()
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	op := &Operator{c: c, kube: kube, dyn: dyn, dir: dir, args: o.APIServerArguments, done: make(chan struct{})}
	pub, err := publicPEM(o.SigningKey)
	if err != nil {
		return nil, err
	}
	if err := op.seed(ctx, o.SigningKey, pub); err != nil {
		return nil, err
	}
	if err := op.restart(ctx, 1, o.SigningKey, []string{pub}); err != nil {
		return nil, err
	}
	if err := op.setStatus(ctx, 1, 0, 1); err != nil {
		return nil, err
	}
	loop, stop := context.WithCancel(context.Background())
	op.stop = stop
	go op.run(loop)
	return op, nil
}

// RESTConfig is an admin client configuration for the cluster.
func (c *Cluster) RESTConfig() *rest.Config {
	return &rest.Config{Host: c.URL, BearerToken: adminToken, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 100, Burst: 200}
}

// Stop ends the emulation; it returns the first error the operator hit.
func (op *Operator) Stop() error {
	op.stop()
	<-op.done
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.err
}

// Rollouts is how many revisions were rolled out after the first.
func (op *Operator) Rollouts() int {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.rollouts
}

// Err is the error that stopped the emulation, if any.
func (op *Operator) Err() error {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.err
}

func (op *Operator) seed(ctx context.Context, key []byte, pub string) error {
	for _, ns := range []string{operatorNS, operandNS} {
		if _, err := op.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	pair := map[string][]byte{privateData: key, publicData: []byte(pub)}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: nextSecret, Namespace: operatorNS}, Data: pair},
		{ObjectMeta: metav1.ObjectMeta{Name: operandSecret, Namespace: operandNS}, Data: pair},
	} {
		if _, err := op.kube.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	cfg, _ := json.Marshal(map[string]any{"apiVersion": "kubecontrolplane.config.openshift.io/v1", "kind": "KubeAPIServerConfig", "apiServerArguments": op.args})
	for _, cm := range []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: publicKeysCM, Namespace: operandNS}, Data: map[string]string{"service-account-001.pub": pub}},
		{ObjectMeta: metav1.ObjectMeta{Name: "config", Namespace: operandNS}, Data: map[string]string{"config.yaml": string(cfg)}},
	} {
		if _, err := op.kube.CoreV1().ConfigMaps(operandNS).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "operator.openshift.io/v1", "kind": "KubeAPIServer",
		"metadata": map[string]any{"name": "cluster"}, "spec": map[string]any{"managementState": "Managed"}}}
	if _, err := op.dyn.Resource(kubeAPIServers).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return err
	}
	// A node status is created bare, then given its revisions (the CRD's rules).
	if err := op.updateStatus(ctx, func(st map[string]any) {
		st["latestAvailableRevision"] = int64(1)
		st["nodeStatuses"] = []any{map[string]any{"nodeName": nodeName}}
	}); err != nil {
		return err
	}
	return op.revisionConfigMap(ctx, 1, map[string]string{"service-account-001.pub": pub})
}

func (op *Operator) run(ctx context.Context) {
	defer close(op.done)
	for {
		if err := op.sync(ctx); err != nil && ctx.Err() == nil {
			op.mu.Lock()
			op.err = err
			op.mu.Unlock()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// sync is one pass of the operator's controllers.
func (op *Operator) sync(ctx context.Context) error {
	secret, err := op.kube.CoreV1().Secrets(operatorNS).Get(ctx, nextSecret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return op.generate(ctx, nil)
	case err == nil && (len(secret.Data[privateData]) == 0 || len(secret.Data[publicData]) == 0):
		return op.generate(ctx, secret)
	}
	if err != nil {
		return nil // the API server is restarting: try again
	}
	pub := string(secret.Data[publicData])
	cm, err := op.kube.CoreV1().ConfigMaps(operandNS).Get(ctx, publicKeysCM, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	if !slices.Contains(values(cm.Data), pub) {
		n := len(cm.Data) + 1
		for ; cm.Data[fmt.Sprintf("service-account-%03d.pub", n)] != ""; n++ {
		}
		cm.Data[fmt.Sprintf("service-account-%03d.pub", n)] = pub
		_, err := op.kube.CoreV1().ConfigMaps(operandNS).Update(ctx, cm, metav1.UpdateOptions{})
		return ignoreConflict(err)
	}
	op.mu.Lock()
	accepted, signing, revision := op.accepted, op.signing, op.revision
	op.mu.Unlock()
	want := values(cm.Data)
	switch {
	case !slices.Equal(want, accepted):
		return op.rollout(ctx, revision+1, signing, cm.Data)
	case !bytes.Equal(secret.Data[privateData], signing) && slices.Contains(accepted, pub):
		operand := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: operandSecret, Namespace: operandNS}, Data: secret.Data}
		if _, err := op.kube.CoreV1().Secrets(operandNS).Update(ctx, operand, metav1.UpdateOptions{}); err != nil {
			return ignoreConflict(err)
		}
		return op.rollout(ctx, revision+1, secret.Data[privateData], cm.Data)
	}
	return nil
}

// generate makes a key pair for a Secret lacking one, as the operator does.
func (op *Operator) generate(ctx context.Context, existing *corev1.Secret) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	data := map[string][]byte{
		privateData: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		publicData:  pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: der}), // the operator's label for a PKIX key
	}
	if existing == nil {
		_, err = op.kube.CoreV1().Secrets(operatorNS).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: nextSecret, Namespace: operatorNS}, Data: data}, metav1.CreateOptions{})
	} else {
		existing.Data = data
		_, err = op.kube.CoreV1().Secrets(operatorNS).Update(ctx, existing, metav1.UpdateOptions{})
	}
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return ignoreConflict(err)
}

// rollout installs revision on the node: kube-apiserver restarts signing
// with signing and accepting every key of publicKeys.
func (op *Operator) rollout(ctx context.Context, revision int32, signing []byte, publicKeys map[string]string) error {
	if err := op.revisionConfigMap(ctx, revision, publicKeys); err != nil {
		return err
	}
	if err := op.setStatus(ctx, revision, revision, 0); err != nil {
		return err
	}
	if err := op.restart(ctx, revision, signing, values(publicKeys)); err != nil {
		return err
	}
	op.mu.Lock()
	op.rollouts++
	op.mu.Unlock()
	return op.setStatus(ctx, revision, 0, revision)
}

func (op *Operator) restart(ctx context.Context, revision int32, signing []byte, publicKeys []string) error {
	dir := filepath.Join(op.dir, fmt.Sprintf("revision-%d", revision))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	keyFile := filepath.Join(dir, "service-account.key")
	if err := os.WriteFile(keyFile, signing, 0o600); err != nil {
		return err
	}
	var files []string
	for i, pub := range publicKeys {
		f := filepath.Join(dir, fmt.Sprintf("accepted-%03d.pub", i+1))
		if err := os.WriteFile(f, []byte(pub), 0o644); err != nil {
			return err
		}
		files = append(files, f)
	}
	var extra []string
	for _, name := range sortedKeys(op.args) {
		for _, v := range op.args[name] {
			extra = append(extra, "--"+name+"="+v)
		}
	}
	if err := op.c.RestartAPIServer(ctx, keyFile, files, extra...); err != nil {
		return err
	}
	op.mu.Lock()
	op.revision, op.accepted, op.signing = revision, publicKeys, signing
	op.mu.Unlock()
	return nil
}

// revisionConfigMap is the revision's copy of the public keys, as the
// operator keeps one per revision.
func (op *Operator) revisionConfigMap(ctx context.Context, revision int32, publicKeys map[string]string) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", publicKeysCM, revision), Namespace: operandNS}, Data: publicKeys}
	_, err := op.kube.CoreV1().ConfigMaps(operandNS).Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// setStatus: latest revision, the node's target (0: none) and current
// revision, and whether an installer is at work.
func (op *Operator) setStatus(ctx context.Context, latest, target, current int32) error {
	return op.updateStatus(ctx, func(st map[string]any) {
		st["latestAvailableRevision"] = int64(latest)
		node := map[string]any{"nodeName": nodeName}
		if target != 0 {
			node["targetRevision"] = int64(target)
		}
		if current == 0 {
			current = op.revision
		}
		node["currentRevision"] = int64(current)
		st["nodeStatuses"] = []any{node}
		progressing, reason, msg := "False", "AllNodesAtLatestRevision", fmt.Sprintf("1 node is at revision %d", current)
		if target != 0 {
			progressing, reason, msg = "True", "NodeInstaller", fmt.Sprintf("1 node is at revision %d; 0 nodes have achieved new revision %d", current, target)
		}
		st["conditions"] = []any{map[string]any{"type": "NodeInstallerProgressing", "status": progressing, "reason": reason, "message": msg,
			"lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}
	})
}

func (op *Operator) updateStatus(ctx context.Context, edit func(map[string]any)) error {
	for {
		obj, err := op.dyn.Resource(kubeAPIServers).Get(ctx, "cluster", metav1.GetOptions{})
		if err != nil {
			return err
		}
		st, _, _ := unstructured.NestedMap(obj.Object, "status")
		if st == nil {
			st = map[string]any{}
		}
		edit(st)
		obj.Object["status"] = st
		_, err = op.dyn.Resource(kubeAPIServers).UpdateStatus(ctx, obj, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			return err
		}
	}
}

func publicPEM(private []byte) (string, error) {
	block, _ := pem.Decode(private)
	if block == nil {
		return "", fmt.Errorf("no PEM private key")
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return "", err
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// values are a ConfigMap's values in key order.
func values(m map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func ignoreConflict(err error) error {
	if apierrors.IsConflict(err) || err != nil && strings.Contains(err.Error(), "connection refused") {
		return nil
	}
	return err
}
