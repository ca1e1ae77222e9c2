package atomicfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/oc-sts/oc-sts/pkg/limits"
)

// JournalFile is the commit journal's name in its directory.
const JournalFile = "commit-journal.json"

const (
	journalVersion = 1
	stagedMarker   = ".oc-sts-"
)

// journal is a write in progress. While staging it names the directories
// the write creates and writes into: a killed run is rolled back (staged
// files and created directories removed). Once every staged file is
// durable it is replaced by the commit: the renames (and removals), each
// either done (staged file gone) or still to do (staged file there), so a
// killed run is rolled forward.
type journal struct {
	Version int      `json:"version"`
	State   string   `json:"state"` // staging or commit
	Created []string `json:"created,omitempty"`
	Dirs    []string `json:"dirs,omitempty"`
	Entries []entry  `json:"entries,omitempty"`
}

const (
	staging    = "staging"
	committing = "commit"
)

type entry struct {
	Target string `json:"target"`
	Staged string `json:"staged,omitempty"`
	Remove bool   `json:"remove,omitempty"`
}

// stagedPrefix is the name a staged file of path starts with:
// .<file>.oc-sts-<random>, beside it.
func stagedPrefix(path string) string { return "." + filepath.Base(path) + stagedMarker }

// isStaged: name is a staged (or stale) file of this package.
func isStaged(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, stagedMarker)
}

func writeJournal(dir string, j journal) error {
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(dir, JournalFile)
	tmp, err := stage(File{Path: path, Data: data, Mode: 0o600})
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing the commit journal: %w", err)
	}
	syncDir(dir)
	return nil
}

func removeJournal(dir string) error {
	if err := os.Remove(filepath.Join(dir, JournalFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	syncDir(dir)
	return nil
}

// Recover finishes a commit that a killed run left in dir: every staged
// file still there is renamed into place, every removal done, then the
// journal is deleted. It returns the targets it completed.
func Recover(dir string) ([]string, error) {
	path := filepath.Join(dir, JournalFile)
	data, err := limits.ReadFileNoFollow(path, limits.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the journal of an interrupted write: %w", err)
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil || j.Version != journalVersion || j.State != staging && j.State != committing {
		return nil, fmt.Errorf("%s is not a journal this oc sts wrote (%v): remove it, then run again", path, err)
	}
	for _, d := range append(j.Created, j.Dirs...) {
		if !filepath.IsAbs(d) {
			return nil, fmt.Errorf("%s names %s, not an absolute path: remove the journal, then run again", path, d)
		}
	}
	if j.State == staging {
		return nil, rollBack(dir, j)
	}
	for _, e := range j.Entries {
		if !filepath.IsAbs(e.Target) {
			return nil, fmt.Errorf("%s names %s, not an absolute path: remove the journal, then run again", path, e.Target)
		}
		if !e.Remove && (filepath.Dir(e.Staged) != filepath.Dir(e.Target) || !strings.HasPrefix(filepath.Base(e.Staged), stagedPrefix(e.Target))) {
			return nil, fmt.Errorf("%s names %s for %s, which oc sts never stages: remove the journal, then run again", path, e.Staged, e.Target)
		}
	}
	var done []string
	for _, e := range j.Entries {
		if e.Remove {
			if err := os.Remove(e.Target); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return done, fmt.Errorf("finishing an interrupted write: %w", err)
			}
			done = append(done, e.Target)
			continue
		}
		if _, err := os.Lstat(e.Staged); errors.Is(err, fs.ErrNotExist) {
			continue // renamed before the run was killed
		}
		if err := os.Rename(e.Staged, e.Target); err != nil {
			return done, fmt.Errorf("finishing an interrupted write: %w", err)
		}
		done = append(done, e.Target)
	}
	for _, d := range parentDirs(targets(j)) {
		syncDir(d)
	}
	return done, removeJournal(dir)
}

func targets(j journal) []File {
	var out []File
	for _, e := range j.Entries {
		out = append(out, File{Path: e.Target})
	}
	return out
}

// rollBack undoes a write killed while staging: its staged files, then
// the directories it created (deepest first, and only when empty).
func rollBack(dir string, j journal) error {
	if err := Clean(j.Dirs...); err != nil {
		return err
	}
	if err := removeJournal(dir); err != nil {
		return err
	}
	removeDirs(j.Created)
	return nil
}

// removeDirs removes the empty ones of dirs, deepest first.
func removeDirs(dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i]) // fails, as it should, when not empty
	}
}

// Clean removes the stale staged files of a killed run from dirs. Call it
// after Recover: without a journal, no staged file is wanted.
func Clean(dirs ...string) error {
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			continue // nothing staged there (a file in the way is Check's to report)
		}
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.Type().IsRegular() && isStaged(e.Name()) {
				if err := os.Remove(filepath.Join(d, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Pending reports whether dir holds the journal of an interrupted write.
func Pending(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, JournalFile))
	return err == nil
}
