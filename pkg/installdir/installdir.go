// Package installdir reads an openshift-install directory and computes the
// files oc sts adds to it.
package installdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/installconfig"
	"github.com/oc-sts/oc-sts/pkg/installer"
	"github.com/oc-sts/oc-sts/pkg/limits"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/stsmanifests"
)

// Paths the installer reads.
const (
	ManifestsDir  = installer.ManifestsDir
	SignerKeyFile = installer.SignerKeyFile
)

// Dir is an install directory before `openshift-install create cluster`.
type Dir struct {
	Path   string
	Config *installconfig.Config
	// Consumed is true when `create manifests` already ran: install-config.yaml
	// is gone and the config is read from the installer's state file.
	Consumed bool
	// State is the installer's state file, when there is one.
	State *installer.State
	mode  fs.FileMode
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
		state, err := installer.ReadStateIfAny(dir)
		if err != nil {
			return nil, err
		}
		return &Dir{Path: dir, Config: cfg, State: state, mode: ist.Mode().Perm()}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return openConsumed(dir)
}

func openConsumed(dir string) (*Dir, error) {
	state, err := installer.ReadState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s has no %s: run `openshift-install create install-config --dir %s` first", dir, installconfig.FileName, dir)
	}
	if err != nil {
		return nil, err
	}
	statePath := state.Path
	if state.IgnitionCreated() {
		return nil, fmt.Errorf("%s: the ignition configs were already created, from manifests without what oc sts adds: start again from install-config.yaml (`openshift-install create install-config`), then oc sts prepare", dir)
	}
	consumed, err := state.InstallConfig()
	if err != nil {
		return nil, err
	}
	if consumed == nil {
		return nil, fmt.Errorf("%s holds no install-config: run `openshift-install create install-config --dir %s` again", statePath, dir)
	}
	cfg, err := installconfig.Parse(statePath+" (install-config)", consumed)
	var fe *installconfig.FieldError
	if err != nil && !(errors.As(err, &fe) && fe.Field == "credentialsMode") {
		return nil, err
	}
	if err != nil || cfg.CredentialsMode != installconfig.ManualMode {
		return nil, fmt.Errorf("%s: manifests were created without credentialsMode: Manual, so they hold the root credentials; create install-config.yaml again, run oc sts prepare, then `openshift-install create manifests`", dir)
	}
	return &Dir{Path: dir, Config: cfg, Consumed: true, State: state}, nil
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

// Files are the files prepare writes into the install dir for p: the
// Consumables, then, when the install-config is not consumed yet,
// install-config.yaml with credentialsMode: Manual.
func (d *Dir) Files(p *plan.Plan, signer *oidckeys.Signer) []atomicfs.File {
	files := d.Consumables(p, signer)
	if !d.Consumed {
		// Last, so a crash before it leaves credentialsMode untouched.
		files = append(files, atomicfs.File{Path: filepath.Join(d.Path, installconfig.FileName), Data: d.ManualInstallConfig(), Mode: d.mode})
	}
	return files
}

// ManualInstallConfig is install-config.yaml with credentialsMode: Manual.
func (d *Dir) ManualInstallConfig() []byte { return d.Config.SetManual() }

// Consumables are what the installer reads from the dir for p: the
// credentials Secrets and the Authentication manifest in manifests/ (and the
// removal of stale Secrets), and the signer key in tls/.
func (d *Dir) Consumables(p *plan.Plan, signer *oidckeys.Signer) []atomicfs.File {
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
	return files
}

// Expected is what the installer must find in the dir for p: the
// Consumables as it names them.
func (d *Dir) Expected(p *plan.Plan, signer *oidckeys.Signer) installer.Expected {
	want := installer.Expected{Manifests: map[string][]byte{}}
	for _, f := range d.Consumables(p, signer) {
		switch rel, _ := filepath.Rel(d.Path, f.Path); {
		case f.Remove:
		case rel == SignerKeyFile:
			want.SignerKey = f.Data
		default:
			want.Manifests[filepath.Base(rel)] = f.Data
		}
	}
	return want
}
