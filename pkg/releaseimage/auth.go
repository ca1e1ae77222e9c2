package releaseimage

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/oc-sts/oc-sts/pkg/limits"
)

// AuthSource is one pull secret (a docker config.json / auth.json document).
type AuthSource struct {
	Name  string // what the user calls it: a file path or "install-config pullSecret"
	auths map[string]authEntry
}

type authEntry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
}

// ParseAuth reads a pull secret document; name says where it came from.
func ParseAuth(name string, data []byte) (AuthSource, error) {
	var doc struct {
		Auths map[string]authEntry `json:"auths"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return AuthSource{}, fmt.Errorf("%s: not a pull secret (want {\"auths\": {...}}): %v", name, err)
	}
	return AuthSource{Name: name, auths: doc.Auths}, nil
}

// ReadAuthFile reads a pull secret file.
func ReadAuthFile(path string) (AuthSource, error) {
	data, err := limits.ReadFile(path, limits.PullSecret)
	if err != nil {
		return AuthSource{}, fmt.Errorf("reading pull secret: %w", err)
	}
	return ParseAuth(path, data)
}

// lookup finds the credential for repo (registry/path), the most specific
// key first, as podman does; docker.io has its historic aliases.
func (s AuthSource) lookup(registry, repo string) (authn.AuthConfig, bool) {
	candidates := []string{}
	for r := repo; strings.Contains(r, "/"); r = r[:strings.LastIndex(r, "/")] {
		candidates = append(candidates, r)
	}
	candidates = append(candidates, registry)
	if registry == "index.docker.io" {
		candidates = append(candidates, "docker.io", "https://index.docker.io/v1/")
	}
	for _, c := range candidates {
		for key, e := range s.auths {
			if normalizeKey(key) != c {
				continue
			}
			cfg := authn.AuthConfig{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken}
			if e.Auth != "" {
				raw, err := base64.StdEncoding.DecodeString(e.Auth)
				if user, pass, ok := strings.Cut(string(raw), ":"); err == nil && ok {
					cfg.Username, cfg.Password = user, pass
				}
			}
			return cfg, true
		}
	}
	return authn.AuthConfig{}, false
}

func normalizeKey(k string) string {
	if k == "https://index.docker.io/v1/" {
		return k
	}
	k = strings.TrimPrefix(strings.TrimPrefix(k, "https://"), "http://")
	return strings.TrimSuffix(k, "/")
}

// keychain tries the sources in order, then the docker/podman defaults,
// and remembers which one answered for each registry (for error messages).
type keychain struct {
	sources []AuthSource
	mu      sync.Mutex
	used    map[string]string
}

func newKeychain(sources []AuthSource) *keychain {
	return &keychain{sources: sources, used: map[string]string{}}
}

func (k *keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	registry := r.RegistryStr()
	for _, s := range k.sources {
		if cfg, ok := s.lookup(registry, r.String()); ok {
			k.record(registry, "credentials from "+s.Name)
			return authn.FromConfig(cfg), nil
		}
	}
	a, err := authn.DefaultKeychain.Resolve(r)
	if err != nil || a == authn.Anonymous {
		k.record(registry, anonymous)
		return authn.Anonymous, nil
	}
	k.record(registry, "credentials from the docker/podman default auth files")
	return a, nil
}

func (k *keychain) record(registry, source string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.used[registry] = source
}

func (k *keychain) sourceFor(registry string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s, ok := k.used[registry]; ok {
		return s
	}
	return anonymous
}

const anonymous = "no credentials (no pull secret has an entry for it)"
