// Package proxy forwards MCP JSON-RPC messages between a local stdio client
// and a remote MCP server (Streamable HTTP, or the 2024-11-05 SSE transport),
// so that stdio-only clients can use remote, OAuth-protected servers.
//
// The proxy works at the message level: requests, responses and
// notifications pass through unchanged in both directions with their IDs,
// in order within each direction. It only looks inside three kinds of
// message: initialize (remembered, so an expired remote session can be
// re-initialized transparently), tools/list results (filtered by
// Options.IgnoreTools) and tools/call requests (refused for ignored tools).
package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/internal/rawio"
	"github.com/mcplink/mcplink/limit"
)

// Mode selects the remote transport.
type Mode string

// Transport modes.
const (
	// ModeHTTPFirst tries Streamable HTTP and falls back to SSE when the
	// endpoint answers the initialize POST with 404 or 405.
	ModeHTTPFirst Mode = "http-first"
	// ModeSSEFirst tries SSE and falls back to Streamable HTTP.
	ModeSSEFirst Mode = "sse-first"
	// ModeHTTPOnly uses only Streamable HTTP.
	ModeHTTPOnly Mode = "http-only"
	// ModeSSEOnly uses only SSE.
	ModeSSEOnly Mode = "sse-only"
)

// ErrBadMode reports an unknown transport mode.
var ErrBadMode = errors.New("unknown transport mode (want http-first, sse-first, http-only or sse-only)")

// ParseMode parses a --transport value; empty means ModeHTTPFirst.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return ModeHTTPFirst, nil
	case ModeHTTPFirst, ModeSSEFirst, ModeHTTPOnly, ModeSSEOnly:
		return m, nil
	}
	return "", fmt.Errorf("%q: %w", s, ErrBadMode)
}

// ValidatePatterns checks IgnoreTools glob patterns (path.Match syntax): the
// first bad one is a *PatternError.
func ValidatePatterns(patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return &PatternError{Pattern: p, Err: err}
		}
	}
	return nil
}

// PatternError is a tool name pattern (Options.IgnoreTools) that is not
// valid path.Match syntax.
type PatternError struct {
	Pattern string
	Err     error // path.ErrBadPattern
}

func (e *PatternError) Error() string {
	return fmt.Sprintf("tool name pattern %q: %v", e.Pattern, e.Err)
}

func (e *PatternError) Unwrap() error { return e.Err }

// Options configure Run.
type Options struct {
	// URL is the remote MCP endpoint.
	URL string
	// Headers are added to every HTTP request to URL's origin, never to
	// another origin (a redirect target), and never override the OAuth
	// Authorization header.
	Headers map[string]string
	// Mode selects the transport; empty means ModeHTTPFirst.
	Mode Mode
	// OAuth, when set, authorizes every HTTP request: its token is sent, and a
	// 401/403 runs its Authorize (refresh, or a browser flow) before the
	// request is retried once.
	OAuth auth.OAuthHandler
	// AuthTimeout bounds one Authorize call; default 5 minutes.
	AuthTimeout time.Duration
	// SignIn, when set, runs every Authorize (see oauth.TransportOptions):
	// mcplink uses it for its cross-process sign-in lock.
	SignIn func(ctx context.Context, status int, authorize func(context.Context) error) error
	// MaxMessageSize bounds one message from the server (a JSON body, one
	// SSE event); 0 means limit.DefaultMessageSize. Past it, the request
	// gets a JSON-RPC error and the session goes on.
	MaxMessageSize int64
	// IgnoreTools are path.Match patterns of tool names hidden from tools/list
	// results and refused in tools/call.
	IgnoreTools []string
	// HTTPClient supplies the base transport (nil: a tuned clone of
	// http.DefaultTransport). Its Timeout is ignored.
	HTTPClient *http.Client
	// Logf receives diagnostics (one line each, no newline); nil discards them.
	Logf func(format string, args ...any)
	// Server names the server in the error messages the client gets
	// (default: the URL's host).
	Server string
	// Hints word, in those messages, the steps that depend on how the
	// proxy was set up (its settings' names, how to sign in again); the
	// zero value names none of the caller's flags or files.
	Hints Hints
}

