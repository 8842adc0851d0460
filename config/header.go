package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadHeader is wrapped by every error of SplitHeader.
var ErrBadHeader = errors.New("bad header")

// SplitHeader splits a header written "Name=Value" or "Name: Value" (the
// curl style), as the command line and the add form take it. The name ends
// at the first "=" or ":" (neither can occur in a header name), so
// "Authorization: Bearer a=b" and "Authorization=Bearer a:b" both mean what
// they say. Surrounding spaces are trimmed. The name must be an RFC 9110
// token and the value one line (no CR, LF or NUL: header injection).
func SplitHeader(s string) (name, value string, err error) {
	i := strings.IndexAny(s, "=:")
	if i < 0 {
		return "", "", fmt.Errorf("%w: %q: expected Name=Value or \"Name: Value\"", ErrBadHeader, s)
	}
	name, value = strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
	if !validHeaderName(name) {
		return "", "", fmt.Errorf("%w: %q is not a header name (letters, digits and !#$%%&'*+-.^_`|~ only)", ErrBadHeader, name)
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return "", "", fmt.Errorf("%w: the value of %s must be one line", ErrBadHeader, name)
	}
	return name, value, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", c):
		default:
			return false
		}
	}
	return true
}
