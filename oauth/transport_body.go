package oauth

import (
	"io"
	"mime"

	"github.com/mcplink/mcplink/limit"
)

// BoundBody bounds a response body of the given Content-Type at max bytes:
// a text/event-stream body per event (the bytes since the last blank line,
// so a stream may go on for ever while no single event grows past max), any
// other body as a whole. Past the bound Read returns a *limit.TooLargeError
// (and tooLarge, when set, is told); what was read before is not returned
// again. Close closes body.
func BoundBody(body io.ReadCloser, contentType string, max int64, tooLarge func(*limit.TooLargeError)) io.ReadCloser {
	b := &boundBody{rc: body, max: max, tooLarge: tooLarge, lineStart: true}
	switch MediaType(contentType) {
	case "text/event-stream":
		b.sse = true
		b.what = "SSE event"
	case "application/json":
		b.what = "JSON response body"
	default:
		b.what = "response body"
	}
	return b
}

type boundBody struct {
	rc       io.ReadCloser
	max      int64
	what     string
	sse      bool
	tooLarge func(*limit.TooLargeError)

	n   int64 // bytes of the body (SSE: of the current event) so far
	err error // sticky: the bound was crossed

	// SSE line state: at the start of a line (the previous byte ended one),
	// and whether that byte was CR (a following LF belongs to it).
	lineStart, afterCR bool
}

func (b *boundBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.rc.Read(p)
	if !b.sse {
		if b.n+int64(n) > b.max {
			n = int(b.max - b.n)
			b.n = b.max
			return n, b.fail()
		}
		b.n += int64(n)
		return n, err
	}
	for i, c := range p[:n] {
		b.n++
		switch {
		case c == '\n' && b.afterCR:
			b.afterCR = false // the LF of a CRLF
		case c == '\n' || c == '\r':
			if b.lineStart { // an empty line ends the event
				b.n = 0
			}
			b.lineStart, b.afterCR = true, c == '\r'
		default:
			b.lineStart, b.afterCR = false, false
		}
		if b.n > b.max {
			return i, b.fail()
		}
	}
	return n, err
}

func (b *boundBody) fail() error {
	e := &limit.TooLargeError{What: b.what, Limit: b.max}
	b.err = e
	if b.tooLarge != nil {
		b.tooLarge(e)
	}
	return e
}

func (b *boundBody) Close() error { return b.rc.Close() }

// MediaType is the media type of a Content-Type value, lower-case and
// without parameters, as mime.ParseMediaType returns it ("" when it does not
// parse); the two values MCP servers send are returned without parsing (once
// per response, it was a noticeable part of the proxy's CPU).
func MediaType(contentType string) string {
	switch contentType {
	case "application/json", "text/event-stream":
		return contentType
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt
}
