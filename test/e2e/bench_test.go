package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAWS runs prepare, a converged re-run and destroy against the AWS
// test world, once with no added latency and once with BENCH_LATENCY per AWS
// call (make bench: 200 ms, a far region's round trip; 50 ms by default),
// and prints per phase: wall time, calls, mutating calls, the time the
// latency added (in serial round trips), and the critical-path bound — the
// longest chain of calls that depend on each other, times the latency:
//
//	prepare: GetCallerIdentity → observe (one round of reads, the permission
//	         check beside them) → CreateBucket → PutPublicAccessBlock →
//	         PutBucketPolicy (alongside CreateOpenIDConnectProvider →
//	         CreateRole → PutRolePolicy)                                           = 5
//	re-run:  GetCallerIdentity → observe                                           = 2
//	destroy: GetCallerIdentity → find (ListOpenIDConnectProviders → Get…,
//	         the permission check beside it) → DeleteRolePolicy → DeleteRole      = 5
//
// The zero-latency run is the test world's own cost (moto answers one call
// at a time, plus process start); the added time is what the product's call
// scheduling costs. Goals: added ≤ 1.2× the bound; re-run reads ≤ 2 + roles.
// prepare is a first run: the install dir holds only its signer key (made
// before, as its generation's seconds would blur the figures).
//
//	make bench
func BenchmarkAWS(b *testing.B) {
	latency := 50 * time.Millisecond
	if v, err := time.ParseDuration(os.Getenv("BENCH_LATENCY")); err == nil {
		latency = v
	}
	chains := map[string]int{"prepare": 5, "rerun": 2, "destroy": 5}
	awsPhases(b, 0) // moto loads its service modules on first use
	for i := 0; i < b.N; i++ {
		base, roles := awsPhases(b, 0)
		slow, _ := awsPhases(b, latency)
		for _, name := range []string{"prepare", "rerun", "destroy"} {
			s, bound := slow[name], time.Duration(chains[name])*latency
			added := s.wall - base[name].wall
			// serial round trips: the added time in calls' worth of latency,
			// against the chain of calls that depend on each other.
			fmt.Printf("%-8s wall %5.0f ms (%5.0f ms at 0 latency)  calls %3d  mutating %3d  added by %v latency %5.0f ms = %.1f serial round trips  critical path %d (%5.0f ms)  ratio %.2f",
				name, ms(s.wall), ms(base[name].wall), s.calls, s.mutating, latency, ms(added), float64(added)/float64(latency), chains[name], ms(bound), float64(added)/float64(bound))
			if name == "rerun" {
				fmt.Printf("  (reads %d, goal ≤ 2 + %d roles)", s.calls, roles)
			}
			fmt.Println()
			b.ReportMetric(ms(s.wall), name+"-ms")
			b.ReportMetric(float64(s.calls), name+"-calls")
			b.ReportMetric(float64(added)/float64(latency), name+"-roundtrips")
		}
	}
}

type phase struct {
	wall            time.Duration
	calls, mutating int
}

// awsPhases runs the three phases on a fresh world and install dir.
func awsPhases(b *testing.B, latency time.Duration) (map[string]phase, int) {
	crDir := testdata("credentialsrequests", "4.16")
	w := newWorld(b)
	dir := exampleDir(b, nil)
	// The signer key is generated before, not inside, the timed phases.
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls", "bound-service-account-signing-key.key"), pemKey(b, 4096), 0o600); err != nil {
		b.Fatal(err)
	}
	prepare := []string{"prepare", "--no-installer", "--dir", dir, "--credentials-requests-dir", crDir, "--yes"}
	out := map[string]phase{}
	for _, ph := range []struct {
		name string
		args []string
	}{{"prepare", prepare}, {"rerun", prepare}, {"destroy", []string{"destroy", "--dir", dir, "--yes"}}} {
		w.gate.ResetLog()
		w.gate.SetLatency(latency)
		start := time.Now()
		if res := w.ocSTS(b, ph.args...); res.code != 0 {
			b.Fatalf("%s: %s", ph.name, res.stderr)
		}
		out[ph.name] = phase{time.Since(start), len(w.gate.Calls()), len(w.mutating())}
	}
	return out, len(readPlan(b, dir).Roles)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
