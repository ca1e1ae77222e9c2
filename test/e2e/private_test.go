package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A private issuer: the bucket stays fully blocked and CloudFront serves the
// discovery documents through origin access control.
func TestPreparePrivateIssuer(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.gate.SetDeployDelay(1500 * time.Millisecond)
	foreign := w.foreign(t)
	dir := exampleDir(t, nil)
	crDir := testdata("credentialsrequests", "4.16")

	dry := w.prepare(t, dir, crDir, "--private-bucket", "--dry-run")
	if dry.code != 0 || !strings.Contains(dry.stdout, "+ cloudfront-distribution") || len(w.mutating()) != 0 {
		t.Fatalf("dry run: exit %d, mutating %v\n%s%s", dry.code, w.mutating(), dry.stdout, dry.stderr)
	}
	res := w.prepare(t, dir, crDir, "--private-bucket")
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "waiting for CloudFront distribution") {
		t.Errorf("no bounded wait shown for the deploying distribution:\n%s", res.stderr)
	}
	p := readPlan(t, dir)
	if !strings.HasSuffix(p.Issuer.HostPath, ".cloudfront.net") || !p.Bucket.Private {
		t.Fatalf("issuer %s private %v", p.Issuer.URL, p.Bucket.Private)
	}
	auth, _ := os.ReadFile(filepath.Join(dir, "manifests", "cluster-authentication-02-config.yaml"))
	if !strings.Contains(string(auth), "serviceAccountIssuer: "+p.Issuer.URL) {
		t.Errorf("Authentication manifest:\n%s", auth)
	}
	if st := w.state(t); !strings.Contains(st, "distribution "+p.Issuer.HostPath) || !strings.Contains(st, "origin-access-control demo-oidc-oac") {
		t.Errorf("distribution or origin access control missing:\n%s", st)
	}
	if !strings.Contains(w.state(t), "block=true,true,true,true") {
		t.Errorf("the issuer bucket must block all public access:\n%s", w.state(t))
	}
	r := p.Roles[0]
	if err := w.assumeAs(t, dir, p, r.ARN, "system:serviceaccount:"+r.CredentialsRequest.SecretNamespace+":"+r.CredentialsRequest.ServiceAccounts[0]); err != nil {
		t.Errorf("token exchange through the CloudFront issuer: %v", err)
	}

	w.gate.ResetLog()
	if again := w.prepare(t, dir, crDir, "--private-bucket"); again.code != 0 || len(w.mutating()) != 0 {
		t.Errorf("converged re-run: exit %d, mutating %v\n%s", again.code, w.mutating(), again.stderr)
	}

	del := w.ocSTS(t, "destroy", "--dir", dir, "--yes")
	if del.code != 0 || !strings.Contains(del.stderr, "disabling CloudFront distribution") {
		t.Fatalf("destroy: exit %d\n%s", del.code, del.stderr)
	}
	if got := w.state(t); got != foreign {
		t.Errorf("after destroy:\n%s\nwant:\n%s", got, foreign)
	}
}
