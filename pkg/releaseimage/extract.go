// Package releaseimage reads the CredentialsRequests of an OpenShift release
// image straight from its registry: only the release-manifests/ files that
// hold CredentialsRequests (and those a caller asks for, such as feature-gate
// manifests), plus release-metadata, are kept in memory, and
// nothing is written to disk.
package releaseimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/limits"
)

const manifestsDir = "release-manifests/"

// Options say what to pull and how.
type Options struct {
	PullSpec     string
	Auth         []AuthSource // tried in order, before the docker/podman defaults
	Mirrors      []Mirror
	Architecture string // GOARCH name; default amd64
	Insecure     bool   // plain HTTP and unverified TLS
	Transport    http.RoundTripper
	// Keep, when set, also keeps the release-manifests/ files it is true
	// for (feature-gate manifests, say); files holding CredentialsRequests
	// are always kept.
	Keep func(data []byte) bool
}

// Release is what a release image says about its CredentialsRequests.
type Release struct {
	PullSpec string // the reference actually pulled (a mirror, maybe)
	Digest   string // of the image manifest read
	Version  string // from release-metadata
	Files    []credreq.File
}

// MajorVersion is the major of Version, or 0 when unknown.
func (r *Release) MajorVersion() uint64 {
	major, _, _ := strings.Cut(r.Version, ".")
	v, _ := strconv.ParseUint(major, 10, 64)
	return v
}

// Fetch pulls the release image's CredentialsRequests, trying mirrors first.
func Fetch(ctx context.Context, o Options) (*Release, error) {
	var nameOpts []name.Option
	if o.Insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	ref, err := name.ParseReference(o.PullSpec, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("release image %q is not a valid pull spec: %v", o.PullSpec, err)
	}
	kc := newKeychain(o.Auth)
	var errs []error
	for _, c := range candidates(ref, o.Mirrors, nameOpts...) {
		rel, err := fetchOne(ctx, c, kc, o)
		if err == nil {
			return rel, nil
		}
		if !isRetryableElsewhere(err) {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func fetchOne(ctx context.Context, ref name.Reference, kc *keychain, o Options) (*Release, error) {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	switch {
	case o.Transport != nil:
		opts = append(opts, remote.WithTransport(o.Transport))
	case o.Insecure:
		t := remote.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user asked for --insecure
		opts = append(opts, remote.WithTransport(t))
	}
	arch := o.Architecture
	if arch == "" {
		arch = "amd64"
	}
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, classify(ref, err, kc)
	}
	var img v1.Image
	if desc.MediaType.IsIndex() {
		img, err = pickPlatform(desc, arch)
	} else {
		img, err = desc.Image()
	}
	if err != nil {
		return nil, classify(ref, err, kc)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, classify(ref, err, kc)
	}
	rel := &Release{PullSpec: ref.String(), Digest: digest.String()}
	if err := readManifests(img, rel, o.Keep); err != nil {
		return nil, classify(ref, err, kc)
	}
	return rel, nil
}

func pickPlatform(desc *remote.Descriptor, arch string) (v1.Image, error) {
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var have []string
	for _, m := range im.Manifests {
		if m.Platform == nil {
			continue
		}
		have = append(have, m.Platform.OS+"/"+m.Platform.Architecture)
		if m.Platform.OS == "linux" && m.Platform.Architecture == arch {
			return idx.Image(m.Digest)
		}
	}
	return nil, &userError{fmt.Sprintf("has no linux/%s image (it has: %s): set controlPlane.architecture in install-config.yaml or use the release image of your architecture", arch, strings.Join(have, ", "))}
}

// readManifests streams every layer, in order, and keeps the
// release-manifests/ files that hold CredentialsRequests (or that keep
// accepts). Later layers override earlier ones and whiteouts delete, as when
// the image is run. Memory is bounded whatever the image holds: see scanLayer.
func readManifests(img v1.Image, rel *Release, keep func([]byte) bool) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	k := &kept{files: map[string][]byte{}, keep: keep}
	seen := false
	uncompressed := &capped{limit: limits.ReleaseImage}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return err
		}
		uncompressed.r = rc
		s, err := scanLayer(uncompressed, k)
		seen = seen || s
		// Read to the end so the layer's digest is verified.
		if err == nil {
			_, err = io.Copy(io.Discard, uncompressed)
		}
		if err = errors.Join(err, rc.Close()); err != nil {
			return err
		}
	}
	if !seen {
		return &userError{"is not an OpenShift release image: it has no " + manifestsDir + " directory"}
	}
	files := k.files
	if meta, ok := files["release-metadata"]; ok {
		var m struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(meta, &m) == nil {
			rel.Version = m.Version
		}
		delete(files, "release-metadata")
	}
	for _, n := range slices.Sorted(maps.Keys(files)) {
		rel.Files = append(rel.Files, credreq.File{Name: n, Data: files[n]})
	}
	return nil
}

