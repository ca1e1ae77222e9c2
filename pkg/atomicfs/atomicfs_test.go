package atomicfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		if info.IsDir() {
			out[rel+"/"] = info.Mode().String()
			return nil
		}
		data, _ := os.ReadFile(p)
		out[rel] = info.Mode().String() + " " + string(data)
		return nil
	})
	return out
}

// journalDir is a state dir beside dir, outside the snapshots.
func journalDir(t *testing.T, dir string) string {
	return filepath.Join(filepath.Dir(dir), filepath.Base(dir)+"-state")
}

func TestWriteModesAndSkipsUnchanged(t *testing.T) {
	dir := t.TempDir()
	files := []File{
		{Path: filepath.Join(dir, "a/secret.key"), Data: []byte("k"), Mode: 0o600},
		{Path: filepath.Join(dir, "b.yaml"), Data: []byte("b"), Mode: 0o644},
	}
	changed, err := Write(context.Background(), journalDir(t, dir), files)
	if err != nil || len(changed) != 2 {
		t.Fatalf("%v %v", changed, err)
	}
	st, _ := os.Stat(files[0].Path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	if changed, _ := Write(context.Background(), journalDir(t, dir), files); len(changed) != 0 {
		t.Errorf("unchanged files rewritten: %v", changed)
	}
	os.Chmod(files[0].Path, 0o644)
	if changed, _ := Write(context.Background(), journalDir(t, dir), files); len(changed) != 1 {
		t.Errorf("a wrong mode was not repaired: %v", changed)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "a"))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// A failure after some files were renamed into place puts everything back.
func TestFailureRestoresEverything(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "install-config.yaml"), []byte("original"), 0o640)
	os.WriteFile(filepath.Join(dir, "keep"), []byte("x"), 0o600)
	before := snapshot(t, dir)
	files := []File{
		{Path: filepath.Join(dir, "manifests/new.yaml"), Data: []byte("new"), Mode: 0o600},
		{Path: filepath.Join(dir, "install-config.yaml"), Data: []byte("edited"), Mode: 0o640},
		{Path: filepath.Join(dir, "tls/key"), Data: []byte("key"), Mode: 0o600},
	}
	calls := 0
	rename = func(from, to string) error {
		if calls++; calls == 3 {
			return errors.New("disk on fire")
		}
		return os.Rename(from, to)
	}
	defer func() { rename = os.Rename }()
	if _, err := Write(context.Background(), journalDir(t, dir), files); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("got %v", err)
	}
	after := snapshot(t, dir)
	if len(before) != len(after) {
		t.Fatalf("before %v\nafter %v", before, after)
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %q became %q", k, v, after[k])
		}
	}
}

func TestDirectoryInTheWay(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "x"), 0o755)
	if _, err := Write(context.Background(), journalDir(t, dir), []File{{Path: filepath.Join(dir, "x"), Data: []byte("a"), Mode: 0o600}}); err == nil {
		t.Error("want an error")
	}
}

// A removal is part of the all-or-nothing set: rolled back with the rest.
func TestRemoveIsAtomicWithTheRest(t *testing.T) {
	dir := t.TempDir()
	stale, kept := filepath.Join(dir, "stale.yaml"), filepath.Join(dir, "kept.yaml")
	os.WriteFile(stale, []byte("old"), 0o600)
	os.WriteFile(kept, []byte("v1"), 0o600)
	before := snapshot(t, dir)
	calls := 0
	rename = func(from, to string) error {
		if calls++; calls == 1 {
			return errors.New("disk on fire")
		}
		return os.Rename(from, to)
	}
	files := []File{{Path: stale, Remove: true}, {Path: kept, Data: []byte("v2"), Mode: 0o600}}
	if _, err := Write(context.Background(), journalDir(t, dir), files); err == nil {
		t.Fatal("want an error")
	}
	rename = os.Rename
	if after := snapshot(t, dir); after[filepath.Base(stale)] != before[filepath.Base(stale)] {
		t.Errorf("the removed file was not restored: %v", after)
	}
	changed, err := Write(context.Background(), journalDir(t, dir), append(files, File{Path: filepath.Join(dir, "absent"), Remove: true}))
	if err != nil || len(changed) != 2 {
		t.Fatalf("%v %v", changed, err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale file still there")
	}
}