// Hints are the caller's words for the ways out that the proxy's error
// messages name: the proxy knows what went wrong, the program that set it
// up knows what its user can change (mcplink's proxy command names its
// flags and config fields here). Each empty field has a default that names
// no flag, command or file.
type Hints struct {
	// SignIn is the step that gives the proxy fresh credentials, e.g.
	// "run `mcplink auth jira`, then restart the proxy" (default: "restart
	// the proxy to sign in again").
	SignIn string
	// Limit is the step that raises MaxMessageSize (default: "raise the
	// proxy's message size bound").
	Limit string
	// AuthTimeout names the setting of AuthTimeout, shown after the bound
	// when no sign-in finished within it, e.g. "--auth-timeout" (default:
	// none).
	AuthTimeout string
	// Headers says where the Headers come from, e.g. "given with --header
	// or in the server's \"headers\"" (default: "the proxy sends").
	Headers string
	// Resource names where the RFC 8707 resource indicator is set, e.g.
	// "--resource, \"oauth.resource\"" (default: none).
	Resource string
	// IgnoreTools names the setting of IgnoreTools, in the error a call to
	// a hidden tool gets, e.g. "--ignore-tool" (default: "the proxy's
	// ignored tools").
	IgnoreTools string
}

// withDefaults returns h with its empty fields set to the defaults.
func (h Hints) withDefaults() Hints {
	if h.SignIn == "" {
		h.SignIn = "restart the proxy to sign in again"
	}
	if h.Limit == "" {
		h.Limit = "raise the proxy's message size bound"
	}
	if h.Headers == "" {
		h.Headers = "the proxy sends"
	}
	if h.IgnoreTools == "" {
		h.IgnoreTools = "the proxy's ignored tools"
	}
	return h
}

// Client-visible JSON-RPC error codes.
const (
	codeInvalidParams = -32602
	codeInternal      = -32603
	codeParse         = -32700
)

// Run proxies between the client speaking newline-delimited JSON-RPC on in
// and out and the remote server. It returns nil when in reaches EOF or ctx
// is cancelled, after terminating the remote session.
//
// A goroutine reading in stays blocked in in.Read until in delivers data or
// EOF; callers that cancel ctx should close in (os.Stdin is closed by the
// process exiting).
func Run(ctx context.Context, in io.Reader, out io.Writer, opts Options) error {
	p, err := newProxy(opts, out)
	if err != nil {
		return err
	}
	return p.run(ctx, in)
}

type proxy struct {
	opts   Options
	logf   func(string, ...any)
	out    *lineWriter
	rt     *roundTripper
	hc     *http.Client
	ignore []string

	// reinitMu serializes replacing the remote session.
	reinitMu sync.Mutex

	mu          sync.Mutex
	sess        *session
	kind        Mode // ModeHTTPOnly (streamable) or ModeSSEOnly once chosen
	initReq     *jsonrpc.Request
	initialized bool

	// calls holds every call awaiting an answer, the client's and the
	// proxy's own, and the session generations (see callTable).
	calls *callTable

	wg sync.WaitGroup // every goroutine the proxy starts

	// stdinEnded is closed when the client's stdin has ended (or failed),
	// so that a message whose dispatch waits (a notification held up by a
	// sign-in in progress) does not keep the proxy from noticing.
	stdinEnded chan struct{}
}

// session is one remote session. Its lifetime is a context that connect
// derives from the proxy's; that context is never kept here: connect passes
// it to the goroutines it starts, and everything else derives its own with
// bind.
type session struct {
	conn mcp.Connection
	gen  int
	kind Mode
	// done is closed when the session ends: close was called, or the
	// proxy's context was cancelled.
	done   <-chan struct{}
	cancel context.CancelFunc // ends the session's context (closes done)
	once   sync.Once

	boundMu sync.Mutex
	closed  bool                 // close has cancelled bound
	bound   []context.CancelFunc // contexts handed out by bind

	standaloneOnce sync.Once
	ready          atomic.Bool // a response arrived: the session was established
	replayed       bool        // reinit replayed the client's initialize on it
}

