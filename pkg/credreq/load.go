package credreq

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/openshift/library-go/pkg/manifest"
	"gopkg.in/yaml.v3"

	"github.com/oc-sts/oc-sts/pkg/limits"
	"github.com/oc-sts/oc-sts/pkg/yamlcheck"
)

// File is one manifest file as it ships in a release image's release-manifests/.
type File struct {
	Name string // base name, as in the release image
	Data []byte
}

// IsManifestName reports whether oc reads a file of that name as manifests.
func IsManifestName(name string) bool {
	switch path.Ext(name) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// ReadDir reads the manifest files of dir (not its subdirectories), sorted by name.
func ReadDir(dir string) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading CredentialsRequests directory: %w", err)
	}
	var files []File
	var total int64
	for _, e := range entries {
		if e.IsDir() || !IsManifestName(e.Name()) {
			continue
		}
		data, err := limits.ReadFile(filepath.Join(dir, e.Name()), limits.CredentialsRequest)
		if err != nil {
			return nil, err
		}
		if total += int64(len(data)); total > limits.CredentialsDir.Bytes {
			return nil, &limits.TooLargeError{What: "the manifests of " + dir, Size: total, Limit: limits.CredentialsDir}
		}
		files = append(files, File{Name: e.Name(), Data: data})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	if len(files) == 0 {
		return nil, fmt.Errorf("%s holds no .yaml, .yml or .json files: point --credentials-requests-dir at the output of `oc adm release extract --credentials-requests`", dir)
	}
	return files, nil
}

// parse reads every object of a file with library-go, as oc does; a key
// set twice in a CredentialsRequest is refused, and a syntax error is
// located in the file (library-go counts lines per document).
func parse(f File) ([]manifest.Manifest, error) {
	ms, err := manifest.ParseManifests(bytes.NewReader(f.Data))
	if err != nil {
		if located := yamlcheck.Check(f.Name, f.Data); located != nil {
			return nil, located
		}
		return nil, fmt.Errorf("%s: %v: fix the YAML of this file", f.Name, err)
	}
	if err := duplicateKeys(f); err != nil {
		return nil, err
	}
	for i := range ms {
		ms[i].OriginalFilename = f.Name
	}
	return ms, nil
}

// duplicateKeys checks the CredentialsRequest documents of f for keys set
// twice. Other documents are the release's business; a document only
// library-go's YAML 1.1 parser reads is left to it.
func duplicateKeys(f File) error {
	dec := yaml.NewDecoder(bytes.NewReader(f.Data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			return nil // io.EOF, or YAML only library-go reads
		}
		if kindOf(&doc) != gvk.Kind {
			continue
		}
		if err := yamlcheck.Duplicates(f.Name, &doc); err != nil {
			return err
		}
	}
}

// kindOf is a document's top-level kind, read without decoding (which
// would itself stop at a duplicate key).
func kindOf(doc *yaml.Node) string {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "kind" {
			return n.Content[i+1].Value
		}
	}
	return ""
}
