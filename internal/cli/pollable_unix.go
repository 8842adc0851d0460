//go:build unix

package cli

import (
	"os"

	"golang.org/x/sys/unix"
)

// pollable returns a duplicate of f that is read and written through the
// runtime's network poller, when f is a pipe or a socket: a goroutine
// waiting on it then parks instead of holding a thread in a blocking system
// call. Non-blocking mode belongs to the file description, which the client
// may share, so restore closes the duplicate and puts the mode back as it
// was. It returns nil for anything else (a terminal, a file), which stays as
// it is.
func pollable(f *os.File) (*os.File, func()) {
	st, err := f.Stat()
	if err != nil || st.Mode()&(os.ModeNamedPipe|os.ModeSocket) == 0 {
		return nil, nil
	}
	sc, err := f.SyscallConn() // unlike Fd, leaves f's mode alone
	if err != nil {
		return nil, nil
	}
	fd, wasNonblock := -1, false
	if err := sc.Control(func(orig uintptr) {
		flags, err := unix.FcntlInt(orig, unix.F_GETFL, 0)
		if err != nil {
			return
		}
		wasNonblock = flags&unix.O_NONBLOCK != 0
		fd, _ = unix.FcntlInt(orig, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || fd < 0 {
		return nil, nil
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, nil
	}
	pf := os.NewFile(uintptr(fd), f.Name())
	return pf, func() {
		if wasNonblock {
			_ = pf.Close()
			return
		}
		// Back to blocking mode through the duplicate, then close it.
		if rc, err := pf.SyscallConn(); err == nil {
			_ = rc.Control(func(d uintptr) { _ = unix.SetNonblock(int(d), false) })
		}
		_ = pf.Close()
	}
}
