package rotation

import (
	"strings"
	"testing"
	"time"
)

// How long old-key tokens can live, from kube-apiserver's arguments as the
// kube-apiserver operator's config.yaml lists them.
func TestMaxTokenLifetime(t *testing.T) {
	aws := []string{"openshift", "sts.amazonaws.com"}
	issuer := "https://c-oidc.s3.us-east-2.amazonaws.com"
	for name, tc := range map[string]struct {
		args    map[string][]string
		want    time.Duration
		source  string
		warning string
	}{
		"OpenShift's defaults: no cap, the API audience is the issuer": {map[string][]string{"api-audiences": {issuer}}, time.Hour,
			"the pods' bound tokens", "no service-account-max-token-expiration"},
		"a cap": {map[string][]string{"service-account-max-token-expiration": {"2h"}, "api-audiences": {issuer}}, 2 * time.Hour,
			"service-account-max-token-expiration=2h0m0s", ""},
		"the extension reaches AWS's audience": {map[string][]string{"api-audiences": {issuer + ",openshift"}, "service-account-max-token-expiration": {"2h"}},
			ExtendedTokenLifetime, "service-account-extend-token-expiration with api-audiences openshift", ""},
		"the extension turned off": {map[string][]string{"api-audiences": {"openshift"}, "service-account-extend-token-expiration": {"false"},
			"service-account-max-token-expiration": {"3h"}}, 3 * time.Hour, "service-account-max-token-expiration=3h0m0s", ""},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := ParseTokenSettings(tc.args, "configmap openshift-kube-apiserver/config")
			if err != nil {
				t.Fatal(err)
			}
			got := MaxTokenLifetime(s, aws)
			if got.Max.Duration != tc.want || !strings.Contains(got.Source, tc.source) || !strings.Contains(got.Source, "openshift-kube-apiserver/config") {
				t.Errorf("got %s from %q, want %s from %q", got.Max, got.Source, tc.want, tc.source)
			}
			if (tc.warning == "") != (got.Warning == "") || !strings.Contains(got.Warning, tc.warning) {
				t.Errorf("warning %q, want %q", got.Warning, tc.warning)
			}
		})
	}
	if _, err := ParseTokenSettings(map[string][]string{"service-account-max-token-expiration": {"a day"}}, "x"); err == nil {
		t.Error("an unreadable duration must be an error")
	}
	unread := MaxTokenLifetime(TokenSettings{Source: "forbidden"}, aws)
	if unread.Max.Duration != DefaultTokenLifetime || !strings.Contains(unread.Warning, "could not read") {
		t.Errorf("settings not readable: %+v", unread)
	}
}
