// Package registry is the release-image test world: a real OCI registry
// (go-containerregistry's, in-process on 127.0.0.1) and release images built
// from a directory of manifests, laid out as `oc adm release new` does.
package registry

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Server is a registry on 127.0.0.1, requiring basic auth when User is set.
type Server struct {
	Host       string // 127.0.0.1:PORT
	User, Pass string
}

// Start runs a registry until the test ends.
func Start(t testing.TB, user, pass string) *Server {
	t.Helper()
	srv := httptest.NewServer(Handler(user, pass))
	t.Cleanup(srv.Close)
	return &Server{Host: strings.TrimPrefix(srv.URL, "http://"), User: user, Pass: pass}
}

// Handler is a registry requiring basic auth when user is set.
func Handler(user, pass string) http.Handler {
	reg := ggcrregistry.New(ggcrregistry.Logger(nullLogger()))
	h := reg
	if user != "" {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			reg.ServeHTTP(w, r)
		})
	}
	return h
}

// PullSecret is a pull secret document for this registry.
func (s *Server) PullSecret() string {
	return fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, s.Host, basicAuth(s.User, s.Pass))
}

// Push uploads img or an index under repo:tag and returns the digest pull spec.
func (s *Server) Push(t testing.TB, repoTag string, artifact remote.Taggable) string {
	t.Helper()
	spec, err := s.PushArtifact(repoTag, artifact)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// PushArtifact is Push for programs.
func (s *Server) PushArtifact(repoTag string, artifact remote.Taggable) (string, error) {
	ref, err := name.ParseReference(s.Host+"/"+repoTag, name.Insecure)
	if err != nil {
		return "", err
	}
	auth := remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: s.User, Password: s.Pass}))
	var digest v1.Hash
	switch a := artifact.(type) {
	case v1.ImageIndex:
		err = remote.WriteIndex(ref, a, auth)
		digest, _ = a.Digest()
	case v1.Image:
		err = remote.Write(ref, a, auth)
		digest, _ = a.Digest()
	}
	return ref.Context().Name() + "@" + digest.String(), err
}

// Release builds a release image: a base layer of unrelated files, then a
// layer with release-manifests/ holding every file of manifestsDir, a
// release-metadata for version and an image-references, plus extra files.
func Release(t testing.TB, manifestsDir, version string, extra map[string]string) v1.Image {
	t.Helper()
	img, err := BuildRelease(manifestsDir, version, extra)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// BuildRelease is Release for programs.
func BuildRelease(manifestsDir, version string, extra map[string]string) (v1.Image, error) {
	base, err := crane.Layer(map[string][]byte{
		"usr/bin/cluster-version-operator": []byte("not a real binary"),
		"etc/os-release":                   []byte("ID=test\n"),
	})
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"release-manifests/release-metadata":       []byte(fmt.Sprintf(`{"kind":"cincinnati-metadata-v0","version":%q}`, version)),
		"release-manifests/image-references":       []byte(`{"kind":"ImageStream","apiVersion":"image.openshift.io/v1","metadata":{"name":"` + version + `"},"spec":{"tags":[]}}`),
		"release-manifests/0000_00_namespace.yaml": []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: openshift-test\n"),
	}
	entries, err := os.ReadDir(manifestsDir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(manifestsDir, e.Name()))
		if err != nil {
			return nil, err
		}
		files["release-manifests/"+e.Name()] = data
	}
	for k, v := range extra {
		files[k] = []byte(v)
	}
	manifests, err := crane.Layer(files)
	if err != nil {
		return nil, err
	}
	return mutate.AppendLayers(empty.Image, base, manifests)
}

// AddLayer stacks a layer of files (whiteouts included) on img.
func AddLayer(t testing.TB, img v1.Image, files map[string]string) v1.Image {
	t.Helper()
	m := map[string][]byte{}
	for k, v := range files {
		m[k] = []byte(v)
	}
	l, err := crane.Layer(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := mutate.AppendLayers(img, l)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Index is a manifest list of images by linux architecture.
func Index(t testing.TB, byArch map[string]v1.Image) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for arch, img := range byArch {
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
}
