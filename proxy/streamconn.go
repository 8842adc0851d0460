package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/limit"
	"github.com/mcplink/mcplink/oauth"
)

// streamConn is a lean Streamable HTTP client connection (an mcp.Connection)
// for the proxy. The SDK's client connection decodes every message twice with
// a decoder that allocates 32 KiB each time and hands each response through
// extra goroutines; a proxy only needs to move messages, so this one posts
// each message, reads the answer (JSON or an SSE stream) in the writer's own
// goroutine, and decodes with encoding/json once. OAuth, configured headers
// and the protocol-version header come from the proxy's HTTP client.
type streamConn struct {
	url string
	hc  *http.Client
	max int64 // bound on one message (oauth.Transport enforces it on bodies)

	mu        sync.Mutex
	sessionID string
	sidValue  []string // sessionID as a header value (guarded by mu)

	// Header values set on every POST, shared by its requests (net/http
	// and oauth.Transport replace or copy header values, never change
	// them), so that a POST's headers cost no allocation each.
	contentType, accept []string

	// header, when set, returns headers (canonical keys) set on every POST
	// (the proxy's protocol version): set here, they spare oauth.Transport
	// a clone of the request to add them. What it returns is not modified.
	header func() http.Header

	// bufs holds *sseBuffers between answers.
	bufs sync.Pool

	// deliver, when set, receives each message from the server in the
	// goroutine that read it (saving a hand-off through incoming and Read);
	// it must be safe for concurrent use. Set it before the first Write.
	// When light, msg lacks its params or result and raw is the message as
	// the server sent it (see decodeHead), valid only during the call.
	deliver   func(msg jsonrpc.Message, raw []byte, light bool)
	incoming  chan jsonrpc.Message
	closed    chan struct{}
	closeOnce sync.Once
}

// Bounds of streamConn. deleteTimeout bounds the DELETE that ends a session
// (see EOFGrace).
const (
	maxResumeAttempts = 3 // GETs with Last-Event-ID after a broken SSE answer
	deleteTimeout     = 400 * time.Millisecond
)

func newStreamConn(url string, hc *http.Client, max int64) *streamConn {
	return &streamConn{url: url, hc: hc, max: max, incoming: make(chan jsonrpc.Message, 64), closed: make(chan struct{}),
		contentType: []string{"application/json"}, accept: []string{"application/json, text/event-stream"}}
}

// SessionID returns the Mcp-Session-Id the server assigned, if any.
func (c *streamConn) SessionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessionID
}

// session returns the Mcp-Session-Id and its header value (nil without one).
func (c *streamConn) session() (string, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessionID, c.sidValue
}

// Read returns the next message from the server.
func (c *streamConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case msg := <-c.incoming:
		return msg, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closed:
		return nil, mcp.ErrConnectionClosed
	}
}

// Write posts msg and delivers whatever the server answers on that request
// to Read. It returns once the answer has been read (a 202 for
// notifications and responses; the response, and anything sent before it,
// for a call), so callers run it in their own goroutine.
func (c *streamConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	select {
	case <-c.closed:
		return mcp.ErrConnectionClosed
	default:
	}
	data, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return fmt.Errorf("encoding a message for the server: %w", err)
	}
	return c.writeRaw(ctx, data, msg)
}

