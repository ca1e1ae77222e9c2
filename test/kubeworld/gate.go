package kubeworld

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Gate is a proxy in front of the API server for crash tests: it logs the
// writes that reach it (every create, update, patch and delete, except
// TokenRequests, which store nothing) and can kill the client right after
// one: the write is done, the client never hears of it.
type Gate struct {
	Kubeconfig string
	srv        *httptest.Server

	mu      sync.Mutex
	writes  []string
	killAt  int
	killRun func()
}

// NewGate starts a gate; its kubeconfig is written in dir.
func (c *Cluster) NewGate(dir string) (*Gate, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, err
	}
	g := &Gate{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	proxy.ModifyResponse = func(resp *http.Response) error {
		if kill := g.written(resp.Request); kill != nil {
			kill()
			return errors.New("killed after the write")
		}
		return nil
	}
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		http.Error(w, err.Error(), http.StatusBadGateway)
	}
	g.srv = httptest.NewTLSServer(proxy)
	g.Kubeconfig = filepath.Join(dir, "gate-kubeconfig")
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: gate, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %s}}]
contexts: [{name: gate, context: {cluster: gate, user: admin}}]
current-context: gate
`, g.srv.URL, adminToken)
	if err := os.WriteFile(g.Kubeconfig, []byte(kubeconfig), 0o600); err != nil {
		g.srv.Close()
		return nil, err
	}
	return g, nil
}

// written logs a write the API server answered; it returns the kill to
// run when it is the one asked for.
func (g *Gate) written(r *http.Request) func() {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return nil
	}
	if strings.HasSuffix(r.URL.Path, "/token") {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writes = append(g.writes, r.Method+" "+r.URL.Path)
	if g.killAt > 0 && len(g.writes) == g.killAt {
		kill := g.killRun
		g.killAt, g.killRun = 0, nil
		return kill
	}
	return nil
}

// Writes are the writes so far.
func (g *Gate) Writes() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.writes...)
}

// KillAfterWrite runs kill once the k-th write from now is done; k <= 0
// takes back a kill not run yet.
func (g *Gate) KillAfterWrite(k int, kill func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.killAt, g.killRun = len(g.writes)+k, kill
	if k <= 0 {
		g.killAt, g.killRun = 0, nil
	}
}

// Close stops the gate.
func (g *Gate) Close() { g.srv.Close() }
