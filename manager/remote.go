package manager

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

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
// bound to ctx, the connection's lifetime: cancelling it aborts whatever the
// SDK still has in flight (for instance a best-effort notifications/cancelled
// to a hung server), so closing never waits on a dead peer.
type headerTransport struct {
	ctx     context.Context
	base    http.RoundTripper
	headers map[string]string
	rec     *recorder
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.ctx.Err(); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("connection closed: %w", err)
	}
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	req = req.Clone(ctx)
	for k, v := range t.headers {
		if req.Header.Get(k) == "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	t.rec.record(resp)
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: func() { stop(); cancel() }}
	return resp, nil
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
func (m *Manager) httpClient(ctx context.Context, e *config.Entry, rec *recorder) *http.Client {
	base := m.opts.HTTPClient
	if base == nil {
		base = &http.Client{}
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &http.Client{
		Transport:     &headerTransport{ctx: ctx, base: rt, headers: e.Headers, rec: rec},
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
		HTTPClient: m.httpClient(connCtx, e, rec),
		MaxRetries: 2,
	}
	if m.opts.OAuth != nil && !e.OAuthDisabled {
		h, err := m.opts.OAuth.Handler(e)
		if err != nil {
			return remoteResult{err: err, rec: rec}
		}
		st.OAuthHandler = h
		// DPoP-bound tokens need the DPoP scheme and a proof per request
		// (oauth.TransportWrapper); the wrapper sits below headerTransport
		// so the recorder sees the final answer of a nonce retry.
		if w, ok := h.(interface {
			WrapTransport(http.RoundTripper) http.RoundTripper
		}); ok {
			if ht, ok := st.HTTPClient.Transport.(*headerTransport); ok {
				ht.base = w.WrapTransport(ht.base)
			}
		}
	}
	usesOAuth := st.OAuthHandler != nil
	cs, err := client.Connect(ctx, st, m.opts.sessionOptions())
	if err == nil {
		return remoteResult{session: cs, transport: TransportStreamable}
	}
	code, _ := rec.last()
	serr := &streamableError{code: code, err: err}
	if (code != http.StatusNotFound && code != http.StatusMethodNotAllowed) || ctx.Err() != nil {
		return remoteResult{err: serr, rec: rec, oauth: usesOAuth}
	}
	// The SSE transport ties its event stream to the context given to
	// Connect, so it gets connCtx, which outlives the connect deadline.
	sseRec := &recorder{}
	cs, sseErr := client.Connect(connCtx, &mcp.SSEClientTransport{Endpoint: e.URL, HTTPClient: m.httpClient(connCtx, e, sseRec)}, m.opts.sessionOptions())
	if sseErr == nil {
		return remoteResult{session: cs, transport: TransportSSE}
	}
	return remoteResult{
		err: &fallbackError{streamable: serr, sse: sseErr},
		rec: sseRec,
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
