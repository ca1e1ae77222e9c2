package credreq

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/openshift/library-go/pkg/manifest"
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
	for _, e := range entries {
		if e.IsDir() || !IsManifestName(e.Name()) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files = append(files, File{Name: e.Name(), Data: data})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	if len(files) == 0 {
		return nil, fmt.Errorf("%s holds no .yaml, .yml or .json files: point --credentials-requests-dir at the output of `oc adm release extract --credentials-requests`", dir)
	}
	return files, nil
}

// parse reads every object of a file with library-go, as oc does.
func parse(f File) ([]manifest.Manifest, error) {
	ms, err := manifest.ParseManifests(bytes.NewReader(f.Data))
	if err != nil {
		return nil, fmt.Errorf("%s: %v: fix the YAML of this file", f.Name, err)
	}
	for i := range ms {
		ms[i].OriginalFilename = f.Name
	}
	return ms, nil
}
