package credreq

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
	"github.com/openshift/library-go/pkg/manifest"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

var gvk = schema.GroupVersionKind{Group: "cloudcredential.openshift.io", Version: "v1", Kind: "CredentialsRequest"}

const (
	awsKind          = "AWSProviderSpec"
	deleteAnnotation = "release.openshift.io/delete"
)

// Request is one included AWS CredentialsRequest.
type Request struct {
	File string
	CR   *ccov1.CredentialsRequest
	AWS  *ccov1.AWSProviderSpec
}

// Name is the CredentialsRequest's metadata.name, its identity.
func (r Request) Name() string { return r.CR.Name }

// Decision records why a CredentialsRequest was or was not selected.
type Decision struct {
	File     string `json:"file"`
	Name     string `json:"name"`
	Included bool   `json:"included"`
	Reason   string `json:"reason,omitempty"`
}

// Selection is the outcome of Select.
type Selection struct {
	Requests  []Request
	Decisions []Decision
}

// Select keeps the AWS CredentialsRequests of files that the cluster
// described by in includes. Tombstones and other clouds are left out;
// invalid included requests are errors naming file and field.
func Select(files []File, in *Inclusion) (*Selection, error) {
	sel := &Selection{}
	seen := map[string]string{}
	var errs []error
	for _, f := range files {
		ms, err := parse(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for i := range ms {
			m := &ms[i]
			if m.GVK != gvk {
				continue
			}
			d := Decision{File: f.Name, Name: m.Obj.GetName()}
			kind, _, _ := unstructured.NestedString(m.Obj.Object, "spec", "providerSpec", "kind")
			switch {
			case m.Obj.GetAnnotations()[deleteAnnotation] == "true":
				d.Reason = "tombstone (" + deleteAnnotation + ")"
			case kind != awsKind:
				d.Reason = fmt.Sprintf("not AWS (providerSpec kind %q)", kind)
			default:
				if err := in.Include(m); err != nil {
					d.Reason = err.Error()
					break
				}
				r, err := decode(m)
				if err != nil {
					errs = append(errs, err)
					break
				}
				if prev, dup := seen[r.Name()]; dup {
					errs = append(errs, fmt.Errorf("%s: CredentialsRequest %q is also defined in %s: a release includes each name once; remove one", f.Name, r.Name(), prev))
					break
				}
				seen[r.Name()] = f.Name
				d.Included = true
				sel.Requests = append(sel.Requests, *r)
			}
			sel.Decisions = append(sel.Decisions, d)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return sel, nil
}

func decode(m *manifest.Manifest) (*Request, error) { return decodeFilled(m, nil) }

// decodeFilled decodes and validates a request, after fill (when given)
// has adjusted it.
func decodeFilled(m *manifest.Manifest, fill Fill) (*Request, error) {
	where := fmt.Sprintf("%s: CredentialsRequest %q", m.OriginalFilename, m.Obj.GetName()) // %q: the name is not validated yet
	cr := &ccov1.CredentialsRequest{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m.Obj.Object, cr); err != nil {
		return nil, fmt.Errorf("%s: %v", where, err)
	}
	if fill != nil {
		fill(cr)
	}
	aws := &ccov1.AWSProviderSpec{}
	if err := json.Unmarshal(cr.Spec.ProviderSpec.Raw, aws); err != nil {
		return nil, fmt.Errorf("%s: spec.providerSpec: %v", where, err)
	}
	if err := validate(cr, aws); err != nil {
		return nil, fmt.Errorf("%s: %v", where, err)
	}
	return &Request{File: m.OriginalFilename, CR: cr, AWS: aws}, nil
}

func validate(cr *ccov1.CredentialsRequest, aws *ccov1.AWSProviderSpec) error {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	// Every name is checked as the API server checks it before it names a
	// role, a Secret or a trust condition, or appears in the aws CLI script.
	check := func(field, v string, rule func(string) []string) {
		if strings.Contains(v, "${") {
			add("%s %q is a template placeholder: substitute it before use", field, v)
		} else if errs := rule(v); len(errs) > 0 {
			add("%s %q is not a valid name: %s", field, v, strings.Join(errs, "; "))
		}
	}
	check("metadata.name", cr.Name, validation.IsDNS1123Subdomain)
	if cr.Namespace != "" {
		check("metadata.namespace", cr.Namespace, validation.IsDNS1123Label)
	}
	ref := cr.Spec.SecretRef
	check("spec.secretRef.namespace", ref.Namespace, validation.IsDNS1123Label)
	check("spec.secretRef.name", ref.Name, validation.IsDNS1123Subdomain)
	if len(cr.Spec.ServiceAccountNames) == 0 {
		add("spec.serviceAccountNames is empty: a role for web identity must trust named service accounts; add them to the CredentialsRequest (oc sts operator: --service-account)")
	}
	for i, sa := range cr.Spec.ServiceAccountNames {
		check(fmt.Sprintf("spec.serviceAccountNames[%d]", i), sa, validation.IsDNS1123Subdomain)
	}
	if len(aws.StatementEntries) == 0 {
		add("spec.providerSpec.statementEntries is empty: the role would grant nothing")
	}
	for i, s := range aws.StatementEntries {
		if s.Effect != "Allow" && s.Effect != "Deny" {
			add("spec.providerSpec.statementEntries[%d].effect %q must be Allow or Deny", i, s.Effect)
		}
		if len(s.Action) == 0 {
			add("spec.providerSpec.statementEntries[%d].action is empty", i)
		}
		if s.Resource == "" {
			add("spec.providerSpec.statementEntries[%d].resource is empty", i)
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
