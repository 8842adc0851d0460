package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"golang.org/x/oauth2"
)

// protocolVersionHeader is the Streamable HTTP protocol version header.
const protocolVersionHeader = "Mcp-Protocol-Version"

// roundTripper adds the configured headers, the negotiated protocol version
// and the OAuth bearer token to every request. On a 401 or 403 it lets the
// OAuth handler fix things (refresh, or the browser flow) and retries the
// request once, so neither the SDK connection nor the client notices.
type roundTripper struct {
	base        http.RoundTripper
	headers     map[string]string
	oauth       auth.OAuthHandler
	authTimeout time.Duration
	logf        func(string, ...any)

	authMu sync.Mutex // serializes Authorize: one refresh or browser flow at a time
	// ts caches the handler's token source (nil inside: nothing stored, so
	// requests go without a token) until the next Authorize: asking the
	// handler reads the credential store.
	ts      atomic.Pointer[cachedSource]
	version atomic.Pointer[string] // negotiated protocol version, once known
	last    atomic.Int64           // last non-2xx status seen (for transport fallback)
}

func (t *roundTripper) setVersion(v string) {
	if v != "" {
		t.version.Store(&v)
	}
}

func (t *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	r, err := t.prepare(req)
	if err != nil {
		return nil, err
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if !authStatus(resp.StatusCode) {
		t.record(resp)
		return resp, nil
	}
	if t.oauth == nil || (req.Body != nil && req.GetBody == nil) {
		// Nothing can fix it here (no OAuth, or a body that cannot be
		// replayed): a typed error says which status it was, whichever
		// transport sent the request.
		t.record(resp)
		return nil, refusedError(req, resp)
	}
	se := statusError(req, resp, nil) // the challenge, before Authorize consumes resp
	if err := t.authorize(req.Context(), r, resp); err != nil {
		se.Err = err
		return nil, se
	}
	r, err = t.prepare(req)
	if err != nil {
		return nil, err
	}
	resp, err = t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	t.record(resp)
	if authStatus(resp.StatusCode) {
		return nil, refusedError(req, resp)
	}
	return resp, nil
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

// authorize runs the handler's Authorize (which consumes resp) with at most
// one flow at a time, bounded by authTimeout.
func (t *roundTripper) authorize(ctx context.Context, req *http.Request, resp *http.Response) error {
	t.authMu.Lock()
	defer t.authMu.Unlock()
	if resp.StatusCode == http.StatusUnauthorized {
		t.logf("the server answered 401 Unauthorized; refreshing the credentials")
	}
	actx, cancel := context.WithTimeout(ctx, t.authTimeout)
	defer cancel()
	err := t.oauth.Authorize(actx, req, resp)
	t.ts.Store(nil)
	if err != nil {
		t.logf("authorization failed: %v", err)
	}
	return err
}

// prepare clones req with the proxy's headers set.
func (t *roundTripper) prepare(req *http.Request) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.Body != nil && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	if t.oauth != nil {
		cs := t.ts.Load()
		if cs == nil {
			ts, err := t.oauth.TokenSource(req.Context())
			if err != nil {
				return nil, err
			}
			cs = &cachedSource{ts}
			t.ts.Store(cs)
		}
		if ts := cs.ts; ts != nil {
			tok, err := ts.Token()
			var re *oauth2.RetrieveError
			switch {
			case err == nil && tok != nil:
				r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			case errors.As(err, &re) && re.ErrorCode == "invalid_grant":
				// No usable token: send without one; the 401 leads to Authorize.
			case err != nil:
				return nil, err
			}
		}
	}
	for k, v := range t.headers {
		if r.Header.Get(k) == "" {
			r.Header.Set(k, v)
		}
	}
	if v := t.version.Load(); v != nil && r.Header.Get(protocolVersionHeader) == "" {
		r.Header.Set(protocolVersionHeader, *v)
	}
	return r, nil
}

type cachedSource struct{ ts oauth2.TokenSource }

// drain discards a little of a body and closes it so the connection is reused.
func drain(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	_ = rc.Close()
}
