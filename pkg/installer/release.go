package installer

import (
	"context"
	"os"
	"strings"
)

// Release is a release image pull spec and what decided it.
type Release struct {
	PullSpec string
	Source   string
}

// WillInstall is the release image the installer's next run on the dir of
// state installs: the one its state file recorded (the installer never
// regenerates it once recorded), else $OPENSHIFT_INSTALL_RELEASE_IMAGE_OVERRIDE,
// else the binary's own. state and bin may be nil; the zero Release means
// none can be told.
func WillInstall(ctx context.Context, state *State, bin *Binary) (Release, error) {
	if state != nil {
		if spec := state.ReleaseImage(); spec != "" {
			return Release{spec, state.Path}, nil
		}
	}
	if v := strings.TrimSpace(os.Getenv(ReleaseOverrideEnv)); v != "" {
		return Release{v, "$" + ReleaseOverrideEnv}, nil
	}
	if bin == nil {
		return Release{}, nil
	}
	v, err := bin.Version(ctx)
	if err != nil || v.ReleaseImage == "" {
		return Release{}, err
	}
	return Release{v.ReleaseImage, "`" + bin.Path + " version`"}, nil
}