// kept are the files read so far, and their total size; keep, when set,
// also accepts files that hold no CredentialsRequest.
type kept struct {
	files map[string][]byte
	total int64
	keep  func([]byte) bool
}

func (k *kept) remove(name string) {
	k.total -= int64(len(k.files[name]))
	delete(k.files, name)
}

func (k *kept) clear() {
	clear(k.files)
	k.total = 0
}

const needle = "CredentialsRequest"

// scanLayer keeps the CredentialsRequest files of one layer. Each file is
// judged by its header before it is read: one over the per-file limit is
// scanned in a small buffer (and refused only if it mentions
// CredentialsRequest); the files kept may not exceed the total limit.
func scanLayer(r io.Reader, k *kept) (seen bool, err error) {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return seen, nil
		}
		if err != nil {
			return seen, err
		}
		p := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		if p+"/" == manifestsDir {
			seen = true
			continue
		}
		dir, base := path.Split(p)
		if dir != manifestsDir {
			continue
		}
		seen = true
		switch {
		case base == ".wh..wh..opq":
			k.clear()
			continue
		case strings.HasPrefix(base, ".wh."):
			k.remove(strings.TrimPrefix(base, ".wh."))
			continue
		case hdr.Typeflag != tar.TypeReg:
			continue
		}
		k.remove(base) // overridden, whatever the new content holds
		if base != "release-metadata" && !credreq.IsManifestName(base) {
			continue
		}
		name := manifestsDir + base
		if hdr.Size > limits.ReleaseManifest.Bytes {
			if mentions, err := contains(tr, needle); err != nil || mentions || base == "release-metadata" {
				return seen, errors.Join(err, &limits.TooLargeError{What: name, Size: hdr.Size, Limit: limits.ReleaseManifest})
			}
			continue
		}
		data, err := limits.ReadAll(tr, name, limits.ReleaseManifest)
		if err != nil {
			return seen, err
		}
		if base != "release-metadata" && !bytes.Contains(data, []byte(needle)) && (k.keep == nil || !k.keep(data)) {
			continue
		}
		if strings.ContainsFunc(base, func(r rune) bool { return !unicode.IsPrint(r) }) {
			return seen, &userError{fmt.Sprintf("has a CredentialsRequest file named %q: a name with control characters is not a release manifest", name)}
		}
		if k.total += int64(len(data)); k.total > limits.ReleaseManifests.Bytes {
			return seen, &limits.TooLargeError{What: "the CredentialsRequest files of " + manifestsDir, Size: k.total, Limit: limits.ReleaseManifests}
		}
		k.files[base] = data
	}
}

// contains streams r looking for s, holding only one buffer.
func contains(r io.Reader, s string) (bool, error) {
	buf := make([]byte, 64<<10)
	keep := 0
	for {
		n, err := r.Read(buf[keep:])
		end := keep + n
		if bytes.Contains(buf[:end], []byte(s)) {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		// Keep the tail that could begin a match split across reads.
		keep = min(len(s)-1, end)
		copy(buf, buf[end-keep:end])
	}
}

// capped reads at most limit bytes in total from the readers it is given.
type capped struct {
	r     io.Reader
	n     int64
	limit limits.Limit
}

func (c *capped) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n += int64(n); c.n > c.limit.Bytes {
		return n, &limits.TooLargeError{What: "the release image's layers", Size: -1, Limit: c.limit}
	}
	return n, err
}
