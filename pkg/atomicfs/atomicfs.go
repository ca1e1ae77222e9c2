// Package atomicfs writes a set of files all or nothing: every file is
// staged beside its target first, then renamed into place; if any step
// fails, the originals are put back.
package atomicfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File is one file to write, or to remove when Remove is set.
type File struct {
	Path   string
	Data   []byte
	Mode   fs.FileMode
	Remove bool
}

// rename is os.Rename; tests replace it to fail part way.
var rename = os.Rename

type original struct {
	data   []byte
	mode   fs.FileMode
	exists bool
}

// Write writes files and returns the paths it changed; files whose content
// and mode are already right are not touched.
func Write(files []File) (changed []string, err error) {
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
	var createdDirs []string
	staged := map[string]string{}
	defer func() {
		for _, tmp := range staged {
			os.Remove(tmp)
		}
		if err != nil {
			for i := len(createdDirs) - 1; i >= 0; i-- {
				os.Remove(createdDirs[i])
			}
		}
	}()
	for _, f := range todo {
		if f.Remove {
			continue
		}
		dirs, err := mkdirAll(filepath.Dir(f.Path))
		createdDirs = append(createdDirs, dirs...)
		if err != nil {
			return nil, err
		}
		tmp, err := stage(f)
		if err != nil {
			return nil, err
		}
		staged[f.Path] = tmp
	}
	for i, f := range todo {
		commit := func() error { return rename(staged[f.Path], f.Path) }
		if f.Remove {
			commit = func() error { return os.Remove(f.Path) }
		}
		if err := commit(); err != nil {
			return nil, errors.Join(fmt.Errorf("writing %s: %w", f.Path, err), rollback(todo[:i], originals))
		}
		delete(staged, f.Path)
		changed = append(changed, f.Path)
	}
	for _, d := range parentDirs(todo) {
		syncDir(d)
	}
	return changed, nil
}

func read(path string) (original, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return original{}, nil
	}
	if err != nil {
		return original{}, err
	}
	if st.IsDir() {
		return original{}, fmt.Errorf("%s is a directory where oc sts writes a file: move it away", path)
	}
	data, err := os.ReadFile(path)
	return original{data: data, mode: st.Mode().Perm(), exists: true}, err
}

func stage(f File) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), "."+filepath.Base(f.Path)+".oc-sts-*")
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

// mkdirAll is os.MkdirAll that reports the directories it created.
func mkdirAll(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	var created []string
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return created, err
		}
		created = append(created, missing[i])
	}
	return created, nil
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
