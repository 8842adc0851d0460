package config

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error about a config file's content or location
// wraps ErrInvalid; edits additionally wrap ErrExists or ErrNotFound.
var (
	// ErrInvalid is wrapped by every error that reports a problem in a config
	// file (syntax, schema, substitution, missing explicit file).
	ErrInvalid = errors.New("invalid configuration")
	// ErrExists is wrapped by AddEntry when the name is already defined and
	// force is false.
	ErrExists = errors.New("server already exists")
	// ErrNotFound is wrapped when a named server (or the file holding it)
	// does not exist.
	ErrNotFound = errors.New("server not found")
)

// String formats the position as "file:line:col", "file" when the line is
// unknown, or "" when the file is unknown too.
func (p Position) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line <= 0:
		return p.File
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// Error is a problem at a place in a config file. It formats as
// "file:line:col: message" and wraps ErrInvalid (and Err, when set).
type Error struct {
	Pos Position
	Msg string
	// Err is the underlying cause, if any (for example an *fs.PathError).
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	if p := e.Pos.String(); p != "" {
		return p + ": " + e.Msg
	}
	return e.Msg
}

// Unwrap returns ErrInvalid and the cause, so errors.Is(err, ErrInvalid)
// holds for every *Error.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalid, e.Err}
	}
	return []error{ErrInvalid}
}

// ErrorList holds every problem found while loading, in file order and
// then position order. It formats as one error per line.
type ErrorList []*Error

// Error implements error.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the individual errors (each wraps ErrInvalid).
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// err returns nil for an empty list, the single *Error for one entry, and
// the list itself otherwise.
func (l ErrorList) err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	default:
		return l
	}
}

// sentinelError is a message that wraps a sentinel without repeating the
// sentinel's own text.
type sentinelError struct {
	sentinel error
	msg      string
}

func (e *sentinelError) Error() string { return e.msg }
func (e *sentinelError) Unwrap() error { return e.sentinel }
