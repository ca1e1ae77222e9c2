// Package awsworld is the AWS test world: moto_server (the standard AWS
// emulator, from the machine image's Python) behind a gate that logs every
// call and injects faults. Products reach it through AWS_ENDPOINT_URL.
package awsworld

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"
)

// Moto is a running moto_server on 127.0.0.1.
type Moto struct {
	URL string
	cmd *exec.Cmd
}

// FindMoto locates moto_server.
func FindMoto() (string, error) {
	return FindPythonTool("moto_server", "moto 5 (pip package moto[server])")
}

// FindPythonTool locates a program of the machine image's Python (moto_server,
// aws, cfn-lint): pyenv's installed versions first (a pyenv shim on PATH may
// point at a version without it, and costs a shell start per call), then PATH.
func FindPythonTool(name, what string) (string, error) {
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".pyenv")
	}
	found, _ := filepath.Glob(filepath.Join(root, "versions", "*", "bin", name))
	sort.Sort(sort.Reverse(sort.StringSlice(found)))
	if len(found) > 0 {
		return found[0], nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found (PATH, $PYENV_ROOT/versions/*/bin): the tests need %s from the machine image's Python", name, what)
}

// StartMoto runs moto_server on a free loopback port and waits until it answers.
func StartMoto(ctx context.Context) (*Moto, error) {
	bin, err := FindMoto()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	m := &Moto{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if err := m.Reset(ctx); err == nil {
			return m, nil
		}
		select {
		case <-ctx.Done():
			m.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	m.Stop()
	return nil, fmt.Errorf("%s did not answer on %s within 60s", bin, m.URL)
}

// Reset drops every resource moto holds.
func (m *Moto) Reset(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, m.URL+"/moto-api/reset", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("moto reset: %s", resp.Status)
	}
	return nil
}

// Stop ends the server.
func (m *Moto) Stop() {
	if m.cmd.Process != nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
