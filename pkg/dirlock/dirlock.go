// Package dirlock gives one oc sts at a time a directory: an exclusive
// flock(2) on the directory itself, so no lock file is left in it, held
// until Release or the process's end (a killed run frees it).
package dirlock

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Lock is a held directory lock.
type Lock struct {
	f       *os.File
	dir     string
	created bool
}

// Options say how to take a lock.
type Options struct {
	What     string // names the directory in messages: "install dir", "state dir"
	Create   bool   // create the directory (mode 0700) when it is missing
	NoFollow bool   // refuse a symbolic link at dir
}

// Acquire locks dir, failing at once when another process holds it.
func Acquire(dir string, o Options) (*Lock, error) {
	l := &Lock{dir: dir}
	st, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && o.Create:
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating the %s: %w", o.What, err)
		}
		l.created = true
	case err != nil:
		return nil, fmt.Errorf("%s: %w", o.What, err)
	case st.Mode()&fs.ModeSymlink != 0 && o.NoFollow:
		target, _ := os.Readlink(dir)
		return nil, fmt.Errorf("the %s %s is a symbolic link to %s: oc sts keeps the signer key there and does not follow links; give the real directory", o.What, dir, target)
	}
	flags := os.O_RDONLY | syscall.O_DIRECTORY
	if o.NoFollow {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(dir, flags, 0)
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return nil, fmt.Errorf("the %s %s is not a directory", o.What, dir)
		}
		return nil, fmt.Errorf("%s: %w", o.What, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := holderOf(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another oc sts is running on the %s %s (%s): wait for it to finish, then run again", o.What, dir, holder)
		}
		return nil, fmt.Errorf("locking the %s %s: %w", o.What, dir, err)
	}
	l.f = f
	return l, nil
}

// Release unlocks; a directory Acquire created and nothing filled is removed.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	if l.created {
		os.Remove(l.dir) // only succeeds when empty
	}
	l.f.Close() // closing the last descriptor drops the flock
	l.f = nil
}

// holderOf finds the process holding a flock on f's inode in /proc/locks
// (Linux); elsewhere the pid is unknown.
func holderOf(f *os.File) string {
	st, err := f.Stat()
	sys, ok := st.Sys().(*syscall.Stat_t)
	if err != nil || !ok {
		return "pid unknown"
	}
	locks, err := os.Open("/proc/locks")
	if err != nil {
		return "pid unknown"
	}
	defer locks.Close()
	sc := bufio.NewScanner(locks)
	for sc.Scan() {
		// 1: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF ("->" marks waiters)
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue
		}
		id := strings.Split(fields[5], ":")
		if ino, err := strconv.ParseUint(id[len(id)-1], 10, 64); err == nil && ino == sys.Ino {
			return "pid " + fields[4]
		}
	}
	return "pid unknown"
}
