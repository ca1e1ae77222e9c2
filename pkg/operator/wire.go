package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/stsmanifests"
)

// ClusterChange is one change to the cluster's objects that wires a role
// in. Values are role ARNs: a credentials Secret of STS form holds no key.
type ClusterChange struct {
	Object string `json:"object"` // subscription NS/NAME or secret NS/NAME
	Field  string `json:"field"`  // spec.config.env[ROLEARN] or data.credentials
	Action string `json:"action"` // create, update or delete
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
}

func (c ClusterChange) String() string {
	sign := map[string]string{"create": "+", "update": "~", "delete": "-"}[c.Action]
	s := fmt.Sprintf("  %s %s %s", sign, c.Object, c.Field)
	switch {
	case c.From != "" && c.To != "":
		s += ": " + c.From + " -> " + c.To
	case c.To != "":
		s += ": " + c.To
	case c.From != "":
		s += " (was " + c.From + ")"
	}
	return s
}

// Observed is the cluster side of the wiring as found.
type Observed struct {
	Subscription *Subscription
	Secrets      map[string]clustercheck.Secret // by namespace/name
	CCOSecrets   map[string]bool                // Secrets the cloud-credential-operator wrote
	Namespaces   map[string]bool                // existing namespaces of the Secrets
	// Records are the CredentialsRequests of the cluster named like the
	// requests given with -f whose Secret oc sts writes (nil: none).
	Records map[string]*unstructured.Unstructured
	// CredentialsMode is CloudCredential cluster's spec.credentialsMode.
	CredentialsMode string
}

// RecordAnnotation marks a CredentialsRequest oc sts operator created in
// the cluster from a file: the record of what the role it wrote into the
// Secret must grant and trust, which verify and upgrade-check read like
// any request (the cloud-credential-operator does nothing with a request
// without stsIAMRoleARN in Manual mode).
const RecordAnnotation = "oc-sts.openshift.io/record-of"

// needsRecord says a role's request is recorded in the cluster by oc sts:
// it came from a file, and its Secret is written by oc sts (an operator
// wired through ROLEARN creates its own).
func needsRecord(r Role) bool { return !r.Request.InCluster && r.Wiring.Env == "" }

// CCOAnnotation is what the cloud-credential-operator puts on the Secrets
// it writes: the CredentialsRequest they serve.
const CCOAnnotation = "cloudcredential.openshift.io/credentials-request"

// ObserveWiring reads the Secrets the roles' wiring names.
func ObserveWiring(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, sub *Subscription, roles []Role) (*Observed, error) {
	o := &Observed{Subscription: sub, Secrets: map[string]clustercheck.Secret{}, CCOSecrets: map[string]bool{}, Namespaces: map[string]bool{},
		Records: map[string]*unstructured.Unstructured{}}
	mode, err := dyn.Resource(clustercheck.CloudCredentialGVR).Get(ctx, "cluster", metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading cloudcredential cluster: %w", err)
	}
	if err == nil {
		o.CredentialsMode, _, _ = unstructured.NestedString(mode.Object, "spec", "credentialsMode")
	}
	for _, r := range roles {
		if needsRecord(r) {
			cr, err := dyn.Resource(clustercheck.CredentialsRequestGVR).Namespace(r.Request.CR.Namespace).Get(ctx, r.Request.CR.Name, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("reading credentialsrequest %s: %w", r.Request.Key(), err)
			}
			if err == nil {
				o.Records[r.Request.Key()] = cr
			}
		}
		ns, name, _ := strings.Cut(r.Wiring.Secret, "/")
		if _, seen := o.Namespaces[ns]; !seen {
			_, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("reading namespace %s: %w", ns, err)
			}
			o.Namespaces[ns] = err == nil
		}
		if !o.Namespaces[ns] {
			continue
		}
		s, err := clustercheck.ReadSecret(ctx, kube, ns, name)
		if err != nil {
			return nil, err
		}
		o.Secrets[r.Wiring.Secret] = s
		if s.Found {
			sec, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("reading secret %s: %w", r.Wiring.Secret, err)
			}
			o.CCOSecrets[r.Wiring.Secret] = sec.Annotations[CCOAnnotation] != ""
		}
	}
	return o, nil
}

