//go:build !linux

package rawio

import (
	"errors"
	"os"
	"syscall"
)

// raw is never usable off Linux: File and Conn use the os.File and
// net.Conn themselves.
type raw struct{}

func newRaw(syscall.Conn) raw { return raw{} }

func (raw) ok() bool { return false }

var errUnsupported = errors.New("rawio: raw system calls are used only on Linux")

func (raw) read([]byte) (int, error)  { return 0, errUnsupported }
func (raw) write([]byte) (int, error) { return 0, errUnsupported }

// Reopen fails: raw calls are used only on Linux.
func Reopen(*os.File) (*File, error) { return nil, errUnsupported }
