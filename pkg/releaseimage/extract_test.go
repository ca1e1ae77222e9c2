package releaseimage

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"net/http"
	"net/http/httptest"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/test/registry"
)

func fixture(release string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "test", "testdata", "credentialsrequests", release)
}

func names(t *testing.T, files []credreq.File) []string {
	t.Helper()
	in, _ := credreq.NewInclusion(credreq.ClusterSettings{FeatureSet: "TechPreviewNoUpgrade"})
	sel, err := credreq.Select(files, in)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range sel.Requests {
		out = append(out, r.Name()+"@"+r.File)
	}
	sort.Strings(out)
	return out
}

func fetch(t *testing.T, o Options) (*Release, error) {
	t.Helper()
	return Fetch(context.Background(), o)
}

// The image gives the same CredentialsRequests as the directory it was built from.
func TestSameRequestsAsDirectory(t *testing.T) {
	srv := registry.Start(t, "", "")
	for _, release := range []string{"4.12", "4.14", "4.16"} {
		byDigest := srv.Push(t, "ocp/release:"+release, registry.Release(t, fixture(release), release+".3", nil))
		dirFiles, _ := credreq.ReadDir(fixture(release))
		for _, spec := range []string{srv.Host + "/ocp/release:" + release, byDigest} {
			rel, err := fetch(t, Options{PullSpec: spec})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := names(t, rel.Files), names(t, dirFiles); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s: image %v\ndir %v", spec, got, want)
			}
			if rel.Version != release+".3" || rel.MajorVersion() != 4 || !strings.HasPrefix(rel.Digest, "sha256:") {
				t.Errorf("%s: version %q digest %q", spec, rel.Version, rel.Digest)
			}
			for _, f := range rel.Files {
				if f.Name == "0000_00_namespace.yaml" || f.Name == "image-references" {
					t.Errorf("kept %s, which holds no CredentialsRequest", f.Name)
				}
			}
		}
	}
}

func TestAuth(t *testing.T) {
	srv := registry.Start(t, "puller", "s3cret")
	spec := srv.Push(t, "ocp/release:4.16", registry.Release(t, fixture("4.16"), "4.16.0", nil))
	_, err := fetch(t, Options{PullSpec: spec})
	if err == nil || !strings.Contains(err.Error(), "registry "+srv.Host+" refused") || !strings.Contains(err.Error(), "no pull secret has an entry") {
		t.Errorf("no credentials: %v", err)
	}
	wrong, _ := ParseAuth("install-config pullSecret", []byte(`{"auths":{"`+srv.Host+`":{"auth":"d3Jvbmc6d3Jvbmc="}}}`))
	_, err = fetch(t, Options{PullSpec: spec, Auth: []AuthSource{wrong}})
	if err == nil || !strings.Contains(err.Error(), "credentials from install-config pullSecret") {
		t.Errorf("wrong credentials: %v", err)
	}
	right, _ := ParseAuth("install-config pullSecret", []byte(srv.PullSecret()))
	other, _ := ParseAuth("registry-config", []byte(`{"auths":{"quay.io":{"auth":"eDp5"}}}`))
	if _, err := fetch(t, Options{PullSpec: spec, Auth: []AuthSource{other, right}}); err != nil {
		t.Errorf("pull secret: %v", err)
	}
}

func TestMirrors(t *testing.T) {
	srv := registry.Start(t, "", "")
	mirrored := srv.Push(t, "mirror/ocp-release:4.16", registry.Release(t, fixture("4.16"), "4.16.0", nil))
	digest := mirrored[strings.Index(mirrored, "@"):]
	unreachable := "127.0.0.1:1/openshift-release-dev/ocp-release" + digest
	mirrors := []Mirror{{Source: "127.0.0.1:1/openshift-release-dev/ocp-release", Mirrors: []string{srv.Host + "/mirror/ocp-release"}}}
	rel, err := fetch(t, Options{PullSpec: unreachable, Mirrors: mirrors})
	if err != nil || !strings.HasPrefix(rel.PullSpec, srv.Host+"/mirror/ocp-release@") {
		t.Fatalf("mirror: %v (%v)", err, rel)
	}
	if _, err := fetch(t, Options{PullSpec: unreachable}); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("no mirror: %v", err)
	}
	mirrors[0].NeverContactSource = true
	mirrors[0].Mirrors = []string{srv.Host + "/nothing-here"}
	if _, err := fetch(t, Options{PullSpec: unreachable, Mirrors: mirrors}); err == nil || !strings.Contains(err.Error(), "manifest unknown") || strings.Contains(err.Error(), "127.0.0.1:1 is unreachable") {
		t.Errorf("NeverContactSource: %v", err)
	}
}

