// Package installdir reads an openshift-install directory and computes the
// files oc sts adds to it.
package installdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/installconfig"
	"github.com/oc-sts/oc-sts/pkg/limits"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/stsmanifests"
)

// Paths the installer reads.
const (
	StateFile     = ".openshift_install_state.json"
	ManifestsDir  = "manifests"
	SignerKeyFile = "tls/bound-service-account-signing-key.key"
)

// Dir is an install directory before `openshift-install create cluster`.
type Dir struct {
	Path   string
	Config *installconfig.Config
	// Consumed is true when `create manifests` already ran: install-config.yaml
	// is gone and the config is read from the installer's state file.
	Consumed bool
	mode     fs.FileMode
}

// Open reads dir's install-config.yaml, or the installer state left by
// `openshift-install create manifests`.
func Open(dir string) (*Dir, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("install dir: %w: give --dir the directory of `openshift-install create install-config`", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("install dir %s is not a directory", dir)
	}
	icPath := filepath.Join(dir, installconfig.FileName)
	data, err := readInstallConfig(icPath)
	if err == nil {
		cfg, err := installconfig.Parse(icPath, data)
		if err != nil {
			return nil, err
		}
		ist, _ := os.Stat(icPath)
		return &Dir{Path: dir, Config: cfg, mode: ist.Mode().Perm()}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return openConsumed(dir)
}

func openConsumed(dir string) (*Dir, error) {
	statePath := filepath.Join(dir, StateFile)
	raw, err := limits.ReadFile(statePath, limits.InstallerState)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s has no %s: run `openshift-install create install-config --dir %s` first", dir, installconfig.FileName, dir)
	}
	if err != nil {
		return nil, err
	}
	var state map[string]struct {
		Config json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(raw, &state); err != nil {
		return nil, fmt.Errorf("%s: %v", statePath, err)
	}
	asset, ok := state["*installconfig.InstallConfig"]
	if !ok || len(asset.Config) == 0 {
		return nil, fmt.Errorf("%s holds no install-config: run `openshift-install create install-config --dir %s` again", statePath, dir)
	}
	cfg, err := installconfig.Parse(statePath+" (install-config)", asset.Config)
	var fe *installconfig.FieldError
	if err != nil && !(errors.As(err, &fe) && fe.Field == "credentialsMode") {
		return nil, err
	}
	if err != nil || cfg.CredentialsMode != installconfig.ManualMode {
		return nil, fmt.Errorf("%s: manifests were created without credentialsMode: Manual, so they hold the root credentials; create install-config.yaml again, run oc sts prepare, then `openshift-install create manifests`", dir)
	}
	return &Dir{Path: dir, Config: cfg, Consumed: true}, nil
}

// staleSecrets are the credentials Secrets an earlier prepare wrote for
// CredentialsRequests the plan no longer has (another feature set, say):
// left behind, they would name roles that do not exist.
func (d *Dir) staleSecrets(p *plan.Plan, keep []atomicfs.File) []atomicfs.File {
	if len(p.Roles) == 0 {
		return nil
	}
	kept := map[string]bool{}
	for _, f := range keep {
		kept[f.Path] = true
	}
	prefix := awsid.RoleARNPrefix(p.Partition.ID, p.AccountID, p.Roles[0].Path) + p.Name + "-"
	paths, _ := filepath.Glob(filepath.Join(d.Path, ManifestsDir, "*-credentials.yaml"))
	var stale []atomicfs.File
	for _, path := range paths {
		if data, err := limits.ReadFileNoFollow(path, limits.StateFile); err == nil && !kept[path] && stsmanifests.IsCredentialsSecretFor(data, prefix) {
			stale = append(stale, atomicfs.File{Path: path, Remove: true})
		}
	}
	return stale
}

// SignerKeyPath is where the installer reads the service-account signer key.
func (d *Dir) SignerKeyPath() string { return filepath.Join(d.Path, SignerKeyFile) }

// Files are the files prepare writes into the install dir for p.
func (d *Dir) Files(p *plan.Plan, signer *oidckeys.Signer) []atomicfs.File {
	var files []atomicfs.File
	add := func(rel string, data []byte, mode fs.FileMode) {
		files = append(files, atomicfs.File{Path: filepath.Join(d.Path, rel), Data: data, Mode: mode})
	}
	for _, r := range p.Roles {
		add(filepath.Join(ManifestsDir, stsmanifests.SecretFile(r)), stsmanifests.Secret(r), 0o600)
	}
	add(filepath.Join(ManifestsDir, stsmanifests.AuthenticationFile), stsmanifests.Authentication(p.Issuer.URL), 0o644)
	files = append(files, d.staleSecrets(p, files)...)
	add(SignerKeyFile, signer.PrivatePEM, 0o600)
	if !d.Consumed {
		// Last, so a crash before it leaves credentialsMode untouched.
		add(installconfig.FileName, d.Config.SetManual(), d.mode)
	}
	return files
}
