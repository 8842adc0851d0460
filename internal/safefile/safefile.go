// Package safefile reads files that must be regular files — configuration,
// credentials, secrets named in a config — without ever blocking on a FIFO or
// reading a device without end.
//
// Opening a named pipe for reading blocks until a writer appears, and a
// device such as /dev/zero never ends, so a path that names one would hang
// mcplink or exhaust its memory. OpenRegular checks the path with stat(2)
// first, opens it without blocking (O_NONBLOCK where the system has it), and
// checks the opened file again, so a file swapped in between is refused as
// well. ReadRegular adds a size bound.
package safefile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// NotRegularError reports a path that is not a regular file.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file", e.Path, Kind(e.Mode))
}

// TooLargeError reports a file larger than the reader's bound.
type TooLargeError struct {
	Path  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than %d bytes", e.Path, e.Limit)
}

// Kind names the type of file a mode describes, for messages: "a named
// pipe (FIFO)", "a device", "a directory", ...
func Kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0, m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	case m.IsRegular():
		return "a regular file"
	}
	return "a special file"
}

// OpenRegular opens path for reading if it is a regular file (symbolic
// links are followed). Anything else is a *NotRegularError, returned
// without blocking. Errors from stat and open are returned as they are
// (errors.Is(err, fs.ErrNotExist) works).
func OpenRegular(path string) (*os.File, fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, &NotRegularError{Path: path, Mode: fi.Mode()}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|nonblockFlag, 0)
	if err != nil {
		return nil, nil, err
	}
	// The path may have been replaced between stat and open.
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		_ = f.Close()
		if err != nil {
			return nil, nil, err
		}
		return nil, nil, &NotRegularError{Path: path, Mode: fi.Mode()}
	}
	return f, fi, nil
}

// ReadRegular reads the regular file at path, refusing anything else (see
// OpenRegular) and files larger than max bytes (a *TooLargeError), whether
// stat says so or the file grows while it is read.
func ReadRegular(path string, max int64) ([]byte, error) {
	f, fi, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > max {
		return nil, &TooLargeError{Path: path, Limit: max}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, &TooLargeError{Path: path, Limit: max}
	}
	return data, nil
}