func (s *session) close() {
	s.once.Do(func() {
		// Everything running on the session stops first (requests whose
		// answers will never come, a sign-in in progress), then the DELETE
		// that terminates the remote session (streamable), bounded by
		// deleteTimeout.
		s.boundMu.Lock()
		s.closed = true
		bound := s.bound
		s.bound = nil
		s.boundMu.Unlock()
		s.cancel()
		for _, cancel := range bound {
			cancel()
		}
		_ = s.conn.Close()
	})
}

// ended reports whether s has ended (see done) without blocking.
func (s *session) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// bind returns a context derived from ctx (the proxy's) that is also
// cancelled when s closes, at once if it has already: the session's lifetime
// for code that was not handed the session's context. It lives until s
// closes or ctx ends, and allocates, so it is for once-per-session and
// rare paths, never once per message.
func (s *session) bind(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	s.boundMu.Lock()
	if s.closed {
		s.boundMu.Unlock()
		cancel()
		return ctx
	}
	s.bound = append(s.bound, cancel)
	s.boundMu.Unlock()
	return ctx
}

func newProxy(opts Options, out io.Writer) (*proxy, error) {
	mode, err := ParseMode(string(opts.Mode))
	if err != nil {
		return nil, err
	}
	opts.Mode = mode
	if err := ValidatePatterns(opts.IgnoreTools); err != nil {
		return nil, err
	}
	if opts.AuthTimeout <= 0 {
		opts.AuthTimeout = 5 * time.Minute
	}
	opts.Hints = opts.Hints.withDefaults()
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = limit.DefaultMessageSize
	}
	if opts.Server == "" {
		opts.Server = opts.URL
		if u, err := url.Parse(opts.URL); err == nil && u.Host != "" {
			opts.Server = u.Host
		}
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var base http.RoundTripper
	var jar http.CookieJar
	var checkRedirect func(*http.Request, []*http.Request) error
	if opts.HTTPClient != nil {
		base, jar, checkRedirect = opts.HTTPClient.Transport, opts.HTTPClient.Jar, opts.HTTPClient.CheckRedirect
	}
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		// Raw reads and writes on the connections (internal/rawio): no
		// scheduler system-call path, no monitor wake-up per message.
		t.DialContext = rawio.DialContext(rawio.Dialer())
		base = t
	}
	rt, err := newRoundTripper(opts, base, logf)
	if err != nil {
		return nil, err
	}
	next := checkRedirect
	checkRedirect = func(req *http.Request, via []*http.Request) error {
		if err := rt.inner.CheckRedirect(req, via); err != nil || next == nil {
			return err
		}
		return next(req, via)
	}
	return &proxy{
		opts:       opts,
		logf:       logf,
		out:        &lineWriter{w: out},
		rt:         rt,
		hc:         &http.Client{Transport: rt, Jar: jar, CheckRedirect: checkRedirect},
		ignore:     opts.IgnoreTools,
		calls:      newCallTable(),
		stdinEnded: make(chan struct{}),
	}, nil
}

// EOFGrace bounds how long the proxy, once stdin has ended, waits for the
// answers to the client's requests still in flight before it exits. The
// MCP stdio transport ends a session by closing the server's stdin and
// waiting for it to exit, so a client that is gone must not be kept
// waiting for answers that may never come: the grace is short, and with
// the DELETE that ends the remote session (deleteTimeout) the proxy is gone
// within a second of stdin's end. A script that pipes its requests and
// closes stdin still gets the answers that arrive within it. A request the
// client cancelled (notifications/cancelled) is not waited for. A signal
// (SIGTERM, as the MCP stdio transport escalates to) ends the proxy at once.
const EOFGrace = 500 * time.Millisecond

// readAhead is how many client messages the proxy reads ahead of the one
// being dispatched.
const readAhead = 64

