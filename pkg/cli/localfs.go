package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/dirlock"
	"github.com/oc-sts/oc-sts/pkg/installdir"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/statedir"
)

// localDirs are the directories a command holds: one writer at a time.
type localDirs struct{ locks []*dirlock.Lock }

func (l *localDirs) lock(dir string, o dirlock.Options) error {
	lk, err := dirlock.Acquire(dir, o)
	if err != nil {
		return err
	}
	l.locks = append(l.locks, lk)
	return nil
}

// Close releases the locks, the last taken first.
func (l *localDirs) Close() {
	for i := len(l.locks) - 1; i >= 0; i-- {
		l.locks[i].Release()
	}
	l.locks = nil
}

// lockDirs takes the install dir (unless --hive) and the state dir before
// anything is read from them, then finishes a write a killed run left
// half done and removes its stale staged files, so the run starts from a
// whole install dir.
func (o *PrepareOptions) lockDirs() error {
	if !o.Hive {
		if real, err := filepath.EvalSymlinks(o.Dir); err == nil && real != filepath.Clean(o.Dir) {
			if st, err := os.Lstat(o.Dir); err == nil && st.Mode()&fs.ModeSymlink != 0 {
				o.Dir = real // the install dir may be a link; what oc sts writes in it may not
			}
		}
		if err := o.locks.lock(o.Dir, dirlock.Options{What: "install dir"}); err != nil {
			return fmt.Errorf("%w (give --dir the directory of `openshift-install create install-config`)", err)
		}
		if o.StateDir == "" {
			o.StateDir = statedir.Default(o.Dir)
		}
	}
	if err := o.locks.lock(o.StateDir, dirlock.Options{What: "state dir", Create: true, NoFollow: true}); err != nil {
		return err
	}
	if o.DryRun {
		if atomicfs.Pending(o.StateDir) {
			fmt.Fprintf(o.ErrOut, "warning: a killed run left a write unfinished in %s; run without --dry-run to finish it\n", o.Dir)
		}
		return nil
	}
	return recoverWrites(o.ErrOut, o.StateDir, o.localDirs()...)
}

// localDirs are every directory prepare writes files into.
func (o *PrepareOptions) localDirs() []string {
	dirs := statedir.Dirs(o.StateDir)
	if !o.Hive {
		dirs = append(dirs, filepath.Join(o.Dir, installdir.ManifestsDir), filepath.Dir(filepath.Join(o.Dir, installdir.SignerKeyFile)))
		dirs = append(dirs, o.installDirTree()...)
	}
	return dirs
}

// recoverWrites finishes the interrupted commit journaled in stateDir and
// cleans the staged files left in dirs.
func recoverWrites(errOut io.Writer, stateDir string, dirs ...string) error {
	done, err := atomicfs.Recover(stateDir)
	if err != nil {
		return err
	}
	if len(done) > 0 {
		fmt.Fprintf(errOut, "Finished the write a killed run left half done (%d files: %s)\n", len(done), strings.Join(done, ", "))
	}
	return atomicfs.Clean(dirs...)
}

// checkLocal finds every local problem that would stop the final write
// (a file in the way, a link, a directory that is not writable) before the
// first AWS call that changes anything.
func (o *PrepareOptions) checkLocal(p *plan.Plan, signer *oidckeys.Signer) error {
	files, err := statedir.Files(o.StateDir, p, signer)
	if err != nil {
		return err
	}
	if o.installDir != nil {
		files = o.finalFiles(files, p, signer)
	}
	if err := atomicfs.Check(files); err != nil {
		return fmt.Errorf("%w (nothing was changed)", err)
	}
	return nil
}

// keyNote says which signer key is used and where it came from.
func keyNote(s *oidckeys.Signer) string {
	if s.Source == "" {
		return fmt.Sprintf("generated a new RSA %d signer key", s.Key.N.BitLen())
	}
	return fmt.Sprintf("reused the RSA %d signer key %s", s.Key.N.BitLen(), s.Source)
}

// writeError: a failed write changed nothing (atomicfs rolled it back).
func writeError(err error) error {
	if errors.Is(err, atomicfs.ErrInterrupted) {
		return err
	}
	return fmt.Errorf("%w (nothing was changed)", err)
}
