package releaseimage

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/oc-sts/oc-sts/pkg/limits"
)

// OverrideEnv is the installer's release image override.
const OverrideEnv = "OPENSHIFT_INSTALL_RELEASE_IMAGE_OVERRIDE"

// Found is a release image pull spec and where it was found.
type Found struct {
	PullSpec string
	Source   string
}

// Discover finds the release image the install will use when the user did
// not name one: the installer's override variable, then what
// `openshift-install version` prints, then the installer's state file
// (stateFile, which need not exist).
func Discover(ctx context.Context, stateFile string) (Found, error) {
	if v := strings.TrimSpace(os.Getenv(OverrideEnv)); v != "" {
		return Found{v, "$" + OverrideEnv}, nil
	}
	if bin, err := exec.LookPath("openshift-install"); err == nil {
		if spec, err := fromInstaller(ctx, bin); err == nil && spec != "" {
			return Found{spec, "`" + bin + " version`"}, nil
		}
	}
	state := stateFile
	data, err := limits.ReadFile(state, limits.InstallerState)
	if err == nil {
		var s map[string]struct {
			PullSpec string `json:"PullSpec"`
		}
		if json.Unmarshal(data, &s) == nil && s["*releaseimage.Image"].PullSpec != "" {
			return Found{s["*releaseimage.Image"].PullSpec, state}, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Found{}, err
	}
	return Found{}, fmt.Errorf("no release image given and none found ($%s, openshift-install on PATH, %s): pass --release-image PULLSPEC or --credentials-requests-dir DIR", OverrideEnv, state)
}

func fromInstaller(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if spec, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "release image "); ok {
			return strings.TrimSpace(spec), nil
		}
	}
	return "", nil
}
