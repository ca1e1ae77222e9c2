package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/dirlock"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
	"github.com/oc-sts/oc-sts/pkg/rotation"
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

// lockStateDir takes the state dir (the target took its own directories
// first), then finishes a write a killed run left half done and removes its
// stale staged files, so the run starts from a whole install dir.
func (o *PrepareOptions) lockStateDir() error {
	if err := o.locks.lock(o.StateDir, dirlock.Options{What: "state dir", Create: true, NoFollow: true}); err != nil {
		return err
	}
	if o.DryRun {
		if atomicfs.Pending(o.StateDir) {
			fmt.Fprintf(o.ErrOut, "warning: a killed run left a write unfinished in %s; run without --dry-run to finish it\n", o.Dir)
		}
		return nil
	}
	return recoverWrites(o.ErrOut, o.StateDir, append(statedir.Dirs(o.StateDir), o.target.dirs(o)...)...)
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
	files, err := o.files(p, signer)
	if err != nil {
		return err
	}
	if err := atomicfs.Check(files); err != nil {
		return fmt.Errorf("%w (nothing was changed)", err)
	}
	return nil
}

// signerKey is the signer key being loaded, or generated, beside the rest
// of the run.
type signerKey struct {
	done   chan struct{}
	signer *oidckeys.Signer
	jwks   []byte
	err    error
}

// startSignerKey reuses the key of the install dir or the state dir, or
// generates one, and says which. A key rotation under way decides which key
// counts and keeps both of its keys published.
func (o *PrepareOptions) startSignerKey() *signerKey {
	k := &signerKey{done: make(chan struct{})}
	go func() {
		defer close(k.done)
		var paths []string
		if paths, k.err = rotation.SignerKeyPaths(o.StateDir, o.target.signerKeyFile()); k.err != nil {
			return
		}
		if k.signer, k.err = oidckeys.LoadOrGenerate(paths...); k.err == nil {
			fmt.Fprintf(o.ErrOut, "Signer key: %s\n", keyNote(k.signer))
			k.jwks, k.err = rotation.PublishedJWKS(o.StateDir, k.signer)
		}
	}()
	return k
}

// wait returns the key and its JWKS once they are ready.
func (k *signerKey) wait(ctx context.Context) (*oidckeys.Signer, []byte, error) {
	select {
	case <-k.done:
		return k.signer, k.jwks, k.err
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
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