// drain waits until no client request awaits an answer, at most grace or
// until ctx ends.
func (p *proxy) drain(ctx context.Context, grace time.Duration) {
	idle := p.calls.idleCh()
	select {
	case <-idle:
		return
	default:
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	select {
	case <-idle:
	case <-ctx.Done():
	case <-deadline.C:
		p.logf("stdin closed; %d requests still unanswered after %s, exiting", p.calls.pending(), grace)
	}
}

func (p *proxy) run(ctx context.Context, in io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer p.wg.Wait()
	defer func() {
		// Requests in flight and a sign-in in progress end now, so that
		// the goroutines p.wg waits for return at once.
		cancel()
		p.mu.Lock()
		s := p.sess
		p.sess = nil
		p.mu.Unlock()
		if s != nil {
			s.close()
		}
	}()

	first := p.opts.Mode
	if first == ModeHTTPFirst {
		first = ModeHTTPOnly
	}
	if first == ModeSSEFirst {
		first = ModeSSEOnly
	}
	s, err := p.connect(ctx, first)
	if err != nil && p.opts.Mode == ModeSSEFirst {
		p.logf("SSE connection failed (%v); trying Streamable HTTP", err)
		s, err = p.connect(ctx, ModeHTTPOnly)
	}
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.sess, p.kind = s, s.kind
	p.mu.Unlock()

	type lineResult struct {
		msgs lineMessages
		err  error
	}
	// The reader reads ahead of the loop (up to readAhead messages), so
	// that stdin's end is seen while the loop waits in dispatch — a
	// notification held up by a sign-in in progress — and ends that wait.
	lines := make(chan lineResult, readAhead)
	reader := &lineReader{r: bufio.NewReaderSize(in, 64<<10)}
	// The stdin reader is not in p.wg: it can only stop when in delivers data
	// or EOF (see Run).
	go func() {
		for {
			msgs, err := reader.next(p.decodeWhole)
			var bad *badLineError
			last := err != nil && !errors.As(err, &bad)
			if last {
				close(p.stdinEnded)
			}
			select {
			case lines <- lineResult{msgs, err}:
			case <-ctx.Done():
				return
			}
			if last {
				return
			}
		}
	}()
	// cur is the session the client's messages were last dispatched on and
	// curCtx its lifetime (bound once per session, so that dispatching a
	// message costs no context of its own). Both are the loop's own.
	var cur *session
	var curCtx context.Context
	sent := make(chan struct{}, 1) // see dispatch
	for {
		var r lineResult
		select {
		case <-ctx.Done():
			p.logf("shutting down")
			return nil
		case r = <-lines:
		}
		if r.err != nil {
			var bad *badLineError
			if errors.As(r.err, &bad) {
				p.logf("%v", r.err)
				p.reply(jsonrpc.ID{}, codeParse, r.err.Error())
				continue
			}
			if errors.Is(r.err, io.EOF) {
				// The client closed stdin: answer what it already asked
				// (a script that pipes its requests and closes stdin still
				// gets every answer), then end the session.
				p.drain(ctx, EOFGrace)
				return nil
			}
			return fmt.Errorf("reading from the client: %w", r.err)
		}
		msgs := r.msgs.batch
		if msgs == nil {
			msgs = []inMessage{r.msgs.one}
		}
		for _, m := range msgs {
			if !p.fromClient(m.msg) {
				continue
			}
			if s := p.current(); s != cur {
				cur, curCtx = s, nil
				if s != nil {
					curCtx = s.bind(ctx) // ends when s closes, as every session does
				}
			}
			if !p.dispatch(ctx, curCtx, cur, m, sent) {
				sent = make(chan struct{}, 1)
			}
		}
		if err := p.out.failed(); err != nil {
			return err
		}
	}
}

// connect opens a remote connection of the given kind.
func (p *proxy) connect(ctx context.Context, kind Mode) (*session, error) {
	sctx, cancel := context.WithCancel(ctx)
	var conn mcp.Connection
	if kind == ModeSSEOnly {
		// oauth.Transport bounds each event, with a typed error.
		t := &mcp.SSEClientTransport{Endpoint: p.opts.URL, HTTPClient: p.hc, MaxEventSize: -1}
		var err error
		if conn, err = t.Connect(sctx); err != nil {
			cancel()
			return nil, fmt.Errorf("connecting to %s: %w", p.opts.URL, err)
		}
	} else {
		// Streamable HTTP needs no connect step: the first POST opens the session.
		sc := newStreamConn(p.opts.URL, p.hc, p.opts.MaxMessageSize)
		if !configured(p.opts.Headers, protocolVersionHeader) {
			// (A configured one goes first, as oauth.Transport sets it.)
			sc.header = p.rt.header
		}
		conn = sc
	}
	s := &session{conn: conn, gen: p.calls.newSession(), kind: kind, done: sctx.Done(), cancel: cancel}
	if sc, ok := conn.(*streamConn); ok {
		// Answers are handled by the goroutine that posted the message;
		// failures come back from Write, so there is nothing to read.
		sc.deliver = func(msg jsonrpc.Message, raw []byte, light bool) { p.fromServer(s, msg, raw, light) }
		return s, nil
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.readRemote(ctx, sctx, s)
	}()
	return s, nil
}

// configured reports whether headers has one named name (any case).
func configured(headers map[string]string, name string) bool {
	for k := range headers {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

func (p *proxy) current() *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sess
}

// decodeWhole reports whether the client's requests with method are decoded
// whole, params included: those fromClient looks inside. The others are
// forwarded as the client wrote them (see decodeHead).
func (p *proxy) decodeWhole(method string) bool {
	switch method {
	case "initialize", "notifications/cancelled":
		return true
	case "tools/call":
		return len(p.ignore) > 0
	}
	return false
}

// fromClient handles one message from the client and reports whether it is
// to be dispatched to the server (false: it was answered here).
func (p *proxy) fromClient(msg jsonrpc.Message) bool {
	if req, ok := msg.(*jsonrpc.Request); ok {
		var filter, version bool
		switch req.Method {
		case "initialize":
			if req.IsCall() {
				version = true
				p.mu.Lock()
				p.initReq = req
				p.initialized = false
				p.mu.Unlock()
			}
		case "notifications/initialized":
			p.mu.Lock()
			p.initialized = true
			p.mu.Unlock()
		case "tools/call":
			if len(p.ignore) > 0 && req.IsCall() {
				var params struct {
					Name string `json:"name"`
				}
				if json.Unmarshal(req.Params, &params) == nil && p.ignored(params.Name) {
					p.reply(req.ID, codeInvalidParams, fmt.Sprintf("unknown tool %q (hidden by %s)", params.Name, p.opts.Hints.IgnoreTools))
					return false
				}
			}
		case "notifications/cancelled":
			// Forwarded as it is (the server stops working on the
			// request); the proxy stops waiting for its answer, so that
			// stdin's end does not wait for it. A late answer still
			// passes through, as the protocol allows.
			var params struct {
				RequestID json.RawMessage `json:"requestId"`
			}
			if json.Unmarshal(req.Params, &params) == nil && len(params.RequestID) > 0 {
				var v any
				if json.Unmarshal(params.RequestID, &v) == nil {
					if id, err := jsonrpc.MakeID(v); err == nil && id.IsValid() {
						p.calls.cancel(id)
					}
				}
			}
		case "server/discover":
			version = true
		case "tools/list":
			filter = len(p.ignore) > 0
		}
		if req.IsCall() {
			p.calls.add(req.ID, filter, version)
		}
	}
	return true
}

func (p *proxy) ignored(name string) bool {
	for _, pat := range p.ignore {
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
	}
	return false
}

// dispatch sends msg to the remote server in its own goroutine, returning
// once the HTTP request carrying it is on the wire (or has failed), so that
// messages leave in the order the client sent them while a slow response
// does not hold up the next message. ctx is the proxy's lifetime; s is the
// current session and sctx its lifetime (nil, nil while shutting down).
//
// sent is the loop's channel (buffered, 1) on which the message's goroutine
// says it is written, once; it is empty when dispatch is called. dispatch
// reports false when it stopped waiting before that (the proxy or stdin
// ended): a late signal may still fill sent, so the loop takes a new one.
// One channel for all messages spares each a channel, a sync.Once and
// their closures: a message costs its outgoing, its goroutine and its trace.
func (p *proxy) dispatch(ctx, sctx context.Context, s *session, m inMessage, sent chan struct{}) bool {
	o := &outgoing{sent: sent}
	// A request may go on once it is written: its answer comes later. A
	// notification (or a response to the server) is only accepted with the
	// HTTP answer (202), and the server may handle two POSTs in either
	// order, so the next message waits for that: notifications/initialized
	// then reaches the server before the tools/list written right after it.
	if req, ok := m.msg.(*jsonrpc.Request); ok && req.ID.IsValid() {
		o.wrote = func(httptrace.WroteRequestInfo) { o.tell() }
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer o.tell()
		p.forward(ctx, sctx, s, m, o)
	}()
	select {
	case <-sent:
		return true
	case <-ctx.Done():
	case <-p.stdinEnded: // the client is gone: stop waiting (see EOFGrace)
	}
	return false
}

// outgoing is how the goroutine forwarding one client message tells
// dispatch that it is written.
type outgoing struct {
	sent  chan<- struct{}
	told  atomic.Bool
	wrote func(httptrace.WroteRequestInfo) // tell, as a trace hook; nil: told when forward returns
	// trace is the first write's trace (a write after a re-initialization
	// gets one of its own: httptrace may have composed this one with a
	// trace of ctx's).
	trace  httptrace.ClientTrace
	traced bool // trace is in use (only forward's goroutine writes)
}

// tell signals sent, once. It never blocks: sent holds one signal and gets
// at most this one until dispatch has taken it (see dispatch).
func (o *outgoing) tell() {
	if o.told.CompareAndSwap(false, true) {
		o.sent <- struct{}{}
	}
}

// withTrace returns ctx with a trace that tells o once the HTTP request is
// written, or ctx itself when o is told only when forward returns.
func (o *outgoing) withTrace(ctx context.Context) context.Context {
	if o == nil || o.wrote == nil {
		return ctx
	}
	t := &o.trace
	if o.traced {
		t = &httptrace.ClientTrace{}
	}
	o.traced = true
	t.WroteRequest = o.wrote
	return httptrace.WithClientTrace(ctx, t)
}

// forward writes msg to the remote session s (the current one when msg was
// dispatched), whose lifetime is sctx; ctx is the proxy's. When the session
// has expired (or was replaced while msg was being written) it
// re-initializes once and writes msg again; when Streamable HTTP turns out
// to be unsupported at the first message (ModeHTTPFirst) it falls back to
// SSE.
func (p *proxy) forward(ctx, sctx context.Context, s *session, msg inMessage, o *outgoing) {
	req, isReq := msg.msg.(*jsonrpc.Request)
	if s == nil { // shutting down
		if isReq && req.IsCall() {
			p.calls.cancel(req.ID)
		}
		return
	}
	ws := s // the session msg was last written on
	err := p.write(sctx, s, msg, o)
	if err != nil && ctx.Err() == nil {
		first := isReq && (req.Method == "initialize" || req.Method == "server/discover")
		switch {
		case errors.Is(err, mcp.ErrSessionMissing) || errors.Is(err, mcp.ErrConnectionClosed) || s.ended() || p.replaced(s):
			// A closed connection or an ended session means another
			// goroutine (the standalone stream finding the session gone)
			// is replacing s right now; reinit waits for it and returns
			// the new session.
			reason := "the remote session expired (HTTP 404)"
			if !errors.Is(err, mcp.ErrSessionMissing) {
				reason = "the remote connection was closed"
			}
			ns, rerr := p.reinit(ctx, s, reason)
			if rerr != nil {
				err = rerr
				break
			}
			if isReq && (req.Method == "initialize" || req.Method == "notifications/initialized") && ns.replayed {
				err = nil // the replay already sent it
				break
			}
			ws = ns
			err = p.write(ns.bind(ctx), ns, msg, o)
		case first && s.kind == ModeHTTPOnly && p.opts.Mode == ModeHTTPFirst && fallbackStatus(int(p.rt.last.Load())):
			var ns *session
			ns, err = p.fallback(ctx, s, err)
			if err == nil {
				ws = ns
				err = p.write(ns.bind(ctx), ns, msg, o)
			}
		}
	}
	if err == nil && isReq && req.IsCall() && p.calls.written(req.ID, ws.gen) {
		// ws was lost after the write, while this writer held the call.
		// (A call that failed is cancelled below.)
		if ctx.Err() == nil {
			p.reply(req.ID, codeInternal, sessionLostMessage)
		}
		return
	}
	if err == nil || ctx.Err() != nil {
		if isReq && req.Method == "notifications/initialized" && err == nil {
			p.startStandalone(ctx, p.current())
		}
		if err != nil && isReq && req.IsCall() {
			p.calls.cancel(req.ID) // shutting down
		}
		return
	}
	p.logf("forwarding to the server failed: %v", err)
	if isReq && req.IsCall() && p.calls.cancel(req.ID) {
		p.reply(req.ID, codeInternal, p.describe(err))
	}
}

// replaced reports whether s, once initialized, is no longer the current session.
func (p *proxy) replaced(s *session) bool {
	cur := p.current()
	return s.ready.Load() && cur != nil && cur != s
}

// fallback replaces the Streamable HTTP session s, which the server refused,
// with an SSE session; ctx is the proxy's lifetime.
func (p *proxy) fallback(ctx context.Context, s *session, cause error) (*session, error) {
	p.reinitMu.Lock()
	defer p.reinitMu.Unlock()
	if cur := p.current(); cur != s {
		if cur == nil {
			return nil, errors.New("the proxy is shutting down")
		}
		return cur, nil
	}
	p.logf("the server answered Streamable HTTP with %d; falling back to SSE", p.rt.last.Load())
	ns, err := p.connect(ctx, ModeSSEOnly)
	if err != nil {
		return nil, fmt.Errorf("%w; SSE fallback: %w", cause, err)
	}
	p.mu.Lock()
	p.sess, p.kind = ns, ModeSSEOnly
	p.mu.Unlock()
	s.close()
	return ns, nil
}

func fallbackStatus(code int) bool {
	return code == http.StatusNotFound || code == http.StatusMethodNotAllowed
}

// write sends msg on s within ctx, which must end when s does (the session's
// context, or one from s.bind); o, when not nil, is told once the HTTP
// request is written.
func (p *proxy) write(ctx context.Context, s *session, msg inMessage, o *outgoing) error {
	ctx = o.withTrace(ctx)
	if sc, ok := s.conn.(*streamConn); ok && msg.raw != nil {
		return sc.writeRaw(ctx, msg.raw, msg.msg) // the client's bytes, not re-encoded
	}
	full, err := msg.full()
	if err != nil {
		return err
	}
	return s.conn.Write(ctx, full)
}

// sessionLostMessage answers a call whose session was lost before its answer came.
const sessionLostMessage = "mcplink proxy: the remote session was lost before this request was answered; retry it"

// reply sends the client an error response for id.
func (p *proxy) reply(id jsonrpc.ID, code int64, message string) {
	if err := p.out.write(&jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: code, Message: message}}); err != nil {
		p.logf("%v", err)
	}
}