// writeRaw is Write with msg already encoded as data, which is posted as it
// is (the proxy forwards the client's bytes); msg may lack its params.
func (c *streamConn) writeRaw(ctx context.Context, data []byte, msg jsonrpc.Message) error {
	select {
	case <-c.closed:
		return mcp.ErrConnectionClosed
	default:
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header["Content-Type"] = c.contentType
	req.Header["Accept"] = c.accept
	sid, sidValue := c.session()
	if sid != "" {
		req.Header["Mcp-Session-Id"] = sidValue
	}
	if c.header != nil {
		for k, vs := range c.header() {
			req.Header[k] = vs
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("posting to %s: %w", c.url, err)
	}
	if sid == "" {
		if got := resp.Header.Get("Mcp-Session-Id"); got != "" {
			c.mu.Lock()
			if c.sessionID == "" {
				c.sessionID, c.sidValue = got, []string{got}
			}
			c.mu.Unlock()
		}
	}
	switch {
	case resp.StatusCode == http.StatusNotFound && sid != "":
		drain(resp.Body)
		return fmt.Errorf("posting to %s: %w", c.url, mcp.ErrSessionMissing)
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusNoContent:
		drain(resp.Body)
		return nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		drain(resp.Body)
		se := statusError(req, resp, nil)
		se.Body = string(bytes.TrimSpace(body))
		return se
	}
	ct := oauth.MediaType(resp.Header.Get("Content-Type"))
	var call *jsonrpc.Request
	if r, ok := msg.(*jsonrpc.Request); ok && r.IsCall() {
		call = r
	}
	switch ct {
	case "application/json":
		// The transport bounds the body (a *limit.TooLargeError past c.max).
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			drain(resp.Body)
			return fmt.Errorf("reading the answer from %s: %w", c.url, err)
		}
		_ = resp.Body.Close() // read to its end: nothing to drain
		return c.deliverJSON(body)
	case "text/event-stream":
		return c.readStream(ctx, resp, call)
	default:
		drain(resp.Body)
		if call == nil {
			return nil // some servers answer 200 with an empty body
		}
		return fmt.Errorf("posting to %s: unexpected Content-Type %q", c.url, ct)
	}
}

// deliverJSON delivers one message or a batch.
func (c *streamConn) deliverJSON(body []byte) error {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(body, &batch); err != nil {
			return fmt.Errorf("decoding a batch from the server: %w", err)
		}
		for _, m := range batch {
			if err := c.deliverRaw(m); err != nil {
				return err
			}
		}
		return nil
	}
	return c.deliverRaw(body)
}

// deliverRaw decodes data and passes it on to deliver (only its head: the
// proxy forwards data itself), or whole to Read.
func (c *streamConn) deliverRaw(data []byte) error {
	_, err := c.decodeAndHand(data)
	return err
}

func (c *streamConn) decodeAndHand(data []byte) (jsonrpc.Message, error) {
	var msg jsonrpc.Message
	var light bool
	var err error
	if c.deliver != nil {
		msg, light, err = decodeHead(data, nil)
	} else {
		msg, err = decodeMessage(data)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding a message from the server: %w", err)
	}
	if c.deliver != nil {
		select {
		case <-c.closed:
			return msg, mcp.ErrConnectionClosed
		default:
		}
		c.deliver(msg, data, light)
		return msg, nil
	}
	return msg, c.hand(msg)
}

// hand passes msg on to Read.
func (c *streamConn) hand(msg jsonrpc.Message) error {
	select {
	case c.incoming <- msg:
		return nil
	case <-c.closed:
		return mcp.ErrConnectionClosed
	}
}

