package config

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/mcplink/mcplink/internal/safefile"
	"github.com/mcplink/mcplink/limit"
)

// Bounds on a config file. A config is a few kilobytes; these only stop a
// path that names something else (a pipe, a device, a huge or hostile file)
// from hanging mcplink, exhausting its memory or overflowing the parser's
// stack.
const (
	// MaxFileSize is the largest config file read: 4 MiB.
	MaxFileSize = 4 << 20
	// MaxNesting is the deepest nesting of objects and arrays accepted.
	// The JSONC parser recurses once per level, and a million levels
	// overflow the goroutine stack.
	MaxNesting = 1000
)

// readConfigFile reads a config file: a regular file (symbolic links
// followed) of at most MaxFileSize bytes. It never blocks on a FIFO or reads
// a device. Errors are safefile's or the file system's; see readError.
func readConfigFile(path string) ([]byte, error) {
	return safefile.ReadRegular(path, MaxFileSize)
}

// readError words a failure of readConfigFile as a one-line *Error naming
// the file and the fix.
func readError(path string, err error) *Error {
	var nr *safefile.NotRegularError
	var tl *safefile.TooLargeError
	msg := fmt.Sprintf("cannot read config file: %v", err)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		msg = "config file does not exist; create it or point to an existing file"
	case errors.As(err, &nr):
		msg = fmt.Sprintf("config file is %s, not a regular file; point to a regular file", safefile.Kind(nr.Mode))
	case errors.As(err, &tl):
		msg = fmt.Sprintf("config file is larger than %s; mcplink reads config files up to that size", limit.Size(tl.Limit))
	}
	return &Error{Pos: Position{File: path}, Msg: msg, Err: err}
}

// checkNesting scans src for objects and arrays nested deeper than
// MaxNesting, skipping strings and comments, before the recursive parser
// sees it. It reports the first bracket past the bound.
func checkNesting(src *source) *Error {
	data := src.data
	depth := 0
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		case '/':
			switch {
			case i+1 < len(data) && data[i+1] == '/':
				for i += 2; i < len(data) && data[i] != '\n'; i++ {
				}
			case i+1 < len(data) && data[i+1] == '*':
				i += 2
				for i+1 < len(data) && (data[i] != '*' || data[i+1] != '/') {
					i++
				}
				i++
			}
		case '{', '[':
			if depth++; depth > MaxNesting {
				return &Error{Pos: src.pos(i), Msg: fmt.Sprintf(
					"objects and arrays are nested more than %d deep; a config needs a handful of levels", MaxNesting)}
			}
		case '}', ']':
			depth = max(0, depth-1)
		}
	}
	return nil
}
