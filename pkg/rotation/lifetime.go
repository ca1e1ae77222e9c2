package rotation

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// How long can a token signed with the old key still be valid once the
// cluster signs with the new one? As long as kube-apiserver issues tokens:
//
//   - --service-account-max-token-expiration caps every TokenRequest; unset
//     (OpenShift leaves it unset) a token lasts what it asked for, and the
//     pods' projected tokens for AWS ask for 3600 s (the CredentialsRequest
//     operators' serviceAccountToken volumes; also the TokenRequest
//     default): one hour.
//   - --service-account-extend-token-expiration (on by default) issues a
//     pod's token asked for 3607 s for a year instead, but only when every
//     audience it asks for is one of the API server's own (--api-audiences,
//     in OpenShift the issuer URL): AWS accepts such a token only if
//     --api-audiences names an audience of the IAM OIDC provider.
//
// A margin for clock skew between the cluster and AWS is added.

// TokenSettings are kube-apiserver's token settings as the kube-apiserver
// operator runs it (ConfigMap openshift-kube-apiserver/config).
type TokenSettings struct {
	Found            bool   // the settings were read
	Source           string // where from, or why they could not be read
	MaxExpiration    time.Duration
	ExtendExpiration bool // kube-apiserver's default is true
	APIAudiences     []string
}

const (
	// DefaultTokenLifetime: the bound tokens of the operators' pods, and a
	// TokenRequest that asks for no expiration.
	DefaultTokenLifetime = time.Hour
	// ExtendedTokenLifetime is kube-apiserver's extension (ExpirationExtensionSeconds).
	ExtendedTokenLifetime = 365 * 24 * time.Hour
	// ClockSkew is added for clocks of the cluster and AWS that differ.
	ClockSkew = 5 * time.Minute
)

// MaxTokenLifetime is the longest a token for one of audiences (the IAM
// OIDC provider's client IDs) can be valid under s.
func MaxTokenLifetime(s TokenSettings, audiences []string) Lifetime {
	if !s.Found {
		return Lifetime{Max: Duration{DefaultTokenLifetime}, Source: "the bound token default (" + s.Source + ")",
			Warning: "could not read the cluster's kube-apiserver token settings (" + s.Source + "): assuming tokens last at most " + DefaultTokenLifetime.String()}
	}
	if s.ExtendExpiration {
		if i := slices.IndexFunc(s.APIAudiences, func(a string) bool { return slices.Contains(audiences, a) }); i >= 0 {
			return Lifetime{Max: Duration{ExtendedTokenLifetime}, Source: fmt.Sprintf("service-account-extend-token-expiration with api-audiences %s, an audience AWS accepts (%s)", s.APIAudiences[i], s.Source)}
		}
	}
	if s.MaxExpiration > 0 {
		return Lifetime{Max: Duration{s.MaxExpiration}, Source: fmt.Sprintf("service-account-max-token-expiration=%s (%s)", s.MaxExpiration, s.Source)}
	}
	return Lifetime{Max: Duration{DefaultTokenLifetime}, Source: "the pods' bound tokens (expirationSeconds 3600); no service-account-max-token-expiration (" + s.Source + ")",
		Warning: "kube-apiserver has no service-account-max-token-expiration: a token someone requested for longer than " + DefaultTokenLifetime.String() +
			" (oc create token --duration) with the old key is rejected by AWS once the old key is retired"}
}

// ParseTokenSettings reads the settings from kube-apiserver arguments as
// the operator's config.yaml lists them (apiServerArguments).
func ParseTokenSettings(args map[string][]string, source string) (TokenSettings, error) {
	s := TokenSettings{Found: true, Source: source, ExtendExpiration: true}
	if v := last(args["service-account-max-token-expiration"]); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return s, fmt.Errorf("%s: service-account-max-token-expiration %q is not a duration", source, v)
		}
		s.MaxExpiration = d
	}
	if v := last(args["service-account-extend-token-expiration"]); v != "" {
		s.ExtendExpiration = v != "false"
	}
	for _, a := range args["api-audiences"] {
		for _, part := range strings.Split(a, ",") {
			if part = strings.TrimSpace(part); part != "" {
				s.APIAudiences = append(s.APIAudiences, part)
			}
		}
	}
	return s, nil
}

func last(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// retireAfter is when the old key can go: the roll plus the lifetime and skew.
func retireAfter(rolledAt time.Time, l Lifetime) time.Time {
	return rolledAt.Add(l.Max.Duration + ClockSkew)
}
