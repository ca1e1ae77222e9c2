// Package limits bounds every input oc sts reads: each kind of input has a
// named size limit, files must be regular files (a FIFO would block, a
// device or /dev/zero never ends), and an input over its limit is an error
// that names the limit instead of an out-of-memory crash.
package limits

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Limit is the most bytes one kind of input may have.
type Limit struct {
	Name  string // what the user reads in an error
	Bytes int64
}

// The limits. Each is far above what real inputs hold (an install-config
// with a large trust bundle is ~100 KiB; the installer's state file after
// `create manifests` a few MiB; a CredentialsRequest a few KiB).
var (
	InstallConfig      = Limit{"install-config limit", 4 << 20}
	InstallerState     = Limit{"installer state file limit", 64 << 20}
	CredentialsRequest = Limit{"CredentialsRequest file limit", 4 << 20}
	CredentialsDir     = Limit{"CredentialsRequests total limit", 64 << 20}
	ReleaseManifest    = Limit{"release-manifest file limit", 4 << 20}
	ReleaseManifests   = Limit{"release-manifests total limit", 64 << 20}
	ReleaseImage       = Limit{"release image uncompressed limit", 16 << 30}
	PullSecret         = Limit{"pull secret limit", 4 << 20}
	StateFile          = Limit{"state file limit", 16 << 20}
	Replaced           = Limit{"limit for a file oc sts replaces", 16 << 20}
	KeyFile            = Limit{"key file limit", 64 << 10}
	HTTPBody           = Limit{"HTTP response limit", 1 << 20}
)

// String is the limit as the user reads it: "install-config limit (4 MiB)".
func (l Limit) String() string { return fmt.Sprintf("%s (%s)", l.Name, Size(l.Bytes)) }

// Size prints a byte count the way people read it.
func Size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// TooLargeError says which input exceeded which limit.
type TooLargeError struct {
	What  string
	Size  int64 // -1 when only "more than the limit" is known
	Limit Limit
}

func (e *TooLargeError) Error() string {
	size := "more than " + Size(e.Limit.Bytes)
	if e.Size >= 0 {
		size = Size(e.Size)
	}
	return fmt.Sprintf("%s is %s, over the %s: no real input of its kind is this large", e.What, size, e.Limit)
}

// ReadAll reads r up to l; what names the input in the error.
func ReadAll(r io.Reader, what string, l Limit) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, l.Bytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > l.Bytes {
		return nil, &TooLargeError{What: what, Size: -1, Limit: l}
	}
	return data, nil
}

// ReadFile reads a regular file of at most l bytes. Symbolic links are
// followed (use ReadFileNoFollow where a link must be refused); FIFOs,
// devices and sockets are refused without blocking on them.
func ReadFile(path string, l Limit) ([]byte, error) { return readFile(path, l, 0) }

// ReadFileNoFollow is ReadFile refusing a symbolic link at path.
func ReadFileNoFollow(path string, l Limit) ([]byte, error) {
	return readFile(path, l, syscall.O_NOFOLLOW)
}

func readFile(path string, l Limit, flags int) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|flags, 0)
	if err != nil {
		if flags&syscall.O_NOFOLLOW != 0 && errors.Is(err, syscall.ELOOP) {
			return nil, &fs.PathError{Op: "open", Path: path, Err: ErrSymlink}
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (it is a %s)", ErrNotRegular, kind(st.Mode()))}
	}
	if st.Size() > l.Bytes {
		return nil, &TooLargeError{What: path, Size: st.Size(), Limit: l}
	}
	return ReadAll(f, path, l)
}

// Errors of ReadFile and ReadFileNoFollow.
var (
	ErrNotRegular = errors.New("not a regular file")
	ErrSymlink    = errors.New("is a symbolic link, which oc sts does not follow here")
)

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return "special file"
}