// DiffWiring lists what wiring the roles in changes in the cluster, or
// why it cannot be done (checked before AWS is touched).
func DiffWiring(roles []Role, o *Observed) ([]ClusterChange, error) {
	var out []ClusterChange
	var errs []error
	for _, r := range roles {
		if r.Wiring.Env != "" {
			have := o.Subscription.EnvValue(r.Wiring.Env)
			if have != r.ARN {
				out = append(out, ClusterChange{Object: "subscription " + o.Subscription.Key(), Field: "spec.config.env[" + r.Wiring.Env + "]",
					Action: map[bool]string{true: "create", false: "update"}[have == ""], From: have, To: r.ARN})
			}
			continue
		}
		ns, _, _ := strings.Cut(r.Wiring.Secret, "/")
		if !o.Namespaces[ns] {
			errs = append(errs, fmt.Errorf("namespace %s does not exist: the Secret of CredentialsRequest %s goes there; install the operator first (or fix --namespace)", ns, r.Request.Key()))
			continue
		}
		if a := r.Request.STSRoleARN; a != "" && a != r.ARN {
			errs = append(errs, fmt.Errorf("CredentialsRequest %s names role %s in spec.providerSpec.stsIAMRoleARN: the cloud-credential-operator writes Secret %s from it, and oc sts will not write another role into it; remove stsIAMRoleARN from the request (or from what the operator sets it from) and run again", r.Request.Key(), a, r.Wiring.Secret))
			continue
		}
		if needsRecord(r) {
			ch, err := diffRecord(r, o)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, ch...)
		}
		s := o.Secrets[r.Wiring.Secret]
		switch {
		case r.Request.STSRoleARN == r.ARN:
			// the cloud-credential-operator writes this Secret from stsIAMRoleARN
		case !s.Found:
			out = append(out, ClusterChange{Object: "secret " + r.Wiring.Secret, Field: "data.credentials", Action: "create", To: r.ARN})
		case s.StaticKeys:
			out = append(out, ClusterChange{Object: "secret " + r.Wiring.Secret, Field: "data.credentials", Action: "update", From: "static access keys (long-lived; deactivate them in IAM afterwards)", To: r.ARN})
		case s.Unparseable || s.RoleARN != r.ARN || s.TokenFile != stsmanifests.TokenFile || !s.Regional:
			from := s.RoleARN
			if from == "" {
				from = "no role_arn"
			}
			out = append(out, ClusterChange{Object: "secret " + r.Wiring.Secret, Field: "data.credentials", Action: "update", From: from, To: r.ARN})
		}
	}
	return out, errors.Join(errs...)
}

// diffRecord: the request given with -f is created in the cluster as
// filled in, or updated when oc sts created it; one the operator or the
// user made is left as it is.
func diffRecord(r Role, o *Observed) ([]ClusterChange, error) {
	key := r.Request.Key()
	have := o.Records[key]
	switch {
	case have == nil && o.CredentialsMode != "Manual":
		return nil, fmt.Errorf("CloudCredential cluster's credentialsMode is %q, not Manual: a CredentialsRequest oc sts records there would have the cloud-credential-operator mint long-lived keys for it; this is not an STS cluster (oc sts verify says more)", o.CredentialsMode)
	case have == nil:
		return []ClusterChange{{Object: "credentialsrequest " + key, Field: "spec", Action: "create", To: "as given in " + r.Request.File + " (what verify and upgrade-check hold the role to)"}}, nil
	case have.GetAnnotations()[RecordAnnotation] == "":
		return nil, nil
	}
	want, err := record(r)
	if err != nil {
		return nil, err
	}
	if equalJSON(have.Object["spec"], want.Object["spec"]) {
		return nil, nil
	}
	return []ClusterChange{{Object: "credentialsrequest " + key, Field: "spec", Action: "update", To: "as given in " + r.Request.File}}, nil
}

// record is the CredentialsRequest oc sts creates for a request of a file.
func record(r Role) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(r.Request.CR)
	if err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{Object: map[string]any{"spec": m["spec"]}}
	obj.SetAPIVersion("cloudcredential.openshift.io/v1")
	obj.SetKind("CredentialsRequest")
	obj.SetNamespace(r.Request.CR.Namespace)
	obj.SetName(r.Request.CR.Name)
	obj.SetAnnotations(map[string]string{RecordAnnotation: r.Request.File})
	return obj, nil
}

