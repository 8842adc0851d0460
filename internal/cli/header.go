package cli

import (
	"strings"
)

// parseHeaders reads --header values for add and proxy alike: "K=V" or the
// curl-style "K: V". The name ends at the first "=" or ":" (neither can
// occur in a header name), so "Authorization: Bearer a=b" and
// "Authorization=Bearer a:b" both mean what they say. Surrounding spaces
// are trimmed; a line break in the value is refused (header injection).
func parseHeaders(hs []string) (map[string]string, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(hs))
	for _, h := range hs {
		i := strings.IndexAny(h, "=:")
		if i < 0 {
			return nil, usageError("--header %q: expected Name=Value or \"Name: Value\"", h)
		}
		k, v := strings.TrimSpace(h[:i]), strings.TrimSpace(h[i+1:])
		if !validHeaderName(k) {
			return nil, usageError("--header %q: %q is not a header name (letters, digits and !#$%%&'*+-.^_`|~ only)", h, k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, usageError("--header %q: the value must be one line", h)
		}
		out[k] = v
	}
	return out, nil
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