// readRemote delivers s's messages to the client until s fails or closes;
// ctx is the proxy's lifetime and sctx the session's.
func (p *proxy) readRemote(ctx, sctx context.Context, s *session) {
	for {
		msg, err := s.conn.Read(sctx)
		if err != nil {
			if sctx.Err() != nil || ctx.Err() != nil {
				return
			}
			if p.current() != s || !s.ready.Load() {
				return // replaced, or never established (forward reports it)
			}
			reason := fmt.Sprintf("the remote connection failed (%v)", err)
			if errors.Is(err, mcp.ErrSessionMissing) {
				reason = "the remote session expired (HTTP 404)"
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				if _, err := p.reinit(ctx, s, reason); err != nil {
					p.logf("giving up: %v", err)
				}
			}()
			return
		}
		p.fromServer(s, msg, nil, false)
	}
}

// fromServer handles one message from the remote server. When light, msg
// lacks its params or result and raw, one line, is the message as the server
// sent it (see decodeHead), forwarded as it is unless the proxy needs to look
// inside.
func (p *proxy) fromServer(s *session, msg jsonrpc.Message, raw []byte, light bool) {
	if resp, ok := msg.(*jsonrpc.Response); ok {
		s.ready.Store(true)
		c, _ := p.calls.resolve(resp.ID)
		if light && (c.waiter != nil || c.version || c.filter) {
			whole, err := decodeMessage(raw)
			if err != nil {
				p.logf("decoding a message from the server: %v", err)
				return
			}
			resp, light = whole.(*jsonrpc.Response), false
		}
		if c.waiter != nil {
			c.waiter <- resp // buffered, and resolved once
			return
		}
		if c.version && resp.Error == nil {
			p.noteInitResult(resp.Result)
		}
		if c.filter && resp.Error == nil {
			if out, err := p.filterTools(resp.Result); err == nil {
				resp = &jsonrpc.Response{ID: resp.ID, Result: out}
			} else {
				p.logf("tools/list result not filtered: %v", err)
			}
		}
		msg = resp
	}
	var err error
	if light {
		err = p.out.writeRaw(raw)
	} else {
		err = p.out.write(msg)
	}
	if err != nil {
		p.logf("%v", err)
	}
}

