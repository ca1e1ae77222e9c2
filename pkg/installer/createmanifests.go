package installer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
)

// InstallConfigFile is the installer's input in an install dir.
const InstallConfigFile = "install-config.yaml"

// maxDirSize bounds the install dir copied for a run: an install dir before
// `create manifests` is a few files.
const maxDirSize = 256 << 20

// CreateManifests runs `openshift-install create manifests` as it would run
// in dir, with installConfig as dir's install-config.yaml, but on a copy in
// scratch (emptied first, removed after), and returns what the run changes
// in dir: the files it wrote or changed, then the inputs it consumed (as
// removals, last). dir itself is not touched, so a failed or interrupted
// run leaves it as it was. skip is a directory inside dir not to copy (the
// state dir). The installer's log goes to log.
func (b *Binary) CreateManifests(ctx context.Context, dir, scratch, skip string, installConfig []byte, log io.Writer) ([]atomicfs.File, error) {
	if err := os.RemoveAll(scratch); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	before, err := readTree(dir, skip)
	if err != nil {
		return nil, err
	}
	before[InstallConfigFile] = treeFile{data: installConfig, mode: 0o600}
	for rel, f := range before {
		if err := writeFile(filepath.Join(scratch, rel), f); err != nil {
			return nil, err
		}
	}
	tail := &tailBuffer{max: 16 << 10}
	cmd := exec.CommandContext(ctx, b.Path, "create", "manifests", "--dir", scratch)
	cmd.Stdout = io.MultiWriter(log, tail)
	cmd.Stderr = io.MultiWriter(log, tail)
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%s create manifests: %v:\n%s", b.Path, err, lastLines(tail.b.String(), 5))
	}
	after, err := readTree(scratch, "")
	if err != nil {
		return nil, err
	}
	return changes(dir, before, after), nil
}

// changes turns the tree before and after a run into the files to write
// into dir: new or changed ones first, removals last.
func changes(dir string, before, after map[string]treeFile) []atomicfs.File {
	var out, removed []atomicfs.File
	for _, rel := range slices.Sorted(maps.Keys(after)) {
		a := after[rel]
		if b, ok := before[rel]; ok && bytes.Equal(a.data, b.data) && a.mode == b.mode && rel != InstallConfigFile {
			continue
		}
		out = append(out, atomicfs.File{Path: filepath.Join(dir, rel), Data: a.data, Mode: a.mode})
	}
	for _, rel := range slices.Sorted(maps.Keys(before)) {
		if _, ok := after[rel]; !ok {
			removed = append(removed, atomicfs.File{Path: filepath.Join(dir, rel), Remove: true})
		}
	}
	return append(out, removed...)
}

type treeFile struct {
	data []byte
	mode fs.FileMode
}

// readTree reads every regular file under root but skip; anything else
// (a symlink, a device) is refused rather than followed.
func readTree(root, skip string) (map[string]treeFile, error) {
	out := map[string]treeFile{}
	var total int64
	if skip != "" {
		skip, _ = filepath.Abs(skip)
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if abs, _ := filepath.Abs(path); skip != "" && abs == skip {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file: the install dir must hold only the installer's files", path)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if total += info.Size(); total > maxDirSize {
			return fmt.Errorf("%s holds more than %d MB: it is not an install dir before `create manifests`", root, maxDirSize>>20)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out[rel] = treeFile{data: data, mode: info.Mode().Perm()}
		return nil
	})
	return out, err
}

func writeFile(path string, f treeFile) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, f.data, f.mode); err != nil {
		return err
	}
	return os.Chmod(path, f.mode) // exactly, whatever the umask
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	b   bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b.Write(p)
	if extra := t.b.Len() - t.max; extra > 0 {
		t.b.Next(extra)
	}
	return len(p), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
