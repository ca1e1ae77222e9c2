// Package installer is oc sts's model of openshift-install: finding and
// running the binary, reading the state file it keeps in an install dir, and
// deciding, by the installer's own loading rules, what its next run will
// read from that dir.
package installer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Names the installer and its users agree on.
const (
	// BinaryEnv names the openshift-install binary when --installer is not given.
	BinaryEnv = "OPENSHIFT_INSTALL"
	// ReleaseOverrideEnv makes the installer install another release than its own.
	ReleaseOverrideEnv = "OPENSHIFT_INSTALL_RELEASE_IMAGE_OVERRIDE"
	binaryName         = "openshift-install"
)

// Binary is an openshift-install executable and where it was found.
type Binary struct {
	Path   string
	Source string // --installer, $OPENSHIFT_INSTALL or PATH

	version *Version
}

// Find returns the installer named by flag, else by $OPENSHIFT_INSTALL, else
// openshift-install on PATH; nil when there is none. A binary named
// explicitly must exist.
func Find(flag string) (*Binary, error) {
	for _, c := range []struct{ path, source string }{{flag, "--installer"}, {os.Getenv(BinaryEnv), "$" + BinaryEnv}} {
		if c.path == "" {
			continue
		}
		path, err := exec.LookPath(c.path)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w: give the openshift-install of the release to install", c.source, c.path, errors.Unwrap(err))
		}
		return &Binary{Path: path, Source: c.source}, nil
	}
	path, err := exec.LookPath(binaryName)
	if err != nil {
		return nil, nil
	}
	return &Binary{Path: path, Source: "PATH"}, nil
}

// Version is what `openshift-install version` prints.
type Version struct {
	Version      string // v4.19.0, or the source tag of a development build
	ReleaseImage string // the release it installs unless overridden
	Architecture string
}

// Version runs `openshift-install version` once and parses it.
func (b *Binary) Version(ctx context.Context) (*Version, error) {
	if b.version != nil {
		return b.version, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, b.Path, "version")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s version: %v %s", b.Path, err, strings.TrimSpace(stderr.String()))
	}
	v := parseVersion(out)
	if v.Version == "" {
		return nil, fmt.Errorf("%s version printed no version: is it openshift-install?", b.Path)
	}
	b.version = v
	return v, nil
}

func parseVersion(out []byte) *Version {
	v := &Version{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for first := true; sc.Scan(); first = false {
		line := strings.TrimSpace(sc.Text())
		if first {
			// "<argv0> <version>": argv0 may hold spaces, the version does not.
			if i := strings.LastIndexByte(line, ' '); i > 0 {
				v.Version = line[i+1:]
			}
			continue
		}
		if s, ok := strings.CutPrefix(line, "release image "); ok {
			v.ReleaseImage = strings.TrimSpace(s)
		}
		if s, ok := strings.CutPrefix(line, "release architecture "); ok {
			v.Architecture = strings.TrimSpace(s)
		}
	}
	return v
}
