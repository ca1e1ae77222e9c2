package atomicfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Check finds, without writing anything, what would stop Write: a target
// that is a directory, a link or a special file; a parent that is a link
// or a file where a directory is needed; a directory that is not writable.
// Links are refused rather than followed: a tls/ or manifests/ that points
// elsewhere would put the signer key or the Secrets where the installer
// does not look, or where someone else can read them.
func Check(files []File) error {
	checked := map[string]bool{}
	for _, f := range files {
		st, err := os.Lstat(f.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR): // a parent is missing or a file: checkDir says
		case err != nil:
			return err
		case st.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%s is a symbolic link: oc sts writes real files only; replace the link with the file it points to, or remove it", f.Path)
		case st.IsDir():
			return fmt.Errorf("%s is a directory where oc sts writes a file: move it away", f.Path)
		case !st.Mode().IsRegular():
			return fmt.Errorf("%s is not a regular file: move it away", f.Path)
		}
		if err := checkDir(filepath.Dir(f.Path), checked); err != nil {
			return err
		}
	}
	return nil
}

// checkDir: dir is a real, writable directory, or can be created in one.
func checkDir(dir string, checked map[string]bool) error {
	for d := dir; !checked[d]; d = filepath.Dir(d) {
		checked[d] = true
		st, err := os.Lstat(d)
		if (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) && filepath.Dir(d) != d {
			continue // created by Write, in its parent
		}
		switch {
		case err != nil:
			return err
		case st.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%s is a symbolic link: oc sts does not write through links; make it a real directory", d)
		case !st.IsDir():
			return fmt.Errorf("%s is a file where oc sts needs a directory: move it away", d)
		}
		if err := syscall.Access(d, 2 /* W_OK */); err != nil {
			return fmt.Errorf("directory %s is not writable (%v): fix its permissions", d, err)
		}
		return nil
	}
	return nil
}