func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// ApplyWiring makes the changes DiffWiring listed.
func ApplyWiring(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, roles []Role, o *Observed, changes []ClusterChange, progress func(string, ...any)) error {
	env := map[string]string{}
	secrets := map[string]bool{}
	records := map[string]bool{}
	for _, ch := range changes {
		switch {
		case strings.HasPrefix(ch.Object, "credentialsrequest ") && ch.Action != "delete":
			records[strings.TrimPrefix(ch.Object, "credentialsrequest ")] = true
		case strings.HasPrefix(ch.Object, "subscription "):
			env[strings.TrimSuffix(strings.TrimPrefix(ch.Field, "spec.config.env["), "]")] = ch.To
		case strings.HasPrefix(ch.Object, "secret ") && ch.Action != "delete":
			secrets[strings.TrimPrefix(ch.Object, "secret ")] = true
		}
	}
	if len(env) > 0 {
		if err := setEnv(ctx, dyn, o.Subscription, env, progress); err != nil {
			return err
		}
	}
	for _, r := range roles {
		if records[r.Request.Key()] {
			if err := writeRecord(ctx, dyn, r, o.Records[r.Request.Key()], progress); err != nil {
				return err
			}
		}
		if secrets[r.Wiring.Secret] {
			if err := stsmanifests.EnsureSecrets(ctx, kube, []plan.Role{r.Role}, progress); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeRecord(ctx context.Context, dyn dynamic.Interface, r Role, have *unstructured.Unstructured, progress func(string, ...any)) error {
	want, err := record(r)
	if err != nil {
		return err
	}
	client := dyn.Resource(clustercheck.CredentialsRequestGVR).Namespace(want.GetNamespace())
	if have == nil {
		progress("creating credentialsrequest %s", r.Request.Key())
		_, err = client.Create(ctx, want, metav1.CreateOptions{})
	} else {
		progress("updating credentialsrequest %s", r.Request.Key())
		have.Object["spec"] = want.Object["spec"]
		_, err = client.Update(ctx, have, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("credentialsrequest %s: %w", r.Request.Key(), err)
	}
	return nil
}

// setEnv sets variables of (a value "" removes one from)
// the Subscription's spec.config.env, keeping every other entry and its
// order; the patch carries the resourceVersion read, so a Subscription
// changed meanwhile is not overwritten.
func setEnv(ctx context.Context, dyn dynamic.Interface, sub *Subscription, set map[string]string, progress func(string, ...any)) error {
	var env []corev1.EnvVar
	done := map[string]bool{}
	for _, e := range sub.Env {
		v, change := set[e.Name]
		switch {
		case !change:
			env = append(env, e)
		case v != "":
			env = append(env, corev1.EnvVar{Name: e.Name, Value: v})
		}
		done[e.Name] = true
	}
	for _, name := range sortedKeys(set) {
		if !done[name] && set[name] != "" {
			env = append(env, corev1.EnvVar{Name: name, Value: set[name]})
		}
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": sub.ResourceVersion},
		"spec":     map[string]any{"config": map[string]any{"env": envOrEmpty(env)}},
	})
	if err != nil {
		return err
	}
	progress("setting %s in subscription %s spec.config.env", strings.Join(sortedKeys(set), ", "), sub.Key())
	_, err = dyn.Resource(SubscriptionGVR).Namespace(sub.Namespace).Patch(ctx, sub.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsConflict(err) {
		return fmt.Errorf("subscription %s changed while oc sts was running: run it again", sub.Key())
	}
	if err != nil {
		return fmt.Errorf("patching subscription %s: %w", sub.Key(), err)
	}
	return nil
}

func envOrEmpty(env []corev1.EnvVar) []corev1.EnvVar {
	if env == nil {
		return []corev1.EnvVar{}
	}
	return env
}

// DiffUnwire lists what deleting roles (by ARN) undoes in the cluster: the
// Subscription's variables that name them, and the Secrets of requests
// that name them in STS form, unless the cloud-credential-operator wrote
// them (it answers for those: its CredentialsRequest still names the role).
func DiffUnwire(deleted map[string]bool, sub *Subscription, o *Observed) []ClusterChange {
	var out []ClusterChange
	if sub != nil {
		for _, e := range sub.Env {
			if deleted[e.Value] {
				out = append(out, ClusterChange{Object: "subscription " + sub.Key(), Field: "spec.config.env[" + e.Name + "]", Action: "delete", From: e.Value})
			}
		}
	}
	for _, key := range sortedKeys(o.Secrets) {
		s := o.Secrets[key]
		if s.Found && deleted[s.RoleARN] && !s.StaticKeys && !o.CCOSecrets[key] {
			out = append(out, ClusterChange{Object: "secret " + key, Field: "data.credentials", Action: "delete", From: s.RoleARN})
		}
	}
	for _, key := range sortedKeys(o.Records) {
		if from := o.Records[key].GetAnnotations()[RecordAnnotation]; from != "" {
			out = append(out, ClusterChange{Object: "credentialsrequest " + key, Field: "spec", Action: "delete", From: "recorded from " + from})
		}
	}
	return out
}

// ApplyUnwire makes the changes DiffUnwire listed.
func ApplyUnwire(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, sub *Subscription, changes []ClusterChange, progress func(string, ...any)) error {
	remove := map[string]string{}
	for _, ch := range changes {
		switch {
		case strings.HasPrefix(ch.Object, "subscription "):
			remove[strings.TrimSuffix(strings.TrimPrefix(ch.Field, "spec.config.env["), "]")] = ""
		case strings.HasPrefix(ch.Object, "secret "):
			ns, name, _ := strings.Cut(strings.TrimPrefix(ch.Object, "secret "), "/")
			progress("deleting secret %s/%s", ns, name)
			if err := kube.CoreV1().Secrets(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting secret %s/%s: %w", ns, name, err)
			}
		case strings.HasPrefix(ch.Object, "credentialsrequest "):
			ns, name, _ := strings.Cut(strings.TrimPrefix(ch.Object, "credentialsrequest "), "/")
			progress("deleting credentialsrequest %s/%s", ns, name)
			if err := dyn.Resource(clustercheck.CredentialsRequestGVR).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting credentialsrequest %s/%s: %w", ns, name, err)
			}
		}
	}
	if len(remove) > 0 {
		return setEnv(ctx, dyn, sub, remove, progress)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
