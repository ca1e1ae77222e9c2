package releaseimage

import (
	"archive/tar"
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/oc-sts/oc-sts/pkg/limits"
)

// layer streams a tar of files; a file of size > len(data) is zero-padded
// before data, generated on the fly.
type entry struct {
	name string
	size int64
	data string
}

func layer(entries ...entry) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		var err error
		for _, e := range entries {
			size := max(e.size, int64(len(e.data)))
			if err = tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
				break
			}
			if _, err = io.CopyN(tw, zeroReader{}, size-int64(len(e.data))); err != nil {
				break
			}
			if _, err = io.WriteString(tw, e.data); err != nil {
				break
			}
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

const hugeSize = 256 << 20

// allocated is how many bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A 256 MiB manifest is skipped by its header, scanned in a small buffer,
// and never held in memory: what the scan allocates stays far below the
// file's size (it was read whole before: 2.7 GB RSS for a 1 MB layer).
func TestHugeManifestIsNotRead(t *testing.T) {
	cr := "apiVersion: cloudcredential.openshift.io/v1\nkind: CredentialsRequest\n"
	k := &kept{files: map[string][]byte{}}
	var err error
	n := allocated(func() {
		_, err = scanLayer(layer(
			entry{name: "release-manifests/0000_huge.yaml", size: hugeSize, data: "kind: ConfigMap\n"},
			entry{name: "release-manifests/0000_50_cr.yaml", data: cr},
		), k)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k.files["0000_50_cr.yaml"]; !ok || len(k.files) != 1 {
		t.Errorf("kept %v", k.files)
	}
	if n > 8<<20 {
		t.Errorf("scanning a %d MiB manifest allocated %d MiB", hugeSize>>20, n>>20)
	}
	t.Logf("a %d MiB manifest: %d KiB allocated", hugeSize>>20, n>>10)
}

// A huge file that does mention CredentialsRequest is an error naming the
// file and the limit, still without reading it into memory.
func TestHugeCredentialsRequestIsRefused(t *testing.T) {
	var err error
	n := allocated(func() {
		_, err = scanLayer(layer(entry{name: "release-manifests/0000_50_cr.yaml", size: hugeSize, data: "kind: CredentialsRequest\n"}), &kept{files: map[string][]byte{}})
	})
	want := "release-manifests/0000_50_cr.yaml is 256 MiB, over the release-manifest file limit (4 MiB)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
	if n > 8<<20 {
		t.Errorf("allocated %d MiB", n>>20)
	}
}

// Many files under the per-file limit cannot add up past the total limit.
func TestManifestsTotalLimit(t *testing.T) {
	var entries []entry
	per := limits.ReleaseManifest.Bytes
	for i := int64(0); i <= limits.ReleaseManifests.Bytes/per; i++ {
		entries = append(entries, entry{name: "release-manifests/cr" + strings.Repeat("x", int(i)) + ".yaml", size: per, data: "kind: CredentialsRequest\n"})
	}
	_, err := scanLayer(layer(entries...), &kept{files: map[string][]byte{}})
	if err == nil || !strings.Contains(err.Error(), "over the "+limits.ReleaseManifests.String()) {
		t.Errorf("got %v", err)
	}
}

func TestUncompressedLimit(t *testing.T) {
	c := &capped{r: layer(entry{name: "x", size: 1 << 20}), limit: limits.Limit{Name: "test limit", Bytes: 64 << 10}}
	if _, err := io.Copy(io.Discard, c); err == nil || !strings.Contains(err.Error(), "over the test limit (64 KiB)") {
		t.Errorf("got %v", err)
	}
}

// A match split across two reads is found.
func TestContainsAcrossReads(t *testing.T) {
	for _, at := range []int{0, 64<<10 - 5, 64 << 10, 200000} {
		data := append(bytes.Repeat([]byte{'.'}, at), needle...)
		if ok, err := contains(io.MultiReader(bytes.NewReader(data[:at+3]), bytes.NewReader(data[at+3:])), needle); !ok || err != nil {
			t.Errorf("at %d: %v %v", at, ok, err)
		}
	}
	if ok, _ := contains(strings.NewReader("CredentialsReques"), needle); ok {
		t.Error("found a partial match")
	}
}

// BenchmarkScanHugeManifest reports the heap a 256 MiB manifest costs
// (B/op), the memory bound scanLayer keeps.
func BenchmarkScanHugeManifest(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := scanLayer(layer(entry{name: "release-manifests/huge.yaml", size: hugeSize}), &kept{files: map[string][]byte{}}); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzScanLayer: any layer gives kept files within the limits, or an error.
func FuzzScanLayer(f *testing.F) {
	for _, es := range [][]entry{
		{{name: "release-manifests/a.yaml", data: "kind: CredentialsRequest\n"}, {name: "release-manifests/.wh.a.yaml"}},
		{{name: "release-manifests/release-metadata", data: `{"version":"4.16.0"}`}, {name: "release-manifests/.wh..wh..opq"}},
		{{name: "other/x.yaml", data: "CredentialsRequest"}},
	} {
		data, _ := io.ReadAll(layer(es...))
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k := &kept{files: map[string][]byte{}}
		if _, err := scanLayer(bytes.NewReader(data), k); err != nil {
			return
		}
		var total int64
		for name, d := range k.files {
			total += int64(len(d))
			if int64(len(d)) > limits.ReleaseManifest.Bytes || strings.Contains(name, "/") {
				t.Fatalf("kept %q (%d bytes)", name, len(d))
			}
		}
		if total != k.total || total > limits.ReleaseManifests.Bytes {
			t.Fatalf("total %d, counted %d", total, k.total)
		}
	})
}
