package proxy

import "encoding/json"

// maxJSONDepth is encoding/json's nesting limit: its scanner refuses a value
// nested deeper than this many objects and arrays (the outermost counts).
const maxJSONDepth = 10000

// The head fields scanHead knows, as bits of a set.
const (
	headJSONRPC = 1 << iota
	headID
	headMethod
	headResult
	headError
)

// scanHead is a hand-written fast path for json.Unmarshal(data, h) with h a
// zero headMessage: one pass over data that checks it is JSON as
// encoding/json accepts it (whitespace, one object, whitespace) and fills h
// as json.Unmarshal would. Reflection made that unmarshal ~11 % of the proxy's
// CPU, with two per forwarded call.
//
// It reports false — h is then to be discarded and the data unmarshalled the
// usual way — on anything it does not handle exactly as encoding/json does:
// invalid JSON, nesting deeper than encoding/json allows, a key that is not
// printable ASCII without escapes (encoding/json matches keys
// case-insensitively, with Unicode folding), a key that matches a head field
// only case-insensitively, a head field given twice (encoding/json keeps the
// last), and jsonrpc or method that is not a string of printable ASCII
// without escapes (null, a number, an escape: json.Unmarshal's type errors
// and unescaping stay its own). FuzzScanHead checks it against json.Unmarshal.
func scanHead(data []byte, h *headMessage) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	var have int
	for {
		// A key: printable ASCII without escapes, or give up.
		if i >= len(data) || data[i] != '"' {
			return false
		}
		k := i + 1
		for k < len(data) && data[k] != '"' {
			if c := data[k]; c < 0x20 || c >= 0x7f || c == '\\' {
				return false
			}
			k++
		}
		if k >= len(data) {
			return false
		}
		field := headField(data[i+1 : k])
		if field < 0 || have&field != 0 {
			return false
		}
		have |= field
		i = skipSpace(data, k+1)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipSpace(data, i+1)
		start := i
		var ok bool
		if i, ok = skipValue(data, i, 1); !ok {
			return false
		}
		v := data[start:i]
		switch field {
		case headJSONRPC:
			if !isPlainString(v) {
				return false
			}
			if string(v) == `"2.0"` {
				h.JSONRPC = "2.0"
			} else {
				h.JSONRPC = string(v[1 : len(v)-1])
			}
		case headID:
			h.ID = rawRef(v)
		case headMethod:
			if !isPlainString(v) {
				return false
			}
			h.Method = methodName(v[1 : len(v)-1])
		case headResult:
			h.Result = true
		case headError:
			h.Error = append(json.RawMessage(nil), v...)
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return skipSpace(data, i+1) == len(data)
		default:
			return false
		}
	}
}

// headField returns the head field key names (one of the head bits), 0 for
// a key of no head field, or -1 for a key that matches one only
// case-insensitively (encoding/json would fill that field; left to it).
func headField(key []byte) int {
	switch string(key) {
	case "jsonrpc":
		return headJSONRPC
	case "id":
		return headID
	case "method":
		return headMethod
	case "result":
		return headResult
	case "error":
		return headError
	}
	for _, name := range [...]string{"jsonrpc", "id", "method", "result", "error"} {
		if asciiEqualFold(key, name) {
			return -1
		}
	}
	return 0
}

