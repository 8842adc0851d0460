package manager

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/limit"
)

// transport is the MCP transport over the process's pipes. Its reads go
// through p.out, which bounds every message (go-sdk's own cap is switched
// off: it would fail with an untyped error at the same bound).
func (p *process) transport() *mcp.IOTransport {
	return &mcp.IOTransport{
		Reader:        readCloser{p.out, p.stdout},
		Writer:        p.stdin,
		MaxLineLength: -1,
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}

// tooLargeMessage words a message past the bound for State.Error, naming
// the setting that raises it.
func tooLargeMessage(e *limit.TooLargeError) string {
	return fmt.Sprintf("%v; the connection was closed (raise \"maxMessageSize\" on the server's entry if such messages are expected)", e)
}

// messageLimiter sits between a local server's stdout and go-sdk's JSON
// decoder and bounds one message: it counts the bytes since the end of the
// last complete top-level JSON value — the bytes the decoder must hold to
// decode the next one, whitespace and newlines included — and fails the read
// with a *limit.TooLargeError once they pass max. A pretty-printed message
// spread over many lines is bounded as a whole, and so is a flood of blank
// lines. Reads never return more than the remaining budget plus one, so the
// decoder's buffer stays near max however long the line.
//
// It tracks just enough JSON to find where a value ends: bracket depth and
// whether it is inside a string (and after a backslash there). Input that is
// not JSON is the decoder's to reject; at worst the count then runs on and
// the limit ends the connection sooner.
type messageLimiter struct {
	r   io.Reader
	max int64

	n      int64 // bytes since the last complete top-level value
	depth  int
	inStr  bool
	escape bool

	tooLarge atomic.Pointer[limit.TooLargeError]
}

func newMessageLimiter(r io.Reader, max int64) *messageLimiter {
	return &messageLimiter{r: r, max: max}
}

// Read implements io.Reader for the decoder's single reading goroutine.
func (l *messageLimiter) Read(p []byte) (int, error) {
	if e := l.tooLarge.Load(); e != nil {
		return 0, e
	}
	// Never hand out more than the budget (+1, so crossing it is seen):
	// a value that ends within it resets the count below.
	if room := l.max - l.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.r.Read(p)
	for i := 0; i < n; {
		if l.inStr && !l.escape {
			// Skip string content up to the next quote or backslash in a
			// tight loop (most of a tool result is string content).
			j := i
			for j < n && p[j] != '"' && p[j] != '\\' {
				j++
			}
			l.n += int64(j - i)
			if i = j; i == n {
				break
			}
		}
		c := p[i]
		i++
		if l.n++; l.n > l.max {
			return 0, l.fail()
		}
		switch {
		case l.inStr:
			switch {
			case l.escape:
				l.escape = false
			case c == '\\':
				l.escape = true
			case c == '"':
				l.inStr = false
			}
		case c == '"':
			l.inStr = true
		case c == '{' || c == '[':
			l.depth++
		case c == '}' || c == ']':
			if l.depth > 0 {
				l.depth--
				if l.depth == 0 {
					l.n = 0 // a value ended; the next one starts its count
				}
			}
		}
	}
	// Reads are capped at the budget + 1, so a crossing is at the last
	// byte: the per-byte check above sees it, or the bulk skip ended there.
	if l.n > l.max {
		return 0, l.fail()
	}
	return n, err
}

func (l *messageLimiter) fail() error {
	e := &limit.TooLargeError{What: "stdio line", Limit: l.max}
	l.tooLarge.Store(e)
	return e
}

// err returns the *limit.TooLargeError the limiter failed with, or nil. It
// may be called from any goroutine.
func (l *messageLimiter) err() *limit.TooLargeError { return l.tooLarge.Load() }
