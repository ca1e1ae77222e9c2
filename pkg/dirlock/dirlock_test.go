package dirlock

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A second lock on the same directory fails at once, naming the holder's
// pid; once released it can be taken again; a directory the lock created
// and nothing filled is gone afterwards.
func TestExclusive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	a, err := Acquire(dir, Options{What: "state dir", Create: true, NoFollow: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, Options{What: "state dir"})
	want := "another oc sts is running on the state dir " + dir + " (pid " + strconv.Itoa(os.Getpid()) + ")"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second lock: %v, want %q", err, want)
	}
	a.Release()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Error("the empty directory the lock created is still there")
	}
	b, err := Acquire(dir, Options{What: "state dir", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "plan.json"), nil, 0o600)
	b.Release()
	if _, err := os.Stat(dir); err != nil {
		t.Error("a filled directory was removed")
	}
}

func TestRefusesLinksAndFiles(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(real, link)
	if _, err := Acquire(link, Options{What: "state dir", NoFollow: true}); err == nil || !strings.Contains(err.Error(), "is a symbolic link to "+real) {
		t.Errorf("link: %v", err)
	}
	if l, err := Acquire(link, Options{What: "install dir"}); err != nil {
		t.Errorf("a followed link: %v", err)
	} else {
		l.Release()
	}
	file := filepath.Join(real, "f")
	os.WriteFile(file, nil, 0o600)
	if _, err := Acquire(file, Options{What: "install dir"}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file: %v", err)
	}
}
