package operator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"

	"github.com/oc-sts/oc-sts/pkg/clustercheck"
	"github.com/oc-sts/oc-sts/pkg/credreq"
)

// Request is a CredentialsRequest an operator needs a role for.
type Request struct {
	credreq.Request
	// Origin says where its permissions came from, for the user.
	Origin string
	// InCluster: read from the cluster (the operator made it) rather than a file.
	InCluster bool
	// AddedServiceAccounts were given with --service-account, beyond the
	// request's own spec.serviceAccountNames.
	AddedServiceAccounts []string
	// STSRoleARN is the request's spec.providerSpec.stsIAMRoleARN as found.
	STSRoleARN string
}

// Key is the request's namespace/name.
func (r Request) Key() string { return r.CR.Namespace + "/" + r.CR.Name }

// ServiceAccounts are the --service-account values: for every request, or
// (REQUEST=SA) for one. Operators' CredentialsRequests often leave out
// service accounts that use the Secret (the EFS driver's name none, OADP's
// leaves out velero): the role trusts these too.
type ServiceAccounts struct {
	All       []string
	ByRequest map[string][]string
}

// ForDeletion are the service accounts of a run that deletes: its
// requests are read for their names and Secrets only (the roles are found
// by their tags), so one that names no service account, as shipped, is no
// error; the stand-in never reaches AWS.
func ForDeletion() ServiceAccounts {
	return ServiceAccounts{All: []string{"oc-sts-deleting"}, ByRequest: map[string][]string{}}
}

// ParseServiceAccounts reads --service-account values.
func ParseServiceAccounts(values []string) (ServiceAccounts, error) {
	s := ServiceAccounts{ByRequest: map[string][]string{}}
	var errs []error
	for _, v := range values {
		req, sa, scoped := strings.Cut(v, "=")
		if !scoped {
			req, sa = "", v
		}
		if scoped {
			if problems := validation.IsDNS1123Subdomain(req); len(problems) > 0 {
				errs = append(errs, fmt.Errorf("--service-account %q: %q is not a CredentialsRequest name: %s", v, req, strings.Join(problems, "; ")))
				continue
			}
		}
		if problems := validation.IsDNS1123Subdomain(sa); len(problems) > 0 {
			errs = append(errs, fmt.Errorf("--service-account %q: %q is not a service account name: %s (use SA, or REQUEST=SA for one request)", v, sa, strings.Join(problems, "; ")))
			continue
		}
		if scoped {
			s.ByRequest[req] = append(s.ByRequest[req], sa)
		} else {
			s.All = append(s.All, sa)
		}
	}
	return s, errors.Join(errs...)
}

// fill adds the service accounts given for cr to its own; added records
// which were not there.
func (s ServiceAccounts) fill(cr *ccov1.CredentialsRequest, added map[string][]string) {
	for _, sa := range append(append([]string(nil), s.All...), s.ByRequest[cr.Name]...) {
		if !slices.Contains(cr.Spec.ServiceAccountNames, sa) {
			cr.Spec.ServiceAccountNames = append(cr.Spec.ServiceAccountNames, sa)
			added[cr.Name] = append(added[cr.Name], sa)
		}
	}
}

// CheckKnown names REQUEST=SA values that match none of reqs.
func (s ServiceAccounts) CheckKnown(reqs []Request) error {
	var errs []error
	for name := range s.ByRequest {
		if !slices.ContainsFunc(reqs, func(r Request) bool { return r.Name() == name }) {
			errs = append(errs, fmt.Errorf("--service-account %s=...: no CredentialsRequest %q among the operator's (%s)", name, name, names(reqs)))
		}
	}
	return errors.Join(errs...)
}

func names(reqs []Request) string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Name())
	}
	return strings.Join(out, ", ")
}