func (p *proxy) noteInitResult(result json.RawMessage) {
	var r struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if json.Unmarshal(result, &r) == nil {
		p.rt.setVersion(r.ProtocolVersion)
	}
}

// filterTools removes ignored tools from a tools/list result, keeping every
// other field as it was.
func (p *proxy) filterTools(result json.RawMessage) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(result, &obj); err != nil {
		return nil, err
	}
	var tools []json.RawMessage
	if err := json.Unmarshal(obj["tools"], &tools); err != nil {
		return nil, err
	}
	kept := tools[:0]
	for _, t := range tools {
		var tool struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(t, &tool); err != nil || !p.ignored(tool.Name) {
			kept = append(kept, t)
		}
	}
	raw, err := json.Marshal(kept)
	if err != nil {
		return nil, err
	}
	obj["tools"] = raw
	return json.Marshal(obj)
}

// reinit replaces the failed session old with a new one, replaying the
// client's initialize request and initialized notification. Calls pending on
// the old session that were fully written get an error (those still being
// written are retried by their writers). ctx is the proxy's lifetime.
func (p *proxy) reinit(ctx context.Context, old *session, reason string) (*session, error) {
	p.reinitMu.Lock()
	defer p.reinitMu.Unlock()
	p.mu.Lock()
	cur, kind, initReq, initialized := p.sess, p.kind, p.initReq, p.initialized
	p.mu.Unlock()
	if cur != old {
		if cur == nil {
			return nil, errors.New("the proxy is shutting down")
		}
		return cur, nil
	}
	old.close()
	for _, id := range p.calls.lose(old.gen) {
		p.reply(id, codeInternal, sessionLostMessage)
	}
	p.logf("%s; re-initializing a new session", reason)

	ns, err := p.connect(ctx, kind)
	if err != nil {
		return nil, err
	}
	if initReq != nil {
		if err := p.replayInit(ns.bind(ctx), ns, initReq, initialized); err != nil {
			ns.close()
			return nil, fmt.Errorf("re-initializing the remote session: %w", err)
		}
		ns.replayed = true
	}
	p.mu.Lock()
	if p.sess != old { // shutting down
		p.mu.Unlock()
		ns.close()
		return nil, errors.New("the proxy is shutting down")
	}
	p.sess = ns
	p.mu.Unlock()
	if initReq != nil && initialized {
		p.startStandalone(ctx, ns)
	}
	p.logf("new remote session ready")
	return ns, nil
}

// replayInit sends the client's initialize request (and initialized
// notification) on s, whose lifetime is ctx.
func (p *proxy) replayInit(ctx context.Context, s *session, initReq *jsonrpc.Request, initialized bool) error {
	id, ch := p.calls.expect()
	defer p.calls.forget(id)
	if err := p.write(ctx, s, inMessage{msg: &jsonrpc.Request{ID: id, Method: initReq.Method, Params: initReq.Params}}, nil); err != nil {
		return err
	}
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case resp := <-ch:
		if resp.Error != nil {
			return resp.Error
		}
		p.noteInitResult(resp.Result)
	case <-t.C:
		return errors.New("no answer to initialize within 30s")
	case <-ctx.Done():
		return ctx.Err()
	}
	if initialized {
		return p.write(ctx, s, inMessage{msg: &jsonrpc.Request{Method: "notifications/initialized", Params: json.RawMessage(`{}`)}}, nil)
	}
	return nil
}
