package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The krew manifest installs the oc-sts binary for every platform we build.
func TestKrewManifest(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "plugin", "sts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string
		Metadata   struct{ Name string }
		Spec       struct {
			Version          string
			ShortDescription string `yaml:"shortDescription"`
			Platforms        []struct {
				Selector struct {
					MatchLabels map[string]string `yaml:"matchLabels"`
				}
				URI    string `yaml:"uri"`
				SHA256 string `yaml:"sha256"`
				Bin    string
			}
		}
	}
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "sts" || !strings.HasPrefix(m.Spec.Version, "v") || m.Spec.ShortDescription == "" {
		t.Errorf("manifest header: %+v", m)
	}
	if len(m.Spec.Platforms) != 4 {
		t.Errorf("%d platforms", len(m.Spec.Platforms))
	}
	for _, p := range m.Spec.Platforms {
		osArch := p.Selector.MatchLabels["os"] + "_" + p.Selector.MatchLabels["arch"]
		if p.Bin != "oc-sts" || !strings.HasSuffix(p.URI, "/oc-sts_"+osArch+".tar.gz") || p.SHA256 != "SHA256_"+osArch {
			t.Errorf("platform %s: %+v", osArch, p)
		}
	}
}
