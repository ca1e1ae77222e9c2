package releaseimage

import (
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// userError is a complete, actionable message.
type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

// classify turns registry failures into one line that says what to do.
func classify(ref name.Reference, err error, kc *keychain) error {
	var ue *userError
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %w", ref, err)
	}
	registry := ref.Context().RegistryStr()
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return &fetchError{kind: "unauthorized", err: fmt.Errorf("registry %s refused %s with %s: put a pull secret for %s in install-config.yaml pullSecret, -a/--registry-config or REGISTRY_AUTH_FILE", registry, ref, kc.sourceFor(registry), registry)}
		case te.StatusCode == http.StatusNotFound || hasCode(te, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode):
			return &fetchError{kind: "unknown", err: fmt.Errorf("manifest unknown: %s does not exist in registry %s: check the tag or digest", ref, registry)}
		}
	}
	var netErr net.Error // *net.OpError, DNS and timeout errors alike
	if errors.As(err, &netErr) {
		return &fetchError{kind: "unreachable", err: fmt.Errorf("registry %s is unreachable (%v): check the network or proxy, or add a mirror in install-config.yaml imageDigestSources", registry, err)}
	}
	return fmt.Errorf("reading release image %s: %w", ref, err)
}

func hasCode(te *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range te.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}

// fetchError is a failure another mirror may not have.
type fetchError struct {
	kind string
	err  error
}

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

func isRetryableElsewhere(err error) bool {
	var fe *fetchError
	return errors.As(err, &fe)
}
