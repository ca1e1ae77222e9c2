package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/handoff"
	"github.com/oc-sts/oc-sts/pkg/installer"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/releaseimage"
	"github.com/oc-sts/oc-sts/pkg/rotation"
	"github.com/oc-sts/oc-sts/pkg/statedir"
)

// installerFlags are how prepare makes sure openshift-install reads what it
// writes. The installer reads manifests/ only once `create manifests` wrote
// manifests/cluster-config.yaml; before that, files there are silently
// ignored. So a dir whose install-config.yaml is not consumed yet is
// finished by running `create manifests` (on a copy, then moved in with
// everything else in one atomic write): prepare leaves an install dir either
// as it was or ready for `openshift-install create cluster`.
type installerFlags struct {
	Installer   string
	NoInstaller bool
	Check       bool

	bin  *installer.Binary
	made []atomicfs.File // what `create manifests` changes in the dir
}

const (
	installConfigCopy = "install-config.yaml" // in the state dir: the install-config the installer consumed
	scratchDir        = "create-manifests"    // in the state dir, only while the installer runs
)

// Bind registers the installer flags.
func (f *installerFlags) Bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.Installer, "installer", "", "The openshift-install of the release to install, run for `create manifests` (default: $"+installer.BinaryEnv+", then openshift-install on PATH).")
	fl.BoolVar(&f.NoInstaller, "no-installer", false, "Do not run openshift-install: write install-config.yaml, manifests/ and tls/ only; `openshift-install create manifests` must then run before anything else.")
	fl.BoolVar(&f.Check, "check", false, "Check a dir prepared earlier as the installer will read it (plan and key from the state dir); changes nothing, no AWS call.")
	cmd.MarkFlagFilename("installer")
}

// runsInstaller says whether this run finishes the dir with `create manifests`.
func (o *PrepareOptions) runsInstaller() bool {
	return o.installDir() != nil && !o.Check && !o.NoInstaller && !o.installDir().Consumed
}

func (o *PrepareOptions) findInstaller() error {
	if o.installDir() == nil {
		return nil
	}
	var err error
	o.bin, err = installer.Find(o.Installer)
	return err
}

func (o *PrepareOptions) validateInstaller() error {
	switch {
	case o.Check && (o.Hive || o.Offline || o.DryRun || o.Prune || o.ReleaseImage != "" || o.CredentialsRequestsDir != "" || o.Output != ""):
		return errors.New("--check only reads the install dir and the state dir: give it --dir (and --state-dir) alone")
	case o.NoInstaller && o.Installer != "":
		return errors.New("give either --installer or --no-installer, not both")
	case o.runsInstaller() && o.bin == nil && !o.DryRun && !o.privateStage1():
		return fmt.Errorf(`%s is not consumed yet and no openshift-install was found (--installer, $%s, PATH): nothing was changed.
The installer reads manifests/ only once `+"`openshift-install create manifests`"+` has run, so prepare runs it. Either:
  %s --installer /path/to/openshift-install
or write the files and run the installer yourself, before anything else:
  %s --no-installer
  openshift-install create manifests --dir %s
  oc sts prepare --check --dir %s`,
			filepath.Join(o.Dir, "install-config.yaml"), installer.BinaryEnv, commandLine(), commandLine(), handoff.Quote(o.Dir), handoff.Quote(o.Dir))
	}
	return nil
}

// installSteps are the commands that install the prepared dir.
func (o *PrepareOptions) installSteps() []string {
	dir := handoff.Quote(o.Dir)
	if o.NoInstaller && !o.installDir().Consumed {
		return []string{"openshift-install create manifests --dir " + dir, "oc sts prepare --check --dir " + dir, "openshift-install create cluster --dir " + dir}
	}
	return []string{"openshift-install create cluster --dir " + dir}
}

// commandLine is this very command, for "run it again with ..." advice.
func commandLine() string {
	args := []string{"oc", "sts"}
	for _, a := range os.Args[1:] {
		args = append(args, handoff.Quote(a))
	}
	return strings.Join(args, " ")
}