// FromFiles reads the requests of -f files, filling ${NAMESPACE} with
// namespace and adding the given service accounts.
func FromFiles(paths []string, namespace string, sas ServiceAccounts) ([]Request, error) {
	files, err := credreq.ReadFiles(paths)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i := range files {
		if files[i], err = credreq.Substitute(files[i], []credreq.Placeholder{{Name: "NAMESPACE", Value: namespace, Flag: "--namespace"}}); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	added := map[string][]string{}
	read, err := credreq.ReadStandalone(files, func(cr *ccov1.CredentialsRequest) { sas.fill(cr, added) })
	if err != nil {
		return nil, err
	}
	var out []Request
	for _, r := range read {
		if r.CR.Namespace == "" {
			r.CR.Namespace = ccov1.CloudCredOperatorNamespace // where the cloud-credential-operator's requests live
		}
		out = append(out, Request{Request: r, Origin: "file " + r.File, AddedServiceAccounts: added[r.Name()], STSRoleARN: r.AWS.STSIAMRoleARN})
	}
	return out, nil
}

// Merge is the cluster's requests and the files': a file's request
// replaces the cluster's of the same name (the user gave it on purpose: a
// newer version), keeping what the cluster says of its stsIAMRoleARN.
func Merge(cluster, files []Request) []Request {
	byName := map[string]int{}
	out := append([]Request(nil), cluster...)
	for i, r := range out {
		byName[r.Name()] = i
	}
	for _, f := range files {
		if i, ok := byName[f.Name()]; ok {
			f.Origin += " (in place of " + strings.TrimPrefix(out[i].Origin, "the cluster: ") + ")"
			if f.STSRoleARN == "" {
				f.STSRoleARN = out[i].STSRoleARN
			}
			f.InCluster = true
			out[i] = f
			continue
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// belongs says whether a CredentialsRequest of the cluster is the operator
// of sub's, and why. Operators create theirs in the cloud-credential-
// operator's namespace or their own, for a Secret in their own namespace
// (ALBO, OADP, the EFS driver); once wired, it carries the Subscription's
// role ARN (Loki's Secret goes to the LokiStack's namespace, but its
// stsIAMRoleARN is the operator's ROLEARN). The release payload's own are
// never an operator's.
func belongs(obj *unstructured.Unstructured, sub *Subscription) (bool, string) {
	arn, _, _ := unstructured.NestedString(obj.Object, "spec", "providerSpec", "stsIAMRoleARN")
	ns, _, _ := unstructured.NestedString(obj.Object, "spec", "secretRef", "namespace")
	return belongsTo(clustercheck.IsPayload(obj.GetAnnotations()), arn, ns, sub)
}

// BelongsTo says whether a request verify or upgrade-check read is the
// operator of sub's.
func BelongsTo(r clustercheck.Request, sub *Subscription) bool {
	ok, _ := belongsTo(r.Payload, r.STSRoleARN, r.SecretNamespace, sub)
	return ok
}

func belongsTo(payload bool, stsRoleARN, secretNamespace string, sub *Subscription) (bool, string) {
	if payload {
		return false, ""
	}
	for _, e := range sub.Env {
		if stsRoleARN != "" && e.Value == stsRoleARN && isRoleARNVar(e.Name) {
			return true, fmt.Sprintf("its stsIAMRoleARN is the Subscription's %s", e.Name)
		}
	}
	if secretNamespace == sub.Namespace {
		return true, "its Secret goes to the operator's namespace " + secretNamespace
	}
	return false, ""
}

// isRoleARNVar says an env variable carries a role ARN to an operator:
// ROLEARN, or a *_ROLEARN one named by a CredentialsRequest (NODE_ROLEARN).
func isRoleARNVar(name string) bool {
	return name == RoleARNEnv || strings.HasSuffix(name, "_"+RoleARNEnv)
}

// FromCluster finds the CredentialsRequests the operator of sub made in
// the cluster, adding the given service accounts.
func FromCluster(ctx context.Context, dyn dynamic.Interface, sub *Subscription, sas ServiceAccounts) ([]Request, error) {
	list, err := dyn.Resource(clustercheck.CredentialsRequestGVR).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing CredentialsRequests: %w", err)
	}
	return clusterRequests(list.Items, sub, sas)
}

func clusterRequests(items []unstructured.Unstructured, sub *Subscription, sas ServiceAccounts) ([]Request, error) {
	var out []Request
	var errs []error
	added := map[string][]string{}
	for i := range items {
		obj := &items[i]
		ok, why := belongs(obj, sub)
		if !ok {
			continue
		}
		where := fmt.Sprintf("credentialsrequest %s/%s", obj.GetNamespace(), obj.GetName())
		r, aws, err := credreq.FromObject(obj, where, func(cr *ccov1.CredentialsRequest) { sas.fill(cr, added) })
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !aws {
			continue
		}
		out = append(out, Request{Request: *r, InCluster: true, Origin: "the cluster: " + where + ", made by the operator (" + why + ")",
			AddedServiceAccounts: added[r.Name()], STSRoleARN: r.AWS.STSIAMRoleARN})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}
