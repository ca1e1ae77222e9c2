package limits

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A FIFO, a device and a link to /dev/zero are refused at once (no hang,
// no endless read); a file over the limit is refused by its size, before
// it is read; the error names the limit.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero")
	os.Symlink("/dev/zero", zero)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 2048), 0o600)
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("ok"), 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(small, link)
	l := Limit{"test limit", 1024}

	for _, path := range []string{fifo, zero, "/dev/null"} {
		if _, err := ReadFile(path, l); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v", path, err)
		}
	}
	if _, err := ReadFile(big, l); err == nil || err.Error() != big+" is 2 KiB, over the test limit (1 KiB): no real input of its kind is this large" {
		t.Errorf("big: %v", err)
	}
	if got, err := ReadFile(link, l); err != nil || string(got) != "ok" {
		t.Errorf("link: %q %v", got, err)
	}
	if _, err := ReadFileNoFollow(link, l); !errors.Is(err, ErrSymlink) {
		t.Errorf("link, no follow: %v", err)
	}
	if got, err := ReadFileNoFollow(small, l); err != nil || string(got) != "ok" {
		t.Errorf("small: %q %v", got, err)
	}
	if _, err := ReadAll(strings.NewReader(strings.Repeat("x", 1025)), "the body", l); err == nil || !strings.Contains(err.Error(), "the body is more than 1 KiB, over the test limit") {
		t.Errorf("ReadAll: %v", err)
	}
}
