package cli

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/dirlock"
	"github.com/oc-sts/oc-sts/pkg/handoff"
	"github.com/oc-sts/oc-sts/pkg/installconfig"
	"github.com/oc-sts/oc-sts/pkg/installdir"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/provision"
	"github.com/oc-sts/oc-sts/pkg/releaseimage"
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
	release(ctx context.Context) (releaseimage.Found, error)
	// keyFiles are where a signer key may already be, before the state dir's.
	keyFiles() []string
	// dirs are the directories it writes files into.
	dirs() []string
	// files are what it writes beside the state dir, for p.
	files(p *plan.Plan, signer *oidckeys.Signer) ([]atomicfs.File, error)
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

func (t *installDirTarget) release(ctx context.Context) (releaseimage.Found, error) {
	return releaseimage.Discover(ctx, filepath.Join(t.dir.Path, installdir.StateFile))
}

func (t *installDirTarget) keyFiles() []string { return []string{t.dir.SignerKeyPath()} }

func (t *installDirTarget) dirs() []string {
	return []string{t.path, filepath.Join(t.path, installdir.ManifestsDir), filepath.Dir(filepath.Join(t.path, installdir.SignerKeyFile))}
}

func (t *installDirTarget) files(p *plan.Plan, signer *oidckeys.Signer) ([]atomicfs.File, error) {
	return t.dir.Files(p, signer), nil
}

func (t *installDirTarget) report(_ context.Context, o *PrepareOptions, p *plan.Plan, changes []provision.Change, signer *oidckeys.Signer, changed []string) error {
	if o.Output != "" {
		return printObject(o.Out, o.Output, prepareDocument{Plan: p, Changes: changes})
	}
	w := o.Out
	fmt.Fprintf(w, "Prepared %s for AWS STS (%d CredentialsRequests; %s; %d files changed).\n", o.Dir, len(p.Roles), keyNote(signer), len(changed))
	fmt.Fprintf(w, "  issuer:        %s\n  OIDC provider: %s\n", p.Issuer.URL, p.OIDCProvider.ARN)
	for _, r := range p.Roles {
		fmt.Fprintf(w, "  role:          %s  (%s/%s)\n", r.ARN, r.CredentialsRequest.SecretNamespace, r.CredentialsRequest.SecretName)
	}
	if !o.Offline {
		fmt.Fprintf(w, "\nAWS account %s matches the plan (%s).\nNext:\n  openshift-install create cluster --dir %s\n  oc sts verify --token-exchange   # once the cluster is up\n",
			p.AccountID, filepath.Join(o.StateDir, statedir.PlanFile), o.Dir)
		return nil
	}
	o.offlineNext(p)
	fmt.Fprintf(w, "  3. openshift-install create cluster --dir %s\n", handoff.Quote(o.Dir))
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