// readStream delivers the events of an SSE answer until the stream ends. When
// it breaks before the call's response arrived, it resumes with GET and
// Last-Event-ID (honouring the server's retry interval), a few times.
func (c *streamConn) readStream(ctx context.Context, resp *http.Response, call *jsonrpc.Request) error {
	var lastID string
	retry := 500 * time.Millisecond
	answered := false
	bufs, _ := c.bufs.Get().(*sseBuffers)
	if bufs == nil {
		bufs = new(sseBuffers)
	}
	defer c.bufs.Put(bufs)
	for attempt := 0; ; attempt++ {
		err := scanSSE(resp.Body, c.max, bufs, func(ev sseEvent) error {
			if ev.id != "" {
				lastID = ev.id
			}
			if ev.retry > 0 {
				retry = ev.retry
			}
			if len(ev.data) == 0 || (ev.name != "" && ev.name != "message") {
				return nil
			}
			msg, err := c.decodeAndHand(ev.data)
			if r, ok := msg.(*jsonrpc.Response); ok && call != nil && r.ID == call.ID {
				answered = true
			}
			return err
		})
		if err == nil {
			_ = resp.Body.Close() // read to its end: nothing to drain
		} else {
			drain(resp.Body)
		}
		if answered || call == nil || ctx.Err() != nil || errors.Is(err, mcp.ErrConnectionClosed) {
			return nil
		}
		var tl *limit.TooLargeError
		if errors.As(err, &tl) {
			// Resuming would replay the same event: this call fails, the
			// session goes on.
			return fmt.Errorf("reading the answer from %s: %w", c.url, err)
		}
		if lastID == "" || attempt >= maxResumeAttempts {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("the answer stream from %s ended before the response: %w", c.url, err)
		}
		t := time.NewTimer(retry)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
		req, rerr := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
		if rerr != nil {
			return rerr
		}
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Last-Event-ID", lastID)
		if sid := c.SessionID(); sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
		}
		if resp, rerr = c.hc.Do(req); rerr != nil {
			return fmt.Errorf("resuming the answer stream from %s: %w", c.url, rerr)
		}
		if resp.StatusCode != http.StatusOK {
			drain(resp.Body)
			return fmt.Errorf("resuming the answer stream from %s: %s", c.url, resp.Status)
		}
	}
}

// Close ends the connection and terminates the remote session (DELETE).
func (c *streamConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		sid := c.SessionID()
		if sid == "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), endingSession{}, true), deleteTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.url, nil)
		if err != nil {
			return
		}
		req.Header.Set("Mcp-Session-Id", sid)
		if resp, err := c.hc.Do(req); err == nil {
			drain(resp.Body)
		}
	})
	return nil
}

// sseEvent is one dispatched server-sent event.
type sseEvent struct {
	name  string
	id    string
	data  []byte
	retry time.Duration
}

// sseBuffers are scanSSE's line and data buffers, kept between the answers
// of a streamConn (its bufs) so that reading one allocates none.
type sseBuffers struct {
	line []byte
	data bytes.Buffer
}

// keptBuffer is the largest data buffer sseBuffers keeps after an answer:
// a large message's buffer is not kept.
const keptBuffer = 64 << 10

// scanSSE calls fn for every event of an SSE stream until it ends or fn
// fails. r is bounded per event (oauth.BoundBody, max bytes), which bounds
// what scanSSE buffers: one line and one event's data, each at most max.
// bufs, when not nil, supplies the buffers (one scanSSE at a time); an
// event's data is valid only during fn.
func scanSSE(r io.Reader, max int64, bufs *sseBuffers, fn func(sseEvent) error) error {
	if bufs == nil {
		bufs = new(sseBuffers)
	}
	if bufs.line == nil {
		bufs.line = make([]byte, 4096)
	}
	sc := bufio.NewScanner(r)
	// A longer line makes the scanner allocate a larger buffer of its own;
	// bufs.line stays the small one.
	sc.Buffer(bufs.line[:0], scanBuffer(max))
	data := &bufs.data
	data.Reset()
	defer func() {
		if data.Cap() > keptBuffer {
			*data = bytes.Buffer{}
		}
	}()
	var ev sseEvent
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 { // dispatch
			if data.Len() > 0 || ev.id != "" || ev.retry > 0 {
				ev.data = data.Bytes()
				if err := fn(ev); err != nil {
					return err
				}
			}
			data.Reset()
			ev = sseEvent{}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.Write(value)
		case "event":
			ev.name = string(value)
		case "id":
			ev.id = string(value)
		case "retry":
			if ms, err := strconv.Atoi(string(value)); err == nil && ms >= 0 {
				ev.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	return sc.Err()
}

// scanBuffer is the largest line buffer scanSSE needs for events of at most
// max bytes (a line ends with its newline, hence the extra byte).
func scanBuffer(max int64) int {
	if max <= 0 {
		max = limit.DefaultMessageSize
	}
	if max >= math.MaxInt32 && strconv.IntSize == 32 {
		return math.MaxInt32
	}
	return int(max) + 1
}
