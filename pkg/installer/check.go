package installer

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Where the installer reads what oc sts adds.
const (
	ManifestsDir  = "manifests"
	SignerKeyFile = "tls/bound-service-account-signing-key.key"
	// clusterConfig is the file whose presence makes the installer read
	// manifests/ from disk at all (its Manifests asset's Load): before
	// `create manifests` wrote it, every file in manifests/ is ignored.
	clusterConfig = "manifests/cluster-config.yaml"
	openshiftDir  = "openshift"
	bootstrapIgn  = "bootstrap.ign"
)

// Expected is what oc sts put into an install dir for the installer.
type Expected struct {
	Manifests map[string][]byte // file name in manifests/ -> content
	SignerKey []byte
}

// Check decides, by the installer's loading rules, whether its next run on
// dir (`create ignition-configs` or `create cluster`) puts every expected
// manifest and the signer key into the bootstrap ignition config. It
// returns nil when it will, else every reason it will not, each with its fix.
func Check(dir string, want Expected) error {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	exists := func(rel string) bool { _, err := os.Lstat(filepath.Join(dir, rel)); return err == nil }

	switch {
	case exists(bootstrapIgn):
		return fmt.Errorf("%s: the ignition configs were already created, from manifests oc sts cannot check any more: check them before `openshift-install create ignition-configs`", dir)
	case !exists(clusterConfig) && exists(InstallConfigFile):
		add("%s has not been consumed yet: the installer ignores manifests/ until `openshift-install create manifests --dir %s` has run", InstallConfigFile, dir)
	case !exists(clusterConfig):
		add("%s is missing: run `openshift-install create manifests --dir %s` (with credentialsMode: Manual), then oc sts prepare", clusterConfig, dir)
	case exists(InstallConfigFile):
		add("%s is back after `create manifests`: the installer would regenerate the manifests from it and discard manifests/; remove it, or run oc sts prepare again", InstallConfigFile)
	}
	if s, err := ReadStateIfAny(dir); err != nil {
		return err
	} else if s != nil {
		if ic, err := s.InstallConfig(); err != nil {
			return err
		} else if ic != nil && !isManual(ic) {
			add("%s: the install-config was consumed without credentialsMode: Manual, so the manifests hold the root credentials; start again from install-config.yaml with oc sts prepare", s.Path)
		}
	}

	names := slices.Sorted(maps.Keys(want.Manifests))
	for _, name := range names {
		got, err := os.ReadFile(filepath.Join(dir, ManifestsDir, name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			add("%s/%s is missing: run oc sts prepare again", ManifestsDir, name)
		case err != nil:
			return err
		case !bytes.Equal(got, want.Manifests[name]):
			add("%s/%s is not what oc sts wrote (changed since): run oc sts prepare again", ManifestsDir, name)
		}
	}
	dups, err := duplicates(dir, want.Manifests)
	if err != nil {
		return err
	}
	problems = append(problems, dups...)

	key, err := os.ReadFile(filepath.Join(dir, SignerKeyFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		add("%s is missing: the cluster would sign tokens with a key whose JWKS is not published; run oc sts prepare again", SignerKeyFile)
	case err != nil:
		return err
	case !bytes.Equal(key, want.SignerKey):
		add("%s is not the signer key whose JWKS oc sts published: run oc sts prepare again (it refuses two different keys)", SignerKeyFile)
	}
	if len(problems) > 0 {
		return fmt.Errorf("the installer will not use what oc sts prepared in %s:\n  - %s", dir, strings.Join(problems, "\n  - "))
	}
	return nil
}

func isManual(installConfig []byte) bool {
	var ic struct {
		CredentialsMode string `yaml:"credentialsMode"`
	}
	return yaml.Unmarshal(installConfig, &ic) == nil && ic.CredentialsMode == "Manual"
}

type objectID struct{ apiVersion, kind, namespace, name string }

// duplicates finds other manifests, in manifests/ or openshift/ (the
// bootstrap applies both), that define one of the expected objects too:
// which one the cluster gets would be left to chance.
func duplicates(dir string, want map[string][]byte) ([]string, error) {
	ours := map[objectID]string{}
	for name, data := range want {
		for _, id := range objectsIn(data) {
			ours[id] = name
		}
	}
	var out []string
	for _, sub := range []string{ManifestsDir, openshiftDir} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			continue // a missing manifests/ is reported as missing files
		}
		for _, e := range entries {
			name := e.Name()
			ext := filepath.Ext(name)
			if _, mine := want[name]; (mine && sub == ManifestsDir) || e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, sub, name))
			if err != nil {
				return nil, err
			}
			for _, id := range objectsIn(data) {
				if other, ok := ours[id]; ok {
					out = append(out, fmt.Sprintf("%s/%s defines %s %s too, as %s does: remove one of them", sub, name, id.kind, strings.TrimPrefix(id.namespace+"/"+id.name, "/"), other))
				}
			}
		}
	}
	return out, nil
}

// objectsIn lists the objects of a (multi-document) manifest; what does not
// parse is the installer's to reject.
func objectsIn(data []byte) []objectID {
	var out []objectID
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var o struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Metadata   struct {
				Name      string `yaml:"name"`
				Namespace string `yaml:"namespace"`
			} `yaml:"metadata"`
		}
		if dec.Decode(&o) != nil { // io.EOF, or what the installer will reject
			return out
		}
		if o.Kind != "" {
			out = append(out, objectID{o.APIVersion, o.Kind, o.Metadata.Namespace, o.Metadata.Name})
		}
	}
}
