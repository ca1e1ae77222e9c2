// Package kubeworld runs a real kube-apiserver on etcd for the verify
// tests: the binaries `make test-tools` installs (Debian's etcd-server) and
// builds (kube-apiserver from k8s.io/kubernetes, test/tools/kube-apiserver).
// There is no controller-manager: tests create namespaces and service
// accounts themselves.
package kubeworld

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"time"
)

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	Kubeconfig string
	URL        string
	procs      []*exec.Cmd
	apiBin     string
	apiArgs    []string // without the service-account key flags
	api        *exec.Cmd
}

// Options are the service-account settings under test.
type Options struct {
	Dir            string // scratch space
	Issuer         string // --service-account-issuer
	SigningKeyFile string // --service-account-signing-key-file (and its public half)
}

const adminToken = "oc-sts-test-admin"

// Binaries finds etcd and kube-apiserver, or says how to get them.
func Binaries() (etcd, apiserver string, err error) {
	etcd, err = exec.LookPath("etcd")
	if err != nil {
		etcd = "/usr/bin/etcd"
	}
	_, file, _, _ := runtime.Caller(0)
	apiserver = filepath.Join(filepath.Dir(file), "..", "..", "bin", "tools", "kube-apiserver")
	if v := os.Getenv("KUBE_APISERVER"); v != "" {
		apiserver = v
	}
	for _, b := range []string{etcd, apiserver} {
		if _, err := os.Stat(b); err != nil {
			return "", "", fmt.Errorf("%s is missing: run `make test-tools` (installs etcd-server, builds kube-apiserver)", b)
		}
	}
	return etcd, apiserver, nil
}

// Start runs etcd and kube-apiserver and waits until the API is ready.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	etcdBin, apiBin, err := Binaries()
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	if err := c.run(etcdBin, "--data-dir", filepath.Join(o.Dir, "etcd"), "--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", ports[1]), "--log-level", "error"); err != nil {
		return nil, err
	}
	tokens := filepath.Join(o.Dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(adminToken+",admin,admin,system:masters\n"), 0o600); err != nil {
		c.Stop()
		return nil, err
	}
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	c.apiBin, c.apiArgs = apiBin, []string{"--etcd-servers", etcdURL, "--bind-address", "127.0.0.1", "--secure-port", fmt.Sprint(ports[2]),
		"--cert-dir", filepath.Join(o.Dir, "certs"), "--token-auth-file", tokens, "--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.0.0.0/24", "--service-account-issuer", o.Issuer,
		"--enable-priority-and-fairness=false", "--logging-format", "text", "-v", "0"}
	if err := c.startAPIServer(o.SigningKeyFile, []string{o.SigningKeyFile}); err != nil {
		return nil, err
	}
	c.Kubeconfig = filepath.Join(o.Dir, "kubeconfig")
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %s}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, c.URL, adminToken)
	if err := os.WriteFile(c.Kubeconfig, []byte(kubeconfig), 0o600); err != nil {
		c.Stop()
		return nil, err
	}
	if err := c.waitReady(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// startAPIServer runs kube-apiserver signing with signingKey and
// accepting the keys in keyFiles (--service-account-key-file, repeated).
func (c *Cluster) startAPIServer(signingKey string, keyFiles []string, extra ...string) error {
	args := append(append([]string(nil), c.apiArgs...), "--service-account-signing-key-file", signingKey)
	for _, f := range keyFiles {
		args = append(args, "--service-account-key-file", f)
	}
	if err := c.run(c.apiBin, append(args, extra...)...); err != nil {
		return err
	}
	c.api = c.procs[len(c.procs)-1]
	return nil
}

// RestartAPIServer stops kube-apiserver and starts it again on the same
// port, etcd and certificates, signing with signingKey, accepting the keys
// in keyFiles, with extra flags; it returns once the API is ready again.
func (c *Cluster) RestartAPIServer(ctx context.Context, signingKey string, keyFiles []string, extra ...string) error {
	if c.api != nil && c.api.Process != nil {
		c.api.Process.Kill()
		c.api.Wait()
		c.procs = slices.DeleteFunc(c.procs, func(p *exec.Cmd) bool { return p == c.api })
	}
	if err := c.startAPIServer(signingKey, keyFiles, extra...); err != nil {
		return err
	}
	return c.waitReady(ctx)
}

func (c *Cluster) run(bin string, args ...string) error {
	cmd := exec.Command(bin, args...)
	if os.Getenv("KUBEWORLD_LOGS") == "" {
		cmd.Stdout, cmd.Stderr = nil, nil
	} else {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		c.Stop()
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	c.procs = append(c.procs, cmd)
	return nil
}

func (c *Cluster) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	return errors.New("kube-apiserver was not ready within 90s (KUBEWORLD_LOGS=1 shows its log)")
}

// Stop ends kube-apiserver and etcd.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		if p := c.procs[i]; p.Process != nil {
			p.Process.Kill()
			p.Wait()
		}
	}
	c.procs = nil
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
