package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/mcplink/mcplink/oauth"
)

// protocolVersionHeader is the Streamable HTTP protocol version header.
const protocolVersionHeader = "Mcp-Protocol-Version"

// roundTripper is the proxy's view of oauth.Transport, which adds the
// configured headers and the OAuth token (to the server's origin only) and
// runs one Authorize and retry on a 401 or 403: it adds the negotiated
// protocol version, remembers the last non-2xx status (for the transport
// fallback), and turns a final 401 or 403 into a *StatusError, whichever
// transport sent the request.
type roundTripper struct {
	inner *oauth.Transport
	// version holds the negotiated protocol version header, once known.
	version atomic.Pointer[http.Header]
	last    atomic.Int64 // last non-2xx status seen (for transport fallback)
}

// newRoundTripper returns the proxy's transport for opts over base.
func newRoundTripper(opts Options, base http.RoundTripper, logf func(string, ...any)) (*roundTripper, error) {
	t := &roundTripper{}
	signIn := opts.SignIn
	inner, err := oauth.NewTransport(oauth.TransportOptions{
		ServerURL:      opts.URL,
		Headers:        opts.Headers,
		Handler:        opts.OAuth,
		Base:           base,
		MaxMessageSize: opts.MaxMessageSize,
		OnResponse:     t.record,
		Header:         t.header,
		SignIn: func(ctx context.Context, status int, authorize func(context.Context) error) error {
			if ctx.Value(endingSession{}) != nil {
				// The DELETE that ends a session, sent as the proxy
				// exits, never starts a sign-in.
				return errors.New("not signing in to end a session")
			}
			if status == http.StatusUnauthorized {
				logf("the server answered 401 Unauthorized; refreshing the credentials")
			}
			ctx, cancel := context.WithTimeout(ctx, opts.AuthTimeout)
			defer cancel()
			var err error
			if signIn != nil {
				err = signIn(ctx, status, authorize)
			} else {
				err = authorize(ctx)
			}
			if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && errors.Is(err, context.DeadlineExceeded) {
				// The bound ran out, not the caller's context (which
				// would have ended ctx with its own error first).
				err = &SignInTimeoutError{Server: opts.Server, Timeout: opts.AuthTimeout, Err: err}
			}
			if err != nil {
				logf("authorization failed: %v", err)
			}
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	t.inner = inner
	return t, nil
}

// endingSession marks the context of the request that ends a session
// (streamConn.Close): a 401 to it starts no sign-in.
type endingSession struct{}

// header returns the headers the proxy sets on every request to the server
// (the negotiated protocol version, once known), not to be modified.
func (t *roundTripper) header() http.Header {
	if h := t.version.Load(); h != nil {
		return *h
	}
	return nil
}

func (t *roundTripper) setVersion(v string) {
	if v != "" {
		h := http.Header{protocolVersionHeader: {v}}
		t.version.Store(&h)
	}
}

func (t *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(req)
	if err != nil {
		return nil, t.roundTripError(err)
	}
	if authStatus(resp.StatusCode) && t.inner.SameOrigin(req.URL) {
		// Nothing fixed it (no OAuth, a body that cannot be replayed, or
		// the retry was refused too): a typed error says which status it
		// was.
		return nil, refusedError(req, resp)
	}
	return resp, nil
}

// roundTripError is RoundTrip's error for the inner transport's err: a
// *StatusError for a refusal the OAuth handler could not fix. (Apart, so
// that a request that went well pays for no errors.As target.)
func (t *roundTripper) roundTripError(err error) error {
	var ae *oauth.AuthorizeError
	if errors.As(err, &ae) {
		se := &StatusError{Method: ae.Method, URL: ae.URL, Code: ae.Status, Err: ae.Err}
		if ae.Challenge != nil {
			se.Challenge, se.Scope = ae.Challenge.Error, ae.Challenge.Scope
		}
		return se
	}
	return err
}

// authStatus reports whether code is one OAuth may fix: 401 or 403.
func authStatus(code int) bool {
	return code == http.StatusUnauthorized || code == http.StatusForbidden
}

// refusedError consumes resp, a final 401 or 403, and returns its StatusError.
func refusedError(req *http.Request, resp *http.Response) error {
	se := statusError(req, resp, nil)
	drain(resp.Body)
	return se
}

func (t *roundTripper) record(resp *http.Response) {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		t.last.Store(int64(resp.StatusCode))
	}
}

// drain discards a little of a body and closes it so the connection is reused.
func drain(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	_ = rc.Close()
}