// asciiEqualFold reports whether the ASCII key equals name with ASCII letters
// compared regardless of case, as encoding/json folds an ASCII key.
func asciiEqualFold(key []byte, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// methodName returns b as a string, without an allocation for the methods a
// proxied session sends most.
func methodName(b []byte) string {
	switch string(b) {
	case "tools/call":
		return "tools/call"
	case "notifications/progress":
		return "notifications/progress"
	case "notifications/message":
		return "notifications/message"
	case "ping":
		return "ping"
	}
	return string(b)
}

// isPlainString reports whether v, a valid JSON value, is a string of
// printable ASCII without escapes (its value is then the bytes between the
// quotes).
func isPlainString(v []byte) bool {
	return len(v) >= 2 && v[0] == '"' && plainString(v[1:len(v)-1])
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the index just past the JSON value that starts at
// data[i], checked as encoding/json's scanner checks it, inside depth open
// objects and arrays; false if there is no valid value there or its nesting
// goes past maxJSONDepth. Whatever follows the value is the caller's to
// check.
func skipValue(data []byte, i, depth int) (int, bool) {
	var buf [32]byte
	open := buf[:0] // the objects and arrays opened within this value: '{' or '['
	for {
		// A value starts at i.
		if i >= len(data) {
			return i, false
		}
		var ok bool
		switch c := data[i]; {
		case c == '{' || c == '[':
			if depth+len(open)+1 > maxJSONDepth {
				return i, false
			}
			open = append(open, c)
			i = skipSpace(data, i+1)
			if i < len(data) && data[i] == c+2 { // '}' or ']', empty
				open = open[:len(open)-1]
				i++
				break
			}
			if c == '[' {
				continue // its first element
			}
			if i, ok = skipMember(data, i); !ok {
				return i, false
			}
			continue // its first member's value
		case c == '"':
			if i, ok = skipString(data, i); !ok {
				return i, false
			}
		case c == 't':
			if i, ok = skipLiteral(data, i, "true"); !ok {
				return i, false
			}
		case c == 'f':
			if i, ok = skipLiteral(data, i, "false"); !ok {
				return i, false
			}
		case c == 'n':
			if i, ok = skipLiteral(data, i, "null"); !ok {
				return i, false
			}
		case c == '-' || '0' <= c && c <= '9':
			if i, ok = skipNumber(data, i); !ok {
				return i, false
			}
		default:
			return i, false
		}
		// A value ended at i: close what ends here, or go on to the next
		// element or member.
		for next := false; !next; {
			if len(open) == 0 {
				return i, true
			}
			i = skipSpace(data, i)
			if i >= len(data) {
				return i, false
			}
			top := open[len(open)-1]
			switch data[i] {
			case ',':
				i = skipSpace(data, i+1)
				if top == '{' {
					if i, ok = skipMember(data, i); !ok {
						return i, false
					}
				}
				next = true
			case top + 2: // '}' or ']'
				open = open[:len(open)-1]
				i++
			default:
				return i, false
			}
		}
	}
}

// skipMember returns the index of the value of the object member whose key
// starts at data[i] (past the key, the colon and whitespace).
func skipMember(data []byte, i int) (int, bool) {
	if i >= len(data) || data[i] != '"' {
		return i, false
	}
	i, ok := skipString(data, i)
	if !ok {
		return i, false
	}
	i = skipSpace(data, i)
	if i >= len(data) || data[i] != ':' {
		return i, false
	}
	return skipSpace(data, i+1), true
}

// skipString returns the index just past the JSON string whose opening quote
// is data[i]: no raw control characters, only JSON's escapes. Other bytes,
// invalid UTF-8 included, are accepted as encoding/json accepts them.
func skipString(data []byte, i int) (int, bool) {
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return j + 1, true
		case c < 0x20:
			return j, false
		case c == '\\':
			j++
			if j >= len(data) {
				return j, false
			}
			switch data[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(data) {
					return j, false
				}
				for _, h := range data[j+1 : j+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return j, false
					}
				}
				j += 4
			default:
				return j, false
			}
		}
	}
	return len(data), false
}

// skipLiteral returns the index just past lit (true, false or null) at
// data[i].
func skipLiteral(data []byte, i int, lit string) (int, bool) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// skipNumber returns the index just past the JSON number at data[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(data []byte, i int) (int, bool) {
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		i = skipDigits(data, i+1)
	default:
		return i, false
	}
	if i < len(data) && data[i] == '.' {
		j := skipDigits(data, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := skipDigits(data, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

// skipDigits returns the index of the first byte at or after i that is not a
// decimal digit.
func skipDigits(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}
