package manager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"

	"github.com/mcplink/mcplink/config"
)

// recorder remembers the last non-2xx HTTP answer of one connection attempt.
type recorder struct {
	mu        sync.Mutex
	code      int
	challenge string
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

// last returns the last non-2xx status (0 if none) and its WWW-Authenticate.
func (r *recorder) last() (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.code, r.challenge
}

// headerTransport adds an entry's configured headers to every request and
// records non-2xx answers. A header the request already carries (such as an
// OAuth Authorization set by the SDK) is not overridden. Every request is also
// bound to the connection's lifetime, closed: when it is closed, whatever the
// SDK still has in flight (for instance a best-effort notifications/cancelled
// to a hung server) is aborted, so closing never waits on a dead peer.
type headerTransport struct {
	closed  <-chan struct{}
	base    http.RoundTripper
	headers map[string]string
	rec     *recorder
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
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
	req = req.Clone(ctx)
	for k, v := range t.headers {
		if req.Header.Get(k) == "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		cancel()
		return nil, err
	}
	t.rec.record(resp)
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: cancel}
	return resp, nil
}

// errConnClosed is a request made after its connection was closed.
var errConnClosed = errors.New("connection closed")

// oauthTransport gives the SSE transport, which has no OAuth handler of its
// own, what StreamableClientTransport does with one: the handler's token on
// every request and, on a 401 or 403, one Authorize (a refresh, a step-up, or
// the browser flow of an interactive handler) and one retry.
type oauthTransport struct {
	base http.RoundTripper
	h    auth.OAuthHandler
}

func (t *oauthTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r, err := t.withToken(req, req.Body)
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil || (resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden) {
		return resp, err
	}
	if req.Body != nil && req.GetBody == nil {
		return resp, nil // the body cannot be sent again: the caller sees the refusal
	}
	if err := t.h.Authorize(req.Context(), r, resp); err != nil { // closes resp.Body
		return nil, err
	}
	var body io.ReadCloser
	if req.GetBody != nil {
		if body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	if r, err = t.withToken(req, body); err != nil {
		if body != nil {
			_ = body.Close()
		}
		return nil, err
	}
	return t.base.RoundTrip(r)
}

// withToken returns a copy of req with body and the handler's current access
// token. Without a usable token (none stored, or a refresh refused with
// invalid_grant) the request goes without one, and its 401 leads to
// Authorize, as in the Streamable HTTP transport.
func (t *oauthTransport) withToken(req *http.Request, body io.ReadCloser) (*http.Request, error) {
	r := req.Clone(req.Context())
	r.Body = body
	ts, err := t.h.TokenSource(req.Context())
	if err != nil || ts == nil {
		return r, err
	}
	tok, err := ts.Token()
	var re *oauth2.RetrieveError
	switch {
	case err == nil && tok != nil:
		r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	case errors.As(err, &re) && re.ErrorCode == "invalid_grant":
	case err != nil:
		return nil, err
	}
	return r, nil
}

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

// httpClient returns a client for one connection attempt to e.
func (m *Manager) httpClient(closed <-chan struct{}, e *config.Entry, rec *recorder) *http.Client {
	base := m.opts.HTTPClient
	if base == nil {
		base = &http.Client{}
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &http.Client{
		Transport:     &headerTransport{closed: closed, base: rt, headers: e.Headers, rec: rec},
		CheckRedirect: base.CheckRedirect,
		Jar:           base.Jar,
	}
}

// remoteResult is the outcome of connecting to a remote server.
type remoteResult struct {
	session   *mcp.ClientSession
	transport string
	err       error
	rec       *recorder // of the attempt whose error is err
	oauth     bool      // an OAuth handler was in use
}

// connectRemote tries Streamable HTTP, then SSE when the endpoint answered
// 404 or 405. When both fail the error names the Streamable HTTP cause first.
// connCtx bounds every HTTP request of the connection (see headerTransport);
// the SSE event stream also lives in it.
func (m *Manager) connectRemote(ctx, connCtx context.Context, e *config.Entry, client *mcp.Client) remoteResult {
	rec := &recorder{}
	st := &mcp.StreamableClientTransport{
		Endpoint:   e.URL,
		HTTPClient: m.httpClient(connCtx.Done(), e, rec),
		MaxRetries: 2,
	}
	var h auth.OAuthHandler
	if m.opts.OAuth != nil && !e.OAuthDisabled {
		var err error
		if h, err = m.opts.OAuth.Handler(e); err != nil {
			return remoteResult{err: err, rec: rec}
		}
		st.OAuthHandler = h
		// DPoP-bound tokens need the DPoP scheme and a proof per request
		// (oauth.TransportWrapper); the wrapper sits below headerTransport
		// so the recorder sees the final answer of a nonce retry.
		st.HTTPClient.Transport.(*headerTransport).base = wrapDPoP(h, rt(st.HTTPClient))
	}
	cs, err := client.Connect(ctx, st, m.opts.sessionOptions())
	if err == nil {
		return remoteResult{session: cs, transport: TransportStreamable}
	}
	code, _ := rec.last()
	serr := &streamableError{code: code, err: err}
	if (code != http.StatusNotFound && code != http.StatusMethodNotAllowed) || ctx.Err() != nil {
		return remoteResult{err: serr, rec: rec, oauth: h != nil}
	}
	// The SSE transport ties its event stream to the context given to
	// Connect, so it gets connCtx, which outlives the connect deadline. It
	// has no OAuth handler: oauthTransport does that part, below the
	// recorder and above the DPoP wrapper.
	sseRec := &recorder{}
	hc := m.httpClient(connCtx.Done(), e, sseRec)
	if h != nil {
		hc.Transport.(*headerTransport).base = &oauthTransport{h: h, base: wrapDPoP(h, rt(hc))}
	}
	cs, sseErr := client.Connect(connCtx, &mcp.SSEClientTransport{Endpoint: e.URL, HTTPClient: hc}, m.opts.sessionOptions())
	if sseErr == nil {
		return remoteResult{session: cs, transport: TransportSSE}
	}
	return remoteResult{
		err:   &fallbackError{streamable: serr, sse: sseErr},
		rec:   sseRec,
		oauth: h != nil,
	}
}

// rt is the transport below a client's headerTransport.
func rt(hc *http.Client) http.RoundTripper { return hc.Transport.(*headerTransport).base }

// wrapDPoP puts h's DPoP wrapper (when it has one) around base.
func wrapDPoP(h auth.OAuthHandler, base http.RoundTripper) http.RoundTripper {
	if w, ok := h.(interface {
		WrapTransport(http.RoundTripper) http.RoundTripper
	}); ok {
		return w.WrapTransport(base)
	}
	return base
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
