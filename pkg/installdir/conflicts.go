package installdir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/limits"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/stsmanifests"
)

// OpenShiftDir is the installer's other manifests directory.
const OpenShiftDir = "openshift"

// A Conflict is a manifest in the install dir that prepare's files would
// silently replace or contradict: the installer would get the user's
// object or ours, or both.
type Conflict struct {
	Path string // the file in the install dir, relative to it
	What string // what it holds against ours
	Data []byte // its content
	// Remove is set for a file of another name: --force removes it (ours
	// is written under its own name). Mixed is set when the file holds
	// other objects too: --force cannot remove it without losing them.
	Remove, Mixed bool
}

func (c Conflict) String() string { return c.Path + ": " + c.What }

// manifestDoc is what a manifest's document says about its identity.
type manifestDoc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		ServiceAccountIssuer string `yaml:"serviceAccountIssuer"`
	} `yaml:"spec"`
}

// Conflicts reads every manifest in manifests/ and openshift/ (the
// directories the installer loads) and finds those that ours (d.Files:
// the credentials Secrets and the Authentication) would replace or
// contradict: a file of the same name with other content, a Secret of the
// same namespace/name in another file, an Authentication cluster with
// another issuer. What the previous plan (nil: none) rendered is ours, as
// is what ours removes.
func (d *Dir) Conflicts(ours []atomicfs.File, previous *plan.Plan) ([]Conflict, error) {
	byPath := map[string]atomicfs.File{}
	secrets := map[string]string{} // namespace/name -> our file
	issuer := ""
	for _, f := range ours {
		byPath[f.Path] = f
		if f.Remove {
			continue
		}
		var doc manifestDoc
		if yaml.Unmarshal(f.Data, &doc) != nil {
			continue
		}
		switch {
		case doc.Kind == "Secret":
			secrets[doc.Metadata.Namespace+"/"+doc.Metadata.Name] = d.rel(f.Path)
		case doc.Kind == "Authentication":
			issuer = doc.Spec.ServiceAccountIssuer
		}
	}
	earlier := renderedBy(previous)
	var conflicts []Conflict
	for _, dir := range []string{ManifestsDir, OpenShiftDir} {
		if st, err := os.Stat(filepath.Join(d.Path, dir)); err != nil || !st.IsDir() {
			continue // none, or not a directory: the write's own check says so
		}
		entries, err := os.ReadDir(filepath.Join(d.Path, dir))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			path := filepath.Join(d.Path, dir, e.Name())
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") || byPath[path].Remove {
				continue // staged writes are dot files
			}
			data, err := limits.ReadFileNoFollow(path, limits.StateFile)
			if err != nil {
				return nil, err
			}
			if c, ok := d.conflict(path, data, byPath, secrets, issuer, earlier); ok {
				conflicts = append(conflicts, c)
			}
		}
	}
	return conflicts, nil
}

func (d *Dir) conflict(path string, data []byte, ours map[string]atomicfs.File, secrets map[string]string, issuer string, earlier [][]byte) (Conflict, bool) {
	rel := d.rel(path)
	if f, ok := ours[path]; ok {
		if bytes.Equal(f.Data, data) || slices.ContainsFunc(earlier, func(b []byte) bool { return bytes.Equal(b, data) }) {
			return Conflict{}, false
		}
		return Conflict{Path: rel, What: "exists with other content; oc sts writes its own " + rel, Data: data}, true
	}
	var why []string
	docs, others := 0, 0
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc manifestDoc
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Conflict{}, false // not a manifest oc sts can read: not one of ours either
		}
		if doc.Kind == "" {
			continue
		}
		docs++
		id := doc.Metadata.Namespace + "/" + doc.Metadata.Name
		switch {
		case doc.Kind == "Secret" && secrets[id] != "":
			why = append(why, fmt.Sprintf("Secret %s, which oc sts writes as %s", id, secrets[id]))
		case doc.Kind == "Authentication" && strings.HasPrefix(doc.APIVersion, "config.openshift.io/") && doc.Metadata.Name == "cluster" && issuer != "" && doc.Spec.ServiceAccountIssuer != issuer:
			why = append(why, fmt.Sprintf("Authentication cluster with serviceAccountIssuer %q, not %s (oc sts writes %s)", doc.Spec.ServiceAccountIssuer, issuer, filepath.Join(ManifestsDir, stsmanifests.AuthenticationFile)))
		default:
			others++
		}
	}
	if len(why) == 0 {
		return Conflict{}, false
	}
	return Conflict{Path: rel, What: "declares " + strings.Join(why, "; "), Remove: true, Mixed: others > 0 || docs == 0, Data: data}, true
}

// renderedBy is what prepare wrote into manifests/ for an earlier plan.
func renderedBy(p *plan.Plan) [][]byte {
	if p == nil {
		return nil
	}
	out := [][]byte{stsmanifests.Authentication(p.Issuer.URL)}
	for _, r := range p.Roles {
		out = append(out, stsmanifests.Secret(r))
	}
	return out
}

func (d *Dir) rel(path string) string {
	if rel, err := filepath.Rel(d.Path, path); err == nil {
		return rel
	}
	return path
}
