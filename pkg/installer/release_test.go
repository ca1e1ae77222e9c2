package installer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The shape of what a release's openshift-install prints (a made-up
// digest); the real binary's output is parsed in test/e2e, where prepare
// finds the release through it.
const releaseVersionOutput = `./openshift-install 4.16.3
built from commit 0b2e0a6ac26ee8c4e01ab4b4fa4b67a0f1c8c5b2
release image quay.io/openshift-release-dev/ocp-release@sha256:3e3f8ee1dea8c8bd0b4f6bf4e1dba0b3d38bc4bb31b1a3e9e9bbd6f1d93a2e9a
release architecture amd64
`

func TestParseVersion(t *testing.T) {
	v := parseVersion([]byte(releaseVersionOutput))
	if v.Version != "4.16.3" || v.Architecture != "amd64" || !strings.HasPrefix(v.ReleaseImage, "quay.io/openshift-release-dev/ocp-release@sha256:3e3f") {
		t.Errorf("%+v", v)
	}
}

// The state file's release wins: the installer never regenerates it once
// recorded; then the override; then the binary's own.
func TestWillInstall(t *testing.T) {
	ctx := context.Background()
	bin := writeScript(t, "#!/bin/sh\ncat <<'EOF'\n"+releaseVersionOutput+"EOF\n")
	t.Setenv(ReleaseOverrideEnv, "")
	if r, err := WillInstall(ctx, nil, nil); err != nil || r.PullSpec != "" {
		t.Errorf("nothing to tell: %+v %v", r, err)
	}
	if r, _ := WillInstall(ctx, nil, bin); !strings.HasPrefix(r.PullSpec, "quay.io/openshift-release-dev/ocp-release@") || !strings.Contains(r.Source, "version") {
		t.Errorf("the binary's own: %+v", r)
	}
	t.Setenv(ReleaseOverrideEnv, "registry.example.com/ocp/release:4.16.4")
	if r, _ := WillInstall(ctx, nil, bin); r.PullSpec != "registry.example.com/ocp/release:4.16.4" || r.Source != "$"+ReleaseOverrideEnv {
		t.Errorf("override: %+v", r)
	}
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, StateFile), []byte(`{"*releaseimage.Image":{"PullSpec":"example.com/r@sha256:1","Repository":"example.com/r"},"*rhcos.Image":"ami-0123"}`), 0o600)
	s, err := ReadState(d)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := WillInstall(ctx, s, bin); r.PullSpec != "example.com/r@sha256:1" || r.Source != s.Path {
		t.Errorf("state file: %+v", r)
	}
}

func TestFind(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(BinaryEnv, "")
	if b, err := Find(""); b != nil || err != nil {
		t.Errorf("none: %v %v", b, err)
	}
	if _, err := Find("/nonexistent/openshift-install"); err == nil || !strings.Contains(err.Error(), "--installer") {
		t.Errorf("missing --installer: %v", err)
	}
	bin := writeScript(t, "#!/bin/sh\n")
	t.Setenv(BinaryEnv, bin.Path)
	if b, err := Find(""); err != nil || b.Path != bin.Path || b.Source != "$"+BinaryEnv {
		t.Errorf("$%s: %+v %v", BinaryEnv, b, err)
	}
}
