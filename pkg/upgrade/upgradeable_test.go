package upgrade

import (
	"testing"

	configv1 "github.com/openshift/api/config/v1"
)

func history(entries ...string) *configv1.ClusterVersion {
	cv := &configv1.ClusterVersion{}
	for i := 0; i+1 < len(entries); i += 2 {
		cv.Status.History = append(cv.Status.History, configv1.UpdateHistory{State: configv1.UpdateState(entries[i]), Version: entries[i+1]})
	}
	return cv
}

// The cloud credential operator's reading (see UpgradeableCheck in
// cloud-credential-operator pkg/operator/utils); the e2e tests hold the
// same cases against its compiled code.
func TestUnblocks(t *testing.T) {
	at412 := history("Partial", "4.13.1", "Completed", "4.12.9", "Completed", "4.11.40")
	for _, tc := range []struct {
		value string
		cv    *configv1.ClusterVersion
		want  bool
	}{
		{"4.13", at412, true},
		{"4.13.0", at412, true},
		{"v4.13", at412, true},
		{"4.13.0-rc.1", at412, true},
		{"5", at412, true},
		{"4.12.99", at412, false}, // stale: the minor the cluster has completed
		{"4.12", at412, false},
		{"", at412, false},
		{"latest", at412, false},
		{"4.13-rc.1", at412, false}, // not semver: pre-release needs x.y.z
		{"04.13", at412, false},
		{"4.13.0-01", at412, false},
		{"4.12", history("Partial", "4.12.0"), true},     // nothing completed: not blocked
		{"4.13", history("Completed", "v4.12.9"), false}, // "vv4.12.9" is unreadable
		{"4.14", history("Completed", "4.13.2", "Completed", "4.14.1"), false}, // the highest completed, not the latest
	} {
		if got := Unblocks(tc.value, tc.cv); got != tc.want {
			t.Errorf("Unblocks(%q, %+v) = %v, want %v", tc.value, tc.cv.Status.History, got, tc.want)
		}
	}
}

func TestAnnotationNeededAndCovers(t *testing.T) {
	at412 := history("Completed", "4.12.9")
	for _, tc := range []struct {
		target string
		needed bool
	}{{"4.13.0", true}, {"4.12.10", false}, {"5.0.0", true}, {"4.13.0-0.nightly-2024-01-09-095729", true}} {
		if got, err := AnnotationNeeded(tc.target, at412); err != nil || got != tc.needed {
			t.Errorf("AnnotationNeeded(%q) = %v, %v", tc.target, got, err)
		}
	}
	if _, err := AnnotationNeeded("stable", at412); err == nil {
		t.Error("an unreadable target version was accepted")
	}
	if !Covers("4.14", "4.13.2", at412) || Covers("4.13", "4.14.0", at412) || Covers("4.12", "4.12.3", at412) {
		t.Error("Covers")
	}
}
