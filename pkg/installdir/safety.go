package installdir

import (
	"errors"
	"fmt"
	"os"

	"github.com/oc-sts/oc-sts/pkg/limits"
)

// readInstallConfig reads install-config.yaml, bounded, and refuses a
// symbolic link: prepare replaces the file atomically, which would turn
// the link into a plain copy holding the pull secret, and the installer
// deletes what it consumes. A link is refused rather than written through.
func readInstallConfig(path string) ([]byte, error) {
	data, err := limits.ReadFileNoFollow(path, limits.InstallConfig)
	if errors.Is(err, limits.ErrSymlink) {
		target, _ := os.Readlink(path)
		return nil, fmt.Errorf("%s is a symbolic link to %s: oc sts replaces install-config.yaml atomically and does not write through links; put the file itself in the install dir (cp --remove-destination %s %s)", path, target, target, path)
	}
	if errors.Is(err, limits.ErrNotRegular) {
		return nil, fmt.Errorf("%w: install-config.yaml must be a regular file", err)
	}
	return data, err
}