// discoverRelease is the release image the install will use when none is
// given: the one the installer's next run on the dir installs.
func (o *PrepareOptions) discoverRelease(ctx context.Context) (installer.Release, error) {
	r, err := installer.WillInstall(ctx, o.installDir().State, o.bin)
	if err == nil && r.PullSpec == "" {
		err = fmt.Errorf("no release image given and none found (the installer state file, $%s, `openshift-install version` of --installer, $%s or PATH): pass --release-image PULLSPEC or --credentials-requests-dir DIR",
			installer.ReleaseOverrideEnv, installer.BinaryEnv)
	}
	return r, err
}

// checkRelease makes sure the CredentialsRequests are those of the release
// the installer will install: roles made for another release's requests
// leave operators without the permissions they need. spec is the release
// image they were read from (rel), "" for --credentials-requests-dir.
func (o *PrepareOptions) checkRelease(ctx context.Context, spec string, rel *releaseimage.Release, fetch func(string) (*releaseimage.Release, error)) error {
	if o.installDir() == nil {
		return nil // a Hive hub installs the ClusterDeployment's release
	}
	want, err := installer.WillInstall(ctx, o.installDir().State, o.bin)
	switch {
	case err != nil || want.PullSpec == "" || want.PullSpec == spec:
		return err
	case rel == nil:
		fmt.Fprintf(o.ErrOut, "note: the installer will install %s (from %s): the CredentialsRequests in %s must be that release's\n", want.PullSpec, want.Source, o.CredentialsRequestsDir)
		return nil
	}
	other, err := fetch(want.PullSpec)
	if err == nil && other.Digest == rel.Digest {
		return nil
	}
	what := "which could not be read: " + fmt.Sprint(err)
	if err == nil {
		what = fmt.Sprintf("release %s (%s)", other.Version, other.Digest)
	}
	fix := "give --release-image " + want.PullSpec
	if o.installDir().State == nil || want.Source != o.installDir().State.Path {
		fix += fmt.Sprintf(", or --installer with the installer of %s (or set %s=%s)", spec, installer.ReleaseOverrideEnv, spec)
	}
	return fmt.Errorf("the CredentialsRequests come from release %s (%s, %s) but the installer will install %s (from %s), %s: %s; nothing was changed",
		rel.Version, spec, rel.Digest, want.PullSpec, want.Source, what, fix)
}

// createManifests runs `openshift-install create manifests` on a copy of
// the install dir, with credentialsMode: Manual, and keeps what it would
// change for writeInstallDir.
func (o *PrepareOptions) createManifests(ctx context.Context) error {
	if !o.runsInstaller() || o.DryRun || o.privateStage1() {
		return nil // stage 1 of a private issuer writes no install dir
	}
	fmt.Fprintf(o.ErrOut, "Running %s create manifests (found by %s) on a copy of %s...\n", o.bin.Path, o.bin.Source, o.Dir)
	made, err := o.bin.CreateManifests(ctx, o.Dir, filepath.Join(o.StateDir, scratchDir), o.StateDir, o.installDir().ManualInstallConfig(), indent(o.ErrOut))
	switch {
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("interrupted: nothing was changed, in AWS or in %s; run %s again", o.Dir, commandLine())
	case err != nil:
		return fmt.Errorf("%w\nnothing was changed, in AWS or in %s: fix the install-config and run %s again", err, o.Dir, commandLine())
	}
	o.made = made
	return nil
}

