package credreq

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
)

// payload reads the real FeatureGate manifests of one generation, named as
// in a release image.
func payload(t *testing.T, generation string) []File {
	t.Helper()
	dir := filepath.Join(testdata(), "..", "featuregates", generation)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []File
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			files = append(files, File{Name: e.Name(), Data: data})
		}
	}
	return files
}

// enabledIn lists the gates a payload file enables, read as plain JSON.
func enabledIn(t *testing.T, files []File, name string) []string {
	t.Helper()
	for _, f := range files {
		if f.Name != name {
			continue
		}
		var fg struct {
			Status struct {
				FeatureGates []struct{ Enabled []struct{ Name string } }
			}
		}
		if err := json.Unmarshal(f.Data, &fg); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range fg.Status.FeatureGates[0].Enabled {
			out = append(out, e.Name)
		}
		return out
	}
	t.Fatalf("no %s", name)
	return nil
}

func gatedBy(gate string) File {
	return File{Name: "0000_50_gated_credentials-request.yaml", Data: []byte(strings.Replace(gated, "MyNewGate", gate, 1))}
}

func TestGatesFromTheReleasePayload(t *testing.T) {
	for _, tc := range []struct {
		generation, featureSet, file string
		// enabled in this payload's set, not in the other generation's
		onlyHere string
	}{
		{"2025-03", "TechPreviewNoUpgrade", "0000_50_cluster-config-api_featureGate-SelfManagedHA-TechPreviewNoUpgrade.yaml", "AWSEFSDriverVolumeMetrics"},
		{"2026-07", "TechPreviewNoUpgrade", "0000_50_cluster-config-api_featureGate-4-10-SelfManagedHA-TechPreviewNoUpgrade.yaml", "AWSDedicatedHosts"},
		{"2025-03", "", "0000_50_cluster-config-api_featureGate-SelfManagedHA-Default.yaml", ""},
		{"2026-07", "", "0000_50_cluster-config-api_featureGate-4-10-SelfManagedHA-Default.yaml", ""},
	} {
		t.Run(tc.generation+"/"+tc.featureSet, func(t *testing.T) {
			files := payload(t, tc.generation)
			in := mustInclusion(t, ClusterSettings{FeatureSet: tc.featureSet, Release: files, ReleaseName: "release 4.99.0", MajorVersion: 4})
			want := enabledIn(t, files, tc.file)
			for _, g := range want {
				if !in.Gates().Enabled(g) {
					t.Errorf("%s is enabled in %s but not in the inclusion", g, tc.file)
				}
			}
			if src := in.Gates().SourceOf(want[0]); src != "release 4.99.0 FeatureGate manifest "+tc.file {
				t.Errorf("source %q, want only the self-managed %s manifest", src, tc.featureSet)
			}
			if in.Gates().Assumption != "" {
				t.Errorf("assumed although the release says: %s", in.Gates().Assumption)
			}
			if tc.onlyHere == "" {
				return
			}
			cr := gatedBy(tc.onlyHere)
			if got := selectNames(t, append(files, cr), ClusterSettings{FeatureSet: tc.featureSet, Release: files, ReleaseName: "r", MajorVersion: 4}); len(got) != 1 {
				t.Errorf("a request gated by %s, which this release enables: included %v", tc.onlyHere, got)
			}
			other := map[string]string{"2025-03": "2026-07", "2026-07": "2025-03"}[tc.generation]
			otherFiles := payload(t, other)
			if got := selectNames(t, append(otherFiles, cr), ClusterSettings{FeatureSet: tc.featureSet, Release: otherFiles, ReleaseName: "r", MajorVersion: 4}); len(got) != 0 {
				t.Errorf("a request gated by %s, which the %s release does not enable: included %v", tc.onlyHere, other, got)
			}
		})
	}
}