func TestErrors(t *testing.T) {
	srv := registry.Start(t, "", "")
	if _, err := fetch(t, Options{PullSpec: srv.Host + "/ocp/release:nope"}); err == nil || !strings.Contains(err.Error(), "manifest unknown") {
		t.Errorf("unknown tag: %v", err)
	}
	notRelease := srv.Push(t, "some/app:1", registry.AddLayer(t, emptyImage(t), map[string]string{"app/main": "x"}))
	if _, err := fetch(t, Options{PullSpec: notRelease}); err == nil || !strings.Contains(err.Error(), "is not an OpenShift release image") {
		t.Errorf("not a release: %v", err)
	}
	idx := srv.Push(t, "ocp/release:multi", registry.Index(t, map[string]v1Image{
		"amd64": registry.Release(t, fixture("4.14"), "4.14.1", nil),
		"arm64": registry.Release(t, fixture("4.16"), "4.16.1", nil),
	}))
	rel, err := fetch(t, Options{PullSpec: idx, Architecture: "arm64"})
	if err != nil || rel.Version != "4.16.1" {
		t.Errorf("arm64 from index: %v %v", err, rel)
	}
	if rel, err := fetch(t, Options{PullSpec: idx}); err != nil || rel.Version != "4.14.1" {
		t.Errorf("default amd64 from index: %v", err)
	}
	if _, err := fetch(t, Options{PullSpec: idx, Architecture: "s390x"}); err == nil || !strings.Contains(err.Error(), "has no linux/s390x image") {
		t.Errorf("missing arch: %v", err)
	}
	if _, err := fetch(t, Options{PullSpec: "Not A Ref"}); err == nil || !strings.Contains(err.Error(), "not a valid pull spec") {
		t.Errorf("bad ref: %v", err)
	}
}

// Later layers override earlier ones; whiteouts delete.
func TestLayersOverrideAndWhiteout(t *testing.T) {
	srv := registry.Start(t, "", "")
	img := registry.Release(t, fixture("4.16"), "4.16.0", nil)
	img = registry.AddLayer(t, img, map[string]string{
		"release-manifests/.wh.0000_50_cluster-storage-operator_03_credentials_request_aws.yaml": "",
		"release-manifests/0000_50_cluster-ingress-operator_00-ingress-credentials-request.yaml": "# emptied\n",
	})
	rel, err := fetch(t, Options{PullSpec: srv.Push(t, "ocp/release:layered", img)})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(names(t, rel.Files), ",")
	if strings.Contains(got, "aws-ebs-csi-driver-operator") || strings.Contains(got, "openshift-ingress@") {
		t.Errorf("deleted or emptied requests still present: %s", got)
	}
	if !strings.Contains(got, "openshift-machine-api-aws") {
		t.Errorf("lost a request: %s", got)
	}
}

type v1Image = ggcrv1.Image

func emptyImage(t *testing.T) ggcrv1.Image { return empty.Image }

// A registry with a self-signed certificate needs --insecure.
func TestInsecureTLS(t *testing.T) {
	srv := httptest.NewTLSServer(registry.Handler("", ""))
	defer srv.Close()
	reg := &registry.Server{Host: strings.TrimPrefix(srv.URL, "https://")}
	img := registry.Release(t, fixture("4.16"), "4.16.0", nil)
	ref, _ := name.ParseReference(reg.Host + "/ocp/release:4.16")
	if err := remote.Write(ref, img, remote.WithTransport(srv.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	if _, err := fetch(t, Options{PullSpec: ref.String()}); err == nil {
		t.Error("an unverified certificate was accepted without --insecure")
	}
	if rel, err := fetch(t, Options{PullSpec: ref.String(), Insecure: true}); err != nil || rel.Version != "4.16.0" {
		t.Errorf("--insecure: %v", err)
	}
}

// A layer whose content does not match its digest is refused, even when
// the content is a valid layer (another image's).
func TestCorruptLayerIsRefused(t *testing.T) {
	img := registry.Release(t, fixture("4.16"), "4.16.0", nil)
	layers, _ := img.Layers()
	bad, _ := layers[len(layers)-1].Digest()
	otherLayers, _ := registry.Release(t, fixture("4.14"), "4.14.0", nil).Layers()
	rc, _ := otherLayers[len(otherLayers)-1].Compressed()
	substitute, _ := io.ReadAll(rc)
	h := registry.Handler("", "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+bad.String()) {
			w.Write(substitute)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	reg := &registry.Server{Host: strings.TrimPrefix(srv.URL, "http://")}
	spec := reg.Push(t, "ocp/release:4.16", img)
	_, err := fetch(t, Options{PullSpec: spec})
	if err == nil || !(strings.Contains(err.Error(), "digest") || strings.Contains(err.Error(), "verifying")) {
		t.Errorf("a substituted layer: got %v", err)
	}
}

// Keep keeps more than CredentialsRequests: a release's FeatureGate
// manifests (the real payload files) when asked, and only then.
func TestKeepFeatureGateManifests(t *testing.T) {
	srv := registry.Start(t, "", "")
	dir := filepath.Join(fixture("4.16"), "..", "..", "featuregates", "2026-07")
	name := "0000_50_cluster-config-api_featureGate-4-10-SelfManagedHA-TechPreviewNoUpgrade.yaml"
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	spec := srv.Push(t, "ocp/release:4.16", registry.Release(t, fixture("4.16"), "4.16.0", map[string]string{"release-manifests/" + name: string(data)}))
	has := func(rel *Release) bool {
		for _, f := range rel.Files {
			if f.Name == name {
				return string(f.Data) == string(data)
			}
		}
		return false
	}
	rel, err := fetch(t, Options{PullSpec: spec})
	if err != nil || has(rel) {
		t.Errorf("without Keep: %v, kept the FeatureGate manifest %v", err, err == nil && has(rel))
	}
	rel, err = fetch(t, Options{PullSpec: spec, Keep: credreq.HoldsFeatureGate})
	if err != nil {
		t.Fatal(err)
	}
	if !has(rel) || len(rel.Files) != 8 {
		t.Errorf("with Keep: %d files, FeatureGate manifest kept %v", len(rel.Files), has(rel))
	}
}
