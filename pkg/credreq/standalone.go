package credreq

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
	"github.com/openshift/library-go/pkg/manifest"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/oc-sts/oc-sts/pkg/limits"
)

// The CredentialsRequests an OLM operator creates are not in any release:
// they are read as the operator ships them (in its image, repository or
// bundle: a file) or as it made them in the cluster, with no inclusion
// rules, and adjusted before they are validated (the service accounts a
// request leaves out, placeholders it carries).

// placeholderRE matches the template placeholders operators ship in their
// CredentialsRequests (csi-operator's ${NAMESPACE}). IAM's own policy
// variables (${aws:username}, ${*}) have no such name and are left alone.
var placeholderRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Placeholder is a variable that fills template placeholders, and the flag
// that gives its value.
type Placeholder struct {
	Name, Value, Flag string
}

// ReadFiles reads -f arguments: a file, or the manifest files of a
// directory (not its subdirectories). Each File is named by its path, so
// errors say which file.
func ReadFiles(paths []string) ([]File, error) {
	var files []File
	var total int64
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("-f %s: %w", p, err)
		}
		var add []File
		if info.IsDir() {
			if add, err = ReadDir(p); err != nil {
				return nil, err
			}
			for i := range add {
				add[i].Name = filepath.Join(p, add[i].Name)
			}
		} else {
			data, err := limits.ReadFile(p, limits.CredentialsRequest)
			if err != nil {
				return nil, err
			}
			add = []File{{Name: p, Data: data}}
		}
		for _, f := range add {
			if total += int64(len(f.Data)); total > limits.CredentialsDir.Bytes {
				return nil, &limits.TooLargeError{What: "the files given with -f", Size: total, Limit: limits.CredentialsDir}
			}
		}
		files = append(files, add...)
	}
	return files, nil
}

// Substitute fills the placeholders of f with vars. A placeholder with no
// value is an error at file:line naming the flag that gives it. Values are
// substituted as text, before the file is parsed, and validated with the
// request afterwards: a value is a Kubernetes name, never YAML.
func Substitute(f File, vars []Placeholder) (File, error) {
	byName := map[string]Placeholder{}
	for _, v := range vars {
		byName[v.Name] = v
	}
	var errs []error
	lines := bytes.Split(f.Data, []byte("\n"))
	for i, line := range lines {
		lines[i] = placeholderRE.ReplaceAllFunc(line, func(m []byte) []byte {
			name := string(placeholderRE.FindSubmatch(m)[1])
			v, ok := byName[name]
			switch {
			case ok && v.Value != "":
				return []byte(v.Value)
			case ok:
				errs = append(errs, fmt.Errorf("%s:%d: %s is a template placeholder: give its value with %s", f.Name, i+1, m, v.Flag))
			default:
				errs = append(errs, fmt.Errorf("%s:%d: %s is a template placeholder oc sts has no value for: replace it in a copy of the file", f.Name, i+1, m))
			}
			return m
		})
	}
	if len(errs) > 0 {
		return f, errors.Join(errs...)
	}
	return File{Name: f.Name, Data: bytes.Join(lines, []byte("\n"))}, nil
}

// Fill adjusts a request before it is validated: the service accounts
// given on the command line.
type Fill func(cr *ccov1.CredentialsRequest)

// ReadStandalone reads the AWS CredentialsRequests of files (tombstones
// and other clouds are skipped), each filled, then validated.
func ReadStandalone(files []File, fill Fill) ([]Request, error) {
	var out []Request
	var errs []error
	seen := map[string]string{}
	for _, f := range files {
		ms, err := parse(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for i := range ms {
			if !isStandaloneAWS(&ms[i]) {
				continue
			}
			r, err := decodeFilled(&ms[i], fill)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if prev, dup := seen[r.Name()]; dup {
				errs = append(errs, fmt.Errorf("%s: CredentialsRequest %q is also in %s: give each once", f.Name, r.Name(), prev))
				continue
			}
			seen[r.Name()] = f.Name
			out = append(out, *r)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(out) == 0 {
		names := make([]string, 0, len(files))
		for _, f := range files {
			names = append(names, f.Name)
		}
		return nil, fmt.Errorf("no AWS CredentialsRequest in %s", strings.Join(names, ", "))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// FromObject reads a CredentialsRequest as the cluster holds it; ok is
// false for another cloud's. where names it in errors.
func FromObject(obj *unstructured.Unstructured, where string, fill Fill) (r *Request, ok bool, err error) {
	m := &manifest.Manifest{OriginalFilename: where, Obj: obj, GVK: gvk}
	if !isStandaloneAWS(m) {
		return nil, false, nil
	}
	r, err = decodeFilled(m, fill)
	return r, err == nil, err
}

func isStandaloneAWS(m *manifest.Manifest) bool {
	kind, _, _ := unstructured.NestedString(m.Obj.Object, "spec", "providerSpec", "kind")
	return m.GVK == gvk && kind == awsKind && m.Obj.GetAnnotations()[deleteAnnotation] != "true"
}
