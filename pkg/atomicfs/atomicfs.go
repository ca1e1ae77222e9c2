// Package atomicfs writes a set of files all or nothing, and crash-safe:
// every file is staged beside its target and synced, then a journal
// naming every staged file is written, then the staged files are renamed
// into place and the journal deleted. A run killed at any instant leaves
// either no journal (the targets untouched: the staged files are stale
// and are cleaned) or a journal (every staged file is there until renamed:
// Recover finishes the renames). Ctrl-C before the journal aborts cleanly.
package atomicfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/oc-sts/oc-sts/pkg/limits"
)

// File is one file to write, or to remove when Remove is set.
type File struct {
	Path   string
	Data   []byte
	Mode   fs.FileMode
	Remove bool
}

// ErrInterrupted is returned when ctx ends before the commit began.
var ErrInterrupted = errors.New("interrupted before anything was written: nothing was changed")

// rename is os.Rename; tests replace it to fail part way.
var rename = os.Rename

type original struct {
	data   []byte
	mode   fs.FileMode
	exists bool
}

// Write writes files and returns the paths it changed; files whose content
// and mode are already right are not touched. journalDir keeps the commit
// journal; an interrupted commit found there is finished first, and stale
// staged files beside the targets are removed.
func Write(ctx context.Context, journalDir string, files []File) (changed []string, err error) {
	if ctx.Err() != nil {
		return nil, ErrInterrupted
	}
	if _, err := Recover(journalDir); err != nil {
		return nil, err
	}
	if err := Check(files); err != nil {
		return nil, err
	}
	if err := Clean(append(parentDirs(files), journalDir)...); err != nil {
		return nil, err
	}
	var todo []File
	originals := map[string]original{}
	for _, f := range files {
		o, err := read(f.Path)
		if err != nil {
			return nil, err
		}
		if f.Remove && !o.exists || !f.Remove && o.exists && bytes.Equal(o.data, f.Data) && o.mode == f.Mode {
			continue
		}
		originals[f.Path] = o
		todo = append(todo, f)
	}
	if len(todo) == 0 {
		return nil, nil
	}
	// The staging journal first: a run killed from here on is rolled back.
	toCreate, err := missingDirs(todo)
	if err != nil {
		return nil, err
	}
	abs, err := absAll(parentDirs(todo))
	if err != nil {
		return nil, err
	}
	if err := writeJournal(journalDir, journal{Version: journalVersion, State: staging, Created: toCreate, Dirs: abs}); err != nil {
		return nil, err
	}
	failpoint(ctx)
	staged := map[string]string{}
	commitStarted := false
	defer func() {
		if commitStarted {
			return // the commit journal owns the staged files
		}
		for _, tmp := range staged {
			os.Remove(tmp)
		}
		removeJournal(journalDir)
		removeDirs(toCreate)
	}()
	for _, d := range toCreate {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	for _, f := range todo {
		if f.Remove {
			continue
		}
		tmp, err := stage(f)
		if err != nil {
			return nil, err
		}
		staged[f.Path] = tmp
		failpoint(ctx)
	}
	if ctx.Err() != nil {
		return nil, ErrInterrupted
	}
	dirs := append(parentDirs(todo), toCreate...)
	for _, d := range dirs {
		syncDir(d) // the staged files are durable before the journal names them
	}
	j := journal{Version: journalVersion, State: committing}
	for _, f := range todo {
		e := entry{Target: f.Path, Staged: staged[f.Path], Remove: f.Remove}
		if e.Target, err = filepath.Abs(e.Target); err != nil {
			return nil, err
		}
		if e.Staged != "" {
			e.Staged = filepath.Join(filepath.Dir(e.Target), filepath.Base(e.Staged))
		}
		j.Entries = append(j.Entries, e)
	}
	if err := writeJournal(journalDir, j); err != nil {
		return nil, err
	}
	commitStarted = true
	failpoint(ctx)
	for i, f := range todo {
		commit := func() error { return rename(staged[f.Path], f.Path) }
		if f.Remove {
			commit = func() error { return os.Remove(f.Path) }
		}
		if err := commit(); err != nil {
			commitStarted = false // the deferred clean-up takes the rest back
			return nil, errors.Join(fmt.Errorf("writing %s: %w", f.Path, err), rollback(todo[:i], originals))
		}
		delete(staged, f.Path)
		changed = append(changed, f.Path)
		failpoint(ctx)
	}
	for _, d := range dirs {
		syncDir(d)
	}
	if err := removeJournal(journalDir); err != nil {
		return changed, err
	}
	failpoint(ctx)
	return changed, nil
}

func read(path string) (original, error) {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return original{}, nil
	}
	if err != nil {
		return original{}, err
	}
	data, err := limits.ReadFileNoFollow(path, limits.Replaced)
	return original{data: data, mode: st.Mode().Perm(), exists: true}, err
}

func stage(f File) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), stagedPrefix(f.Path)+"*")
	if err != nil {
		return "", err
	}
	// Chmod before writing: a secret is never readable by others, not even briefly.
	err = errors.Join(tmp.Chmod(f.Mode), write(tmp, f.Data), tmp.Sync(), tmp.Close())
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("staging %s: %w", f.Path, err)
	}
	return tmp.Name(), nil
}

func write(f *os.File, data []byte) error {
	_, err := f.Write(data)
	return err
}

// rollback restores the files already renamed into place.
func rollback(done []File, originals map[string]original) error {
	var errs []error
	for _, f := range done {
		o := originals[f.Path]
		if !o.exists { // created by Write: remove it
			errs = append(errs, os.Remove(f.Path))
			continue
		}
		tmp, err := stage(File{Path: f.Path, Data: o.data, Mode: o.mode})
		if err == nil {
			err = os.Rename(tmp, f.Path)
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("restoring the previous files failed too: %w", err)
	}
	return nil
}

// missingDirs are the directories to create for files, parents first,
// as absolute paths.
func missingDirs(files []File) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, f := range files {
		if f.Remove {
			continue
		}
		dir, err := filepath.Abs(filepath.Dir(f.Path))
		if err != nil {
			return nil, err
		}
		var missing []string
		for d := dir; !seen[d]; d = filepath.Dir(d) {
			seen[d] = true
			if _, err := os.Lstat(d); err == nil || filepath.Dir(d) == d {
				break
			}
			missing = append(missing, d)
		}
		slices.Reverse(missing)
		out = append(out, missing...)
	}
	return out, nil
}

func absAll(paths []string) ([]string, error) {
	out := make([]string, len(paths))
	for i, p := range paths {
		var err error
		if out[i], err = filepath.Abs(p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parentDirs(files []File) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		if d := filepath.Dir(f.Path); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
