//go:build linux

package rawio

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// raw does a descriptor's reads and writes with raw system calls, waiting
// in the poller on EAGAIN.
type raw struct {
	rc syscall.RawConn // nil: not usable
}

func newRaw(sc syscall.Conn) raw {
	rc, err := sc.SyscallConn()
	if err != nil {
		return raw{}
	}
	return raw{rc: rc}
}

// ok reports whether raw calls can be used: the descriptor is known and in
// non-blocking mode, so no raw call can block the thread (which would hold
// the process's only scheduler slot under GOMAXPROCS=1). Callers check it
// once, on descriptors whose mode nobody else can change.
func (r raw) ok() bool {
	if r.rc == nil {
		return false
	}
	nonblock := false
	if err := r.rc.Control(func(fd uintptr) {
		fl, _, e := unix.RawSyscall(unix.SYS_FCNTL, fd, unix.F_GETFL, 0)
		nonblock = e == 0 && fl&unix.O_NONBLOCK != 0
	}); err != nil {
		return false
	}
	return nonblock
}

func (r raw) read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := r.rc.Read(func(fd uintptr) bool {
		for {
			v, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait in the poller, then again
			}
			n, errno = int(v), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (r raw) write(b []byte) (int, error) {
	var n int
	var errno syscall.Errno
	err := r.rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			v, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[n])), uintptr(len(b)-n))
			switch e {
			case 0:
				n += int(v)
			case unix.EINTR:
			case unix.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, os.NewSyscallError("write", errno)
	}
	return n, nil
}

// Reopen opens the pipe that f is once more, through /proc/self/fd, in
// non-blocking mode and with f's access mode (read or write). The new
// description is the caller's alone: unlike f's, which the process that
// handed f over shares, nobody else can switch it back to blocking mode, so
// raw calls on it never block. Anything but a pipe opened for reading or for
// writing is an error.
func Reopen(f *os.File) (*File, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Mode()&os.ModeNamedPipe == 0 {
		return nil, fmt.Errorf("rawio: %s is not a pipe", f.Name())
	}
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var path string
	acc := -1
	if err := sc.Control(func(fd uintptr) {
		path = "/proc/self/fd/" + strconv.Itoa(int(fd))
		if fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0); err == nil {
			acc = fl & unix.O_ACCMODE
		}
	}); err != nil {
		return nil, err
	}
	if acc != unix.O_RDONLY && acc != unix.O_WRONLY {
		return nil, fmt.Errorf("rawio: %s is open for reading and writing", f.Name())
	}
	fd, err := unix.Open(path, acc|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	nf := os.NewFile(uintptr(fd), f.Name()) // non-blocking: in the poller
	r := newRaw(nf)
	if !r.ok() {
		nf.Close()
		return nil, fmt.Errorf("rawio: %s could not be reopened in non-blocking mode", f.Name())
	}
	return &File{f: nf, raw: r}, nil
}
