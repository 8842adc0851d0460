package manager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/limit"
	"github.com/mcplink/mcplink/oauth"
)

// recorder remembers the last non-2xx HTTP answer of one connection and
// the last message that crossed its size bound.
type recorder struct {
	mu        sync.Mutex
	code      int
	challenge string
	tooLarge  *limit.TooLargeError
}

func (r *recorder) record(resp *http.Response) {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return
	}
	r.mu.Lock()
	r.code = resp.StatusCode
	r.challenge = resp.Header.Get("WWW-Authenticate")
	r.mu.Unlock()
}

func (r *recorder) recordTooLarge(e *limit.TooLargeError) {
	r.mu.Lock()
	r.tooLarge = e
	r.mu.Unlock()
}

// last returns the last non-2xx status (0 if none) and its WWW-Authenticate.
func (r *recorder) last() (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.code, r.challenge
}

// takeTooLarge returns (and forgets) the last bound crossed, nil if none.
func (r *recorder) takeTooLarge() *limit.TooLargeError {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.tooLarge
	r.tooLarge = nil
	return e
}

// withTooLarge adds to err the size bound a message crossed while it was
// being read, when go-sdk's readers kept only its text (they word read
// errors with %v): callers find it with errors.As.
func withTooLarge(err error, rec *recorder) error {
	var tl *limit.TooLargeError
	if err == nil || errors.As(err, &tl) {
		return err
	}
	if tl = rec.takeTooLarge(); tl != nil {
		return &tooLargeError{err: err, tl: tl}
	}
	return err
}

// tooLargeError is err, which a crossed size bound caused, with the bound.
type tooLargeError struct {
	err error
	tl  *limit.TooLargeError
}

func (e *tooLargeError) Error() string {
	if msg := e.err.Error(); strings.Contains(msg, e.tl.Error()) {
		return msg
	}
	return e.err.Error() + " (" + e.tl.Error() + ")"
}

func (e *tooLargeError) Unwrap() []error { return []error{e.err, e.tl} }

// connTransport binds every request to the connection's lifetime, closed:
// when it is closed, whatever the SDK still has in flight (for instance a
// best-effort notifications/cancelled to a hung server) is aborted, so
// closing never waits on a dead peer. Below it, oauth.Transport adds the
// entry's headers and token (to the server's origin only).
//
// With oneShot set (Options.OneShot) it also times every POST and answers
// the session DELETE that go-sdk sends on Close without waiting for the
// server's answer (see roundTripDelete).
type connTransport struct {
	closed  <-chan struct{}
	base    http.RoundTripper
	oneShot bool
	// minRTT is the fastest POST round trip so far (to the response
	// headers), in nanoseconds; 0 until one completed. One-shot only.
	minRTT atomic.Int64
	// deleteCap bounds the DELETE's wait when no round trip was timed or
	// the fastest was slower; deleteCapDefault unless a test set it.
	deleteCap time.Duration
	// bodies are the response bodies still open (one-shot only): go-sdk
	// hands over a POST's answer before it drains and closes that
	// response's event stream, and a DELETE sent before then would dial a
	// new connection (a TCP and TLS handshake, more than its bound allows
	// on a real network) instead of reusing the kept-alive one.
	bodies openBodies
	// tasks, when set (Streamable HTTP), is shown every tools/list POST and
	// its answer (see taskTable).
	tasks *taskTable
}

