package statedir

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// UserDefault is the state dir of a name without an install dir (--hive):
// per user, never the current directory, where a key planted by someone
// else (or left by another checkout) would be adopted.
// $XDG_STATE_HOME/oc-sts/<name>, else ~/.local/state/oc-sts/<name> on
// Linux, else the user's configuration directory (macOS: ~/Library/Application Support).
func UserDefault(name string) (string, error) {
	base := os.Getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(base) {
		base = ""
	}
	if base == "" && runtime.GOOS == "linux" {
		if home, err := os.UserHomeDir(); err == nil {
			base = filepath.Join(home, ".local", "state")
		}
	}
	if base == "" {
		var err error
		if base, err = os.UserConfigDir(); err != nil {
			return "", fmt.Errorf("no per-user directory for the state dir (%v): give --state-dir", err)
		}
	}
	return filepath.Join(base, "oc-sts", name), nil
}

// Dirs are the directories of a state dir that oc sts writes files into.
func Dirs(dir string) []string {
	aws := filepath.Join(dir, AWSDir)
	return []string{dir, aws, filepath.Join(aws, "objects"), filepath.Join(aws, "roles"), filepath.Join(dir, HiveDir)}
}
