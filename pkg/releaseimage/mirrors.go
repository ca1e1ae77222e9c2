package releaseimage

import (
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Mirror is an install-config imageDigestSources / imageContentSources entry.
type Mirror struct {
	Source  string
	Mirrors []string
	// NeverContactSource is imageDigestSources' sourcePolicy: NeverContactSource.
	NeverContactSource bool
}

// candidates are the references to try for ref, in order: mirrors first,
// then the source itself. Mirrors apply to digest references only, as on
// a cluster (ImageDigestMirrorSet).
func candidates(ref name.Reference, mirrors []Mirror, opts ...name.Option) []name.Reference {
	d, isDigest := ref.(name.Digest)
	if !isDigest {
		return []name.Reference{ref}
	}
	repo := d.Context().Name()
	var out []name.Reference
	contactSource := true
	for _, m := range mirrors {
		src := strings.TrimSuffix(m.Source, "/")
		if repo != src && !strings.HasPrefix(repo, src+"/") {
			continue
		}
		contactSource = contactSource && !m.NeverContactSource
		for _, mirror := range m.Mirrors {
			if md, err := name.NewDigest(strings.TrimSuffix(mirror, "/")+repo[len(src):]+"@"+d.DigestStr(), opts...); err == nil {
				out = append(out, md)
			}
		}
	}
	if contactSource {
		out = append(out, ref)
	}
	return out
}
