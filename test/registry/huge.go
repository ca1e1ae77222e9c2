package registry

import (
	"archive/tar"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// HugeFileLayer stacks on img a layer holding one file of size bytes:
// zeros, then tail. The tar stream is generated on the fly, never held in
// memory; zeros compress about 1000:1, so a 256 MiB file is a layer of a
// few hundred KiB, the shape of a decompression bomb.
func HugeFileLayer(img v1.Image, name string, size int64, tail []byte) (v1.Image, error) {
	opener := func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() {
			tw := tar.NewWriter(pw)
			err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg})
			if err == nil {
				_, err = io.CopyN(tw, zeros{}, size-int64(len(tail)))
			}
			if err == nil {
				_, err = tw.Write(tail)
			}
			if err == nil {
				err = tw.Close()
			}
			pw.CloseWithError(err)
		}()
		return pr, nil
	}
	l, err := tarball.LayerFromOpener(opener)
	if err != nil {
		return nil, err
	}
	return mutate.AppendLayers(img, l)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
