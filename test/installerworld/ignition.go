package installerworld

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

// Bootstrap is what bootstrap.ign writes on the bootstrap node: path ->
// content, decoded from the data URLs of storage.files (gunzipped where
// the installer compressed them).
func Bootstrap(path string) (map[string][]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ign struct {
		Storage struct {
			Files []struct {
				Path     string     `json:"path"`
				Contents resource   `json:"contents"`
				Append   []resource `json:"append"`
			} `json:"files"`
		} `json:"storage"`
	}
	if err := json.Unmarshal(raw, &ign); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	out := map[string][]byte{}
	for _, f := range ign.Storage.Files {
		var data []byte
		for _, r := range append([]resource{f.Contents}, f.Append...) {
			b, err := r.read()
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %v", path, f.Path, err)
			}
			data = append(data, b...)
		}
		out[f.Path] = data
	}
	return out, nil
}

// resource is an ignition file's contents or one of its appendices.
type resource struct {
	Source      string `json:"source"`
	Compression string `json:"compression"`
}

func (r resource) read() ([]byte, error) {
	if r.Source == "" {
		return nil, nil
	}
	data, err := decodeDataURL(r.Source)
	if err != nil || r.Compression != "gzip" {
		return data, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// decodeDataURL reads an RFC 2397 data URL: data:[<mediatype>][;base64],<data>.
func decodeDataURL(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		return nil, fmt.Errorf("source %.40q is not a data URL", s)
	}
	header, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, fmt.Errorf("data URL without a comma")
	}
	if strings.HasSuffix(header, ";base64") {
		return base64.StdEncoding.DecodeString(payload)
	}
	text, err := url.PathUnescape(payload)
	return []byte(text), err
}