func TestGatesFallBackToStatusThenCompiledIn(t *testing.T) {
	status := []configv1.FeatureGateDetails{
		{Version: "4.17.0", Enabled: []configv1.FeatureGateAttributes{{Name: "OldOnly"}}},
		{Version: "4.18.2", Enabled: []configv1.FeatureGateAttributes{{Name: "FromStatus"}}},
	}
	in := mustInclusion(t, ClusterSettings{FeatureSet: "TechPreviewNoUpgrade", GateStatus: status, Version: "4.18.2", GatesOrigin: "FeatureGate cluster", Live: true})
	if !in.Gates().Enabled("FromStatus") || in.Gates().Enabled("OldOnly") || in.Gates().SourceOf("FromStatus") != "FeatureGate cluster status.featureGates for 4.18.2" {
		t.Errorf("status entry of the version: FromStatus %v OldOnly %v source %q", in.Gates().Enabled("FromStatus"), in.Gates().Enabled("OldOnly"), in.Gates().SourceOf("FromStatus"))
	}
	// A release with FeatureGate manifests wins over the status.
	files := payload(t, "2026-07")
	in = mustInclusion(t, ClusterSettings{FeatureSet: "TechPreviewNoUpgrade", GateStatus: status, Version: "4.18.2", Release: files, ReleaseName: "release 4.18.2"})
	if in.Gates().Enabled("FromStatus") {
		t.Error("the status was used although the release has FeatureGate manifests")
	}
	// Neither: openshift/api's sets, said to be an assumption.
	in = mustInclusion(t, ClusterSettings{FeatureSet: "TechPreviewNoUpgrade", GateStatus: status, Version: "4.19.0", GatesOrigin: "FeatureGate cluster"})
	if a := in.Gates().Assumption; !strings.Contains(a, "TechPreviewNoUpgrade feature gates are assumed") || !strings.Contains(a, "no entry for 4.19.0") {
		t.Errorf("assumption %q", a)
	}
	// A major version the payload's manifests do not cover: not used.
	in = mustInclusion(t, ClusterSettings{FeatureSet: "TechPreviewNoUpgrade", Release: files, ReleaseName: "release 11.0.0", MajorVersion: 11})
	if in.Gates().Assumption == "" {
		t.Error("manifests for majors 4-10 used for 11")
	}
}

// CustomNoUpgrade: the release's Default gates plus the cluster's choices,
// each choice named as its own source.
func TestCustomNoUpgradeGates(t *testing.T) {
	files := payload(t, "2026-07")
	def := enabledIn(t, files, "0000_50_cluster-config-api_featureGate-4-10-SelfManagedHA-Default.yaml")
	in := mustInclusion(t, ClusterSettings{FeatureSet: "CustomNoUpgrade", FeatureGates: []string{"MyNewGate=true", def[0] + "=false"},
		Release: files, ReleaseName: "release 4.20.0", GatesOrigin: "FeatureGate cluster", Live: true})
	g := in.Gates()
	if !g.Enabled("MyNewGate") || g.Enabled(def[0]) || !g.Enabled(def[1]) {
		t.Errorf("MyNewGate %v, %s %v (disabled by the cluster), %s %v", g.Enabled("MyNewGate"), def[0], g.Enabled(def[0]), def[1], g.Enabled(def[1]))
	}
	if g.SourceOf("MyNewGate") != "FeatureGate cluster spec.featureGates (CustomNoUpgrade)" || !strings.Contains(g.SourceOf(def[1]), "featureGate-4-10-SelfManagedHA-Default.yaml") {
		t.Errorf("sources %q, %q", g.SourceOf("MyNewGate"), g.SourceOf(def[1]))
	}
	rows := in.Sources([]File{{Name: "g.yaml", Data: []byte(gated)}})
	if !slices.Contains(rows, Source{Kind: "feature-gate", Name: "MyNewGate", Enabled: true, DecidedBy: "FeatureGate cluster spec.featureGates (CustomNoUpgrade)"}) {
		t.Errorf("sources %+v", rows)
	}
}

func TestHoldsFeatureGate(t *testing.T) {
	for _, f := range append(payload(t, "2026-07"), payload(t, "2025-03")...) {
		if !HoldsFeatureGate(f.Data) {
			t.Errorf("%s not recognised", f.Name)
		}
	}
	for _, s := range []string{"kind: FeatureGate\n", "apiVersion: v1\nkind: 'FeatureGate'\n"} {
		if !HoldsFeatureGate([]byte(s)) {
			t.Errorf("%q not recognised", s)
		}
	}
	for _, s := range []string{gated, "kind: FeatureGateList2\n", "description: the FeatureGate kind\n"} {
		if HoldsFeatureGate([]byte(s)) {
			t.Errorf("%q recognised", s)
		}
	}
}