// One-shot DELETE bounds (connTransport.roundTripDelete).
const (
	// deleteCapDefault is the longest a one-shot DELETE holds Close:
	// below go-sdk's own 5 s bound, which is for long-lived sessions.
	deleteCapDefault = 2 * time.Second
	// deleteFloor is the shortest bound, so a DELETE on a loopback
	// connection that answered in microseconds still has time to be
	// dialled and written if the kept-alive connection is gone.
	deleteFloor = 20 * time.Millisecond
	// settleFloor is the shortest wait for the server to end an answer's
	// event stream (settle, and before the DELETE): the stream's end
	// follows its last event at once from a server that behaves, but on a
	// loaded machine it can lag the loopback round trip by tens of
	// milliseconds, and giving up then costs the kept-alive connection. Only
	// a server that keeps the stream open after the answer (the spec says
	// it SHOULD close it) makes a one-shot command wait that long.
	settleFloor = 100 * time.Millisecond
	// deleteFlushGrace follows the request's WroteRequest trace event, which
	// net/http fires just before it flushes its buffered writer to the
	// socket: cancelling right at the event could close the connection
	// with the request still in the buffer.
	deleteFlushGrace = time.Millisecond
)

func (t *connTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case <-t.closed:
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, errConnClosed
	default:
	}
	ctx, cancel := context.WithCancel(req.Context())
	go func() { // owned by this request: ends when it is released or the connection closes
		select {
		case <-t.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	if t.oneShot && req.Method == http.MethodDelete {
		return t.roundTripDelete(ctx, cancel, req)
	}
	var list *jsonrpc.Request
	if t.tasks != nil {
		if list = listRequest(req); list != nil {
			t.tasks.sent(list)
		}
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(req.Clone(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	if list != nil && resp.StatusCode == http.StatusOK {
		resp.Body = newListAnswerBody(resp, t.tasks)
	}
	release := cancel
	if t.oneShot {
		if req.Method == http.MethodPost {
			t.noteRTT(time.Since(start))
		}
		t.bodies.add()
		release = func() { cancel(); t.bodies.done() }
	}
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// openBodies counts a connection's response bodies not yet closed.
type openBodies struct {
	mu   sync.Mutex
	n    int
	none chan struct{} // made when n leaves 0, closed when it returns to 0
}

func (b *openBodies) add() {
	b.mu.Lock()
	if b.n == 0 {
		b.none = make(chan struct{})
	}
	b.n++
	b.mu.Unlock()
}

func (b *openBodies) done() {
	b.mu.Lock()
	b.n--
	if b.n == 0 {
		close(b.none)
	}
	b.mu.Unlock()
}

// closed returns a channel closed once no body is open.
func (b *openBodies) closed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	return b.none
}

// settle waits until the connection's response bodies are closed, at most
// one round trip (deleteBound) and while ctx lasts. One-shot callers settle
// after an answer, before they cancel its context: go-sdk hands over an
// answer before it drains that response's event stream, and a cancel in
// that window closes the kept-alive connection, so the session DELETE
// would need a new one (a TCP and TLS handshake, more than its bound).
func (t *connTransport) settle(ctx context.Context) {
	tm := time.NewTimer(t.bound(settleFloor))
	defer tm.Stop()
	select {
	case <-t.bodies.closed():
	case <-ctx.Done():
	case <-tm.C:
	}
}

// noteRTT keeps the fastest round trip seen.
func (t *connTransport) noteRTT(d time.Duration) {
	for {
		cur := t.minRTT.Load()
		if cur != 0 && cur <= int64(d) {
			return
		}
		if t.minRTT.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// deleteBound is how long a one-shot DELETE may hold Close: one round
// trip (the fastest POST of this connection), within [deleteFloor,
// deleteCap].
func (t *connTransport) deleteBound() time.Duration { return t.bound(deleteFloor) }

// bound is one round trip (the fastest POST of this connection), within
// [floor, deleteCap].
func (t *connTransport) bound(floor time.Duration) time.Duration {
	c := t.deleteCap
	if c <= 0 {
		c = deleteCapDefault
	}
	d := time.Duration(t.minRTT.Load())
	if d <= 0 || d > c {
		d = c
	}
	return max(d, floor)
}

// roundTripDelete sends a one-shot connection's session DELETE and returns
// as soon as the server answered or the request is on the wire (its
// WroteRequest event, plus deleteFlushGrace), and at the latest after
// deleteBound: the session's end is the server's business, and a command
// that has its answer should not wait one more round trip to exit. It
// first waits (within the same bound) for the connection's open response
// bodies to close, so the DELETE reuses the kept-alive connection. The
// request is then cancelled; when it was written, the kernel still
// delivers it (closing a socket sends what it holds before the FIN), so a
// server that reads the whole request before looking at the connection
// ends the session. Its error, errDeleteUnanswered, goes to go-sdk's
// Close, whose result the manager ignores.
func (t *connTransport) roundTripDelete(ctx context.Context, cancel context.CancelFunc, req *http.Request) (*http.Response, error) {
	wrote := make(chan struct{})
	var once sync.Once
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				once.Do(func() { close(wrote) })
			}
		},
	})
	settled := time.NewTimer(t.bound(settleFloor))
	defer settled.Stop()
	select { // let the last answer's connection go back to the idle pool
	case <-t.bodies.closed():
	case <-settled.C:
		cancel()
		return nil, errDeleteUnanswered
	}
	bound := time.NewTimer(t.deleteBound())
	defer bound.Stop()
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() { // owned by this call, which waits for it below
		resp, err := t.base.RoundTrip(req.Clone(ctx))
		done <- result{resp, err}
	}()
	var grace <-chan time.Time
	for {
		select {
		case r := <-done:
			if r.err != nil {
				cancel()
				return nil, r.err
			}
			r.resp.Body = &releaseBody{ReadCloser: r.resp.Body, release: cancel}
			return r.resp, nil
		case <-wrote:
			wrote = nil
			gt := time.NewTimer(deleteFlushGrace)
			defer gt.Stop()
			grace = gt.C
			continue
		case <-grace:
		case <-bound.C:
		}
		// Written (or out of time): stop waiting for the answer.
		cancel()
		if r := <-done; r.err == nil {
			_ = r.resp.Body.Close()
		}
		return nil, errDeleteUnanswered
	}
}

// errDeleteUnanswered is a one-shot session DELETE whose answer was not
// awaited: it was written, or given up on after one round trip.
var errDeleteUnanswered = errors.New("session DELETE: answer not awaited")

// errConnClosed is a request made after its connection was closed.
var errConnClosed = errors.New("connection closed")

// releaseBody releases a request's context when its body is closed.
type releaseBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// httpClient returns the client of one connection attempt to e: the
// credential transport (oauth.Transport: headers, token and DPoP proof for
// e's origin only, one Authorize and retry on 401/403 with h, bounded
// response bodies) and its redirect policy.
func (m *Manager) httpClient(closed <-chan struct{}, e *config.Entry, h auth.OAuthHandler, rec *recorder) (*http.Client, error) {
	base := m.opts.HTTPClient
	if base == nil {
		base = &http.Client{}
	}
	ot, err := oauth.NewTransport(oauth.TransportOptions{
		ServerURL:      e.URL,
		Headers:        e.Headers,
		Handler:        h,
		Base:           base.Transport,
		MaxMessageSize: e.EffectiveMaxMessageSize(),
		OnResponse:     rec.record,
		OnTooLarge:     rec.recordTooLarge,
	})
	if err != nil {
		return nil, err
	}
	next := base.CheckRedirect
	return &http.Client{
		Transport: &connTransport{closed: closed, base: ot, oneShot: m.opts.OneShot},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if err := ot.CheckRedirect(req, via); err != nil || next == nil {
				return err
			}
			return next(req, via)
		},
		Jar: base.Jar,
	}, nil
}

// remoteResult is the outcome of connecting to a remote server.
type remoteResult struct {
	session   *mcp.ClientSession
	transport string
	err       error
	rec       *recorder // of the attempt whose error is err, or of the session
	oauth     bool      // an OAuth handler was in use
	// conn is the Streamable HTTP session's transport (nil for SSE).
	conn *connTransport
}

// connectRemote tries Streamable HTTP, then SSE when the endpoint answered
// 404 or 405. When both fail the error names the Streamable HTTP cause first.
// connCtx bounds every HTTP request of the connection (see connTransport);
// the SSE event stream also lives in it. go-sdk's transports get no OAuth
// handler: oauth.Transport, below them, is the one place that sends tokens
// and answers 401/403.
//
// tasks sees the raw tools/list answers (see taskTable): through the HTTP
// layer for Streamable HTTP, through the connection for SSE.
func (m *Manager) connectRemote(ctx, connCtx context.Context, e *config.Entry, client *mcp.Client, tasks *taskTable) remoteResult {
	rec := &recorder{}
	var h auth.OAuthHandler
	if m.opts.OAuth != nil && !e.OAuthDisabled {
		var err error
		if h, err = m.opts.OAuth.Handler(e); err != nil {
			return remoteResult{err: err, rec: rec}
		}
	}
	hc, err := m.httpClient(connCtx.Done(), e, h, rec)
	if err != nil {
		return remoteResult{err: err, rec: rec}
	}
	if ct, ok := hc.Transport.(*connTransport); ok {
		ct.tasks = tasks
	}
	st := &mcp.StreamableClientTransport{
		Endpoint:     e.URL,
		HTTPClient:   hc,
		MaxRetries:   2,
		MaxEventSize: -1, // oauth.Transport bounds each event, with a typed error
		// A one-shot command reads answers to its own requests only: the
		// standalone GET would cost a round trip before the initialized
		// notification (go-sdk opens it synchronously) and a stream to tear
		// down at exit.
		DisableStandaloneSSE: m.opts.OneShot,
	}
	cs, err := client.Connect(ctx, st, m.opts.sessionOptions())
	if err == nil {
		ct, _ := hc.Transport.(*connTransport)
		return remoteResult{session: cs, transport: TransportStreamable, rec: rec, conn: ct}
	}
	code, _ := rec.last()
	serr := &streamableError{code: code, err: withTooLarge(err, rec)}
	if (code != http.StatusNotFound && code != http.StatusMethodNotAllowed) || ctx.Err() != nil {
		return remoteResult{err: serr, rec: rec, oauth: h != nil}
	}
	// The SSE transport ties its event stream to the context given to
	// Connect, so it gets connCtx, which outlives the connect deadline.
	sseRec := &recorder{}
	hc, err = m.httpClient(connCtx.Done(), e, h, sseRec)
	if err != nil {
		return remoteResult{err: err, rec: sseRec}
	}
	sse := &mcp.SSEClientTransport{Endpoint: e.URL, HTTPClient: hc, MaxEventSize: -1}
	cs, sseErr := client.Connect(connCtx, taskTransport{Transport: sse, tasks: tasks}, m.opts.sessionOptions())
	if sseErr == nil {
		return remoteResult{session: cs, transport: TransportSSE, rec: sseRec}
	}
	return remoteResult{
		err:   &fallbackError{streamable: serr, sse: withTooLarge(sseErr, sseRec)},
		rec:   sseRec,
		oauth: h != nil,
	}
}

// streamableError is a failed Streamable HTTP connection attempt, with the
// last non-2xx HTTP status it got (0 if none).
type streamableError struct {
	code int
	err  error
}

func (e *streamableError) Error() string {
	if e.code == 0 {
		return fmt.Sprintf("streamable HTTP: %v", e.err)
	}
	return fmt.Sprintf("streamable HTTP: %d %s (%v)", e.code, http.StatusText(e.code), e.err)
}

func (e *streamableError) Unwrap() error { return e.err }

// fallbackError reports that both Streamable HTTP and the SSE fallback failed.
type fallbackError struct {
	streamable *streamableError
	sse        error
}

func (e *fallbackError) Error() string {
	return fmt.Sprintf("%v; SSE fallback: %v", e.streamable, e.sse)
}

// Unwrap exposes both causes to errors.Is and errors.As.
func (e *fallbackError) Unwrap() []error { return []error{e.streamable, e.sse} }