// finalFiles are what the final atomic write puts in place: the state dir's
// files, then the install dir's; when the installer ran, with what it made
// (ours win where it wrote the same name) and install-config.yaml consumed
// last, so that until then the dir is the user's.
func (o *PrepareOptions) finalFiles(stateFiles []atomicfs.File, p *plan.Plan, signer *oidckeys.Signer) []atomicfs.File {
	d := o.installDir()
	if !o.runsInstaller() {
		return append(stateFiles, d.Files(p, signer)...)
	}
	ours := d.Consumables(p, signer)
	mine := map[string]bool{}
	for _, f := range ours {
		mine[f.Path] = true
	}
	files := append(stateFiles, atomicfs.File{Path: filepath.Join(o.StateDir, installConfigCopy), Data: d.ManualInstallConfig(), Mode: 0o600})
	files = append(files, ours...)
	var consumed []atomicfs.File
	for _, f := range o.made {
		switch {
		case mine[f.Path]:
		case f.Remove:
			consumed = append(consumed, f)
		default:
			files = append(files, f)
		}
	}
	return append(files, consumed...)
}

// installDirTree is every directory of the install dir but the state dir:
// where a killed write may have left staged files (the installer's output
// goes to more directories than oc sts's own files).
func (o *PrepareOptions) installDirTree() []string {
	var dirs []string
	state, _ := filepath.Abs(o.StateDir)
	filepath.WalkDir(o.Dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return nil
		}
		if abs, _ := filepath.Abs(path); abs == state {
			return filepath.SkipDir
		}
		dirs = append(dirs, path)
		return nil
	})
	return dirs
}

// verifyInstallDir is prepare's last word: the dir as the installer will read it.
func (o *PrepareOptions) verifyInstallDir(p *plan.Plan, signer *oidckeys.Signer) (string, error) {
	d := o.installDir()
	if err := installer.Check(o.Dir, d.Expected(p, signer)); err != nil {
		return "", err
	}
	kid, err := oidckeys.KeyID(&signer.Key.PublicKey)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Checked as openshift-install will read %s: manifests/ is loaded and holds the %d credentials Secrets and the Authentication manifest (issuer %s); tls/ holds the signer key %s.",
		o.Dir, len(p.Roles), p.Issuer.URL, kid), nil
}

// runCheck is prepare --check: the plan and key a previous prepare kept,
// against the install dir as the installer will read it.
func (o *PrepareOptions) runCheck() error {
	p, err := statedir.ReadPlan(o.StateDir)
	if err != nil {
		return err
	}
	keyPath := statedir.SignerKeyPath(o.StateDir)
	pem, err := os.ReadFile(keyPath)
	if err != nil {
		return fmt.Errorf("the signer key of a previous oc sts prepare: %w", err)
	}
	key, err := oidckeys.ParsePrivateKey(pem)
	if err != nil {
		return fmt.Errorf("%s: %v", keyPath, err)
	}
	signer := &oidckeys.Signer{Key: key, PrivatePEM: pem, Source: keyPath}
	jwks, err := rotation.PublishedJWKS(o.StateDir, signer) // during a key rotation, its key set
	if err != nil {
		return err
	}
	if !publishes(p, jwks) {
		return fmt.Errorf("%s is not the key whose JWKS %s publishes: the cluster's tokens would not verify; run oc sts prepare again", keyPath, filepath.Join(o.StateDir, statedir.PlanFile))
	}
	line, err := o.verifyInstallDir(p, signer)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Out, line)
	return nil
}

func publishes(p *plan.Plan, jwks []byte) bool {
	for _, obj := range p.Bucket.Objects {
		if obj.Key == oidckeys.JWKSPath {
			var a, b bytes.Buffer
			return json.Compact(&a, obj.Body) == nil && json.Compact(&b, jwks) == nil && a.String() == b.String()
		}
	}
	return false
}

// indent prefixes the installer's log lines, to tell them from prepare's.
func indent(w io.Writer) io.Writer { return &prefixWriter{w: w, prefix: "  | ", bol: true} }

type prefixWriter struct {
	w      io.Writer
	prefix string
	bol    bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	var out []byte
	for _, c := range b {
		if p.bol {
			out = append(out, p.prefix...)
		}
		out = append(out, c)
		p.bol = c == '\n'
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
