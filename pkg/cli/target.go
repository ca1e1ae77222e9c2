package cli

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/dirlock"
	"github.com/oc-sts/oc-sts/pkg/installconfig"
	"github.com/oc-sts/oc-sts/pkg/installdir"
	"github.com/oc-sts/oc-sts/pkg/installer"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
	"github.com/oc-sts/oc-sts/pkg/statedir"
)

// A target is where prepare puts what the installer needs: an install dir
// (installDirTarget) or a Hive hub's objects (hiveTarget). The rest of
// prepare — the requests, the plan, AWS, the state dir — is the same for both.
type target interface {
	// complete takes the target's directories and fills prepare's defaults.
	complete(o *PrepareOptions) error
	validate(o *PrepareOptions) error
	// installConfig is what inclusion and the release image's pull read.
	installConfig() *installconfig.Config
	// release finds the release image when no --release-image is given.
	release(ctx context.Context, o *PrepareOptions) (installer.Release, error)
	// signerKeyFile is where a signer key may already be, before the state
	// dir's ("" for none).
	signerKeyFile() string
	// dirs are the directories it writes files into (where a killed write
	// may have left staged files).
	dirs(o *PrepareOptions) []string
	// files are what it writes beside the state dir, for p.
	files(o *PrepareOptions, p *plan.Plan, signer *oidckeys.Signer) ([]atomicfs.File, error)
	// report applies what it must once the files are written, then prints
	// the result (-o) or the summary and the next step.
	report(ctx context.Context, o *PrepareOptions, p *plan.Plan, changes []provision.Change, signer *oidckeys.Signer, changed []string) error
	// rerunArgs are the flags a printed re-run of prepare names the target
	// with, and the state dir it defaults to.
	rerunArgs(o *PrepareOptions) (args []string, defaultStateDir string)
}

// installDirTarget is an openshift-install directory.
type installDirTarget struct {
	path string // known (and locked) before dir is read: recovery needs dirs()
	dir  *installdir.Dir
}

// complete locks the install dir (and the state dir in it, by default),
// reads it, and takes the name and region from its install-config.
func (t *installDirTarget) complete(o *PrepareOptions) error {
	if real, err := filepath.EvalSymlinks(o.Dir); err == nil && real != filepath.Clean(o.Dir) {
		if st, err := os.Lstat(o.Dir); err == nil && st.Mode()&fs.ModeSymlink != 0 {
			o.Dir = real // the install dir may be a link; what oc sts writes in it may not
		}
	}
	if err := o.locks.lock(o.Dir, dirlock.Options{What: "install dir"}); err != nil {
		return fmt.Errorf("%w (give --dir the directory of `openshift-install create install-config`)", err)
	}
	t.path = o.Dir
	if o.StateDir == "" {
		o.StateDir = statedir.Default(o.Dir)
	}
	if err := o.lockStateDir(); err != nil {
		return err
	}
	d, err := installdir.Open(o.Dir)
	if err != nil {
		return err
	}
	t.dir = d
	if o.Name == "" {
		o.Name = d.Config.ClusterName
	}
	if o.Region == "" {
		o.Region = d.Config.Region
	}
	return nil
}

func (t *installDirTarget) validate(o *PrepareOptions) error {
	if o.Region != t.dir.Config.Region {
		return fmt.Errorf("--region %s differs from platform.aws.region %s in %s: the issuer must be in the cluster's region", o.Region, t.dir.Config.Region, t.dir.Config.File)
	}
	return nil
}

func (t *installDirTarget) installConfig() *installconfig.Config { return t.dir.Config }

func (t *installDirTarget) release(ctx context.Context, o *PrepareOptions) (installer.Release, error) {
	return o.discoverRelease(ctx)
}

func (t *installDirTarget) signerKeyFile() string { return t.dir.SignerKeyPath() }

// dirs: the installer's output goes to more directories than oc sts's own files.
func (t *installDirTarget) dirs(o *PrepareOptions) []string {
	dirs := []string{filepath.Join(t.path, installdir.ManifestsDir), filepath.Dir(filepath.Join(t.path, installdir.SignerKeyFile))}
	return append(dirs, o.installDirTree()...)
}

// files are the install dir's, with what `create manifests` made when it ran.
func (t *installDirTarget) files(o *PrepareOptions, p *plan.Plan, signer *oidckeys.Signer) ([]atomicfs.File, error) {
	return o.finalFiles(nil, p, signer), nil
}

func (t *installDirTarget) report(_ context.Context, o *PrepareOptions, p *plan.Plan, changes []provision.Change, signer *oidckeys.Signer, changed []string) error {
	checked := ""
	if !o.NoInstaller || t.dir.Consumed {
		var err error
		if checked, err = o.verifyInstallDir(p, signer); err != nil {
			return err
		}
	}
	if o.Output != "" {
		fmt.Fprintln(o.ErrOut, checked)
		return printObject(o.Out, o.Output, prepareDocument{Plan: p, Changes: changes})
	}
	w := o.Out
	fmt.Fprintf(w, "Prepared %s for AWS STS (%d CredentialsRequests; %s; %d files changed).\n", o.Dir, len(p.Roles), keyNote(signer), len(changed))
	fmt.Fprintf(w, "  issuer:        %s\n  OIDC provider: %s\n", p.Issuer.URL, p.OIDCProvider.ARN)
	for _, r := range p.Roles {
		fmt.Fprintf(w, "  role:          %s  (%s/%s)\n", r.ARN, r.CredentialsRequest.SecretNamespace, r.CredentialsRequest.SecretName)
	}
	if checked != "" {
		fmt.Fprintln(w, checked)
	} else {
		fmt.Fprintf(w, "\nThe installer reads manifests/ only after `create manifests`: running `create cluster` first would drop every credential.\n")
	}
	if !o.Offline {
		fmt.Fprintf(w, "\nAWS account %s matches the plan (%s).\nNext:\n", p.AccountID, filepath.Join(o.StateDir, statedir.PlanFile))
		for _, step := range o.installSteps() {
			fmt.Fprintf(w, "  %s\n", step)
		}
		fmt.Fprintf(w, "  oc sts verify --token-exchange   # once the cluster is up\n")
		return nil
	}
	o.offlineNext(p)
	for i, step := range o.installSteps() {
		fmt.Fprintf(w, "  %d. %s\n", i+3, step)
	}
	return nil
}

// rerunArgs are the flags that name this install dir again, and the state
// dir a re-run defaults to.
func (t *installDirTarget) rerunArgs(o *PrepareOptions) ([]string, string) {
	args := []string{"--dir", o.Dir}
	if o.Name != t.dir.Config.ClusterName {
		args = append(args, "--name", o.Name)
	}
	return args, statedir.Default(o.Dir)
}
