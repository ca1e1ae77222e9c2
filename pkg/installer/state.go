package installer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/oc-sts/oc-sts/pkg/limits"
)

// StateFile is where the installer keeps every asset it generated.
const StateFile = ".openshift_install_state.json"

// Asset names in the state file: the Go type of each asset, as the
// installer's store writes them.
const (
	installConfigAsset = "*installconfig.InstallConfig"
	releaseImageAsset  = "*releaseimage.Image"
	bootstrapAsset     = "*bootstrap.Bootstrap"
)

// State is an installer state file: one entry per asset, each of whatever
// JSON type the asset marshals to (objects, strings, lists...).
type State struct {
	Path   string
	assets map[string]json.RawMessage
}

// ReadState reads dir's state file; a missing file is fs.ErrNotExist.
func ReadState(dir string) (*State, error) {
	path := filepath.Join(dir, StateFile)
	raw, err := limits.ReadFile(path, limits.InstallerState)
	if err != nil {
		return nil, err
	}
	s := &State{Path: path}
	if err := json.Unmarshal(raw, &s.assets); err != nil {
		return nil, fmt.Errorf("%s: %v: not an openshift-install state file (run `openshift-install create manifests` again)", path, err)
	}
	return s, nil
}

// ReadStateIfAny is ReadState with a missing file as nil.
func ReadStateIfAny(dir string) (*State, error) {
	s, err := ReadState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return s, err
}

// Has reports whether the state holds the asset (its Go type name).
func (s *State) Has(asset string) bool {
	_, ok := s.assets[asset]
	return ok
}

// IgnitionCreated reports whether `create ignition-configs` (or `create
// cluster`) already ran: the manifests are consumed into bootstrap.ign.
func (s *State) IgnitionCreated() bool { return s.Has(bootstrapAsset) }

// InstallConfig is the install-config the installer consumed, as the
// installer's own JSON (credentialsMode and every default it applied), or
// nil when the state has none.
func (s *State) InstallConfig() ([]byte, error) {
	raw, ok := s.assets[installConfigAsset]
	if !ok {
		return nil, nil
	}
	var a struct {
		Config json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("%s: %s: %v", s.Path, installConfigAsset, err)
	}
	if len(a.Config) == 0 || string(a.Config) == "null" {
		return nil, nil
	}
	return a.Config, nil
}

// ReleaseImage is the release image pull spec the installer recorded; it
// installs this one, whatever the environment says, once it is recorded.
func (s *State) ReleaseImage() string {
	var a struct {
		PullSpec string `json:"PullSpec"`
	}
	if json.Unmarshal(s.assets[releaseImageAsset], &a) != nil {
		return ""
	}
	return a.PullSpec
}
