package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"golang.org/x/oauth2"

	"github.com/mcplink/mcplink/limit"
)

// MaxRedirects is the most redirects one request follows (as Go's default
// policy: the request that an 11th redirect asks for is not sent).
const MaxRedirects = 10

// TransportOptions configure NewTransport.
type TransportOptions struct {
	// ServerURL is the configured URL of the MCP server. Its origin (scheme,
	// host and port) is the only one that receives Headers, the OAuth token
	// and DPoP proofs. Required.
	ServerURL string
	// Headers are the entry's configured headers ("headers" in the config,
	// --header for the proxy). They are set on requests to the server's
	// origin when the request does not carry the header already, and
	// removed from requests to any other origin.
	Headers map[string]string
	// Handler, when set, supplies the access token and fixes a 401 or 403
	// (refresh, step-up, or a sign-in for an interactive handler). When it
	// implements TransportWrapper (the engine's handlers do), requests with
	// DPoP-bound tokens get their proof from it.
	Handler auth.OAuthHandler
	// NoAuthorize sends Handler's token but hands a 401 or 403 back as it
	// is, without calling Authorize (mcplink debug shows the refusal).
	NoAuthorize bool
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// MaxMessageSize bounds what is read of one response: a whole body, or
	// one event of a text/event-stream body. 0 means
	// limit.DefaultMessageSize; negative means no bound.
	MaxMessageSize int64
	// SignIn, when set, runs every call of Handler.Authorize: it must call
	// authorize (at most once) or return why it did not. The proxy uses it
	// for its cross-process sign-in lock, its bound on how long a sign-in
	// may take, and its diagnostics. Calls are serialised by the transport.
	// status is the HTTP status (401 or 403) that asked for it.
	SignIn func(ctx context.Context, status int, authorize func(context.Context) error) error
	// Header, when set, returns headers set on each request to the
	// server's origin that does not carry them already (the proxy's
	// negotiated Mcp-Protocol-Version), after Headers. It is called once per
	// request and what it returns is not modified; nil adds nothing.
	Header func() http.Header
	// OnResponse, when set, sees every response the transport returns
	// (each redirect hop included) before its body is read, and every 401
	// or 403 its handler could not fix (its body already consumed). A 401
	// that Authorize fixed is not reported: the retry's answer is.
	OnResponse func(*http.Response)
	// OnTooLarge, when set, is told when a response body crossed
	// MaxMessageSize. Readers above the transport (go-sdk's) may word the
	// read error without keeping its type; this keeps it.
	OnTooLarge func(*limit.TooLargeError)
}

// Transport is the one HTTP transport that carries an MCP server's
// credentials: mcplink's manager (list, tools, call, serve, tui), debug and
// proxy all send their MCP requests through one, and Go programs that embed
// mcplink should too.
//
// Its rule: the configured headers, the OAuth access token and the DPoP
// proof go only to the origin (scheme, host, port; default ports
// normalised) of the configured server URL. A request to any other origin —
// in practice a redirect hop, since Go's http.Client copies the original
// request's headers to redirect targets, Authorization included on
// subdomains — is sent with the Authorization, DPoP and configured headers
// and Mcp-Session-Id removed. A 401 or 403 from the server's origin runs
// the handler's Authorize once (serialised: one sign-in at a time) and
// retries the request once when its body can be sent again.
//
// Every response body is bounded (see TransportOptions.MaxMessageSize): a
// text/event-stream body per event, any other body as a whole. Past the
// bound the body's Read returns a *limit.TooLargeError.
//
// Use Client (or CheckRedirect) for the redirect policy that goes with it.
type Transport struct {
	opts   TransportOptions
	origin string
	// scheme and host of ServerURL as configured: a request URL spelled
	// the same is on the origin without normalising it (see SameOrigin).
	scheme, host string
	base         http.RoundTripper // sends requests to other origins
	signed       http.RoundTripper // base behind the handler's DPoP wrapper
	limit        int64
	strip        []string // header names never sent to another origin

	authMu sync.Mutex // serialises Authorize
	// ts caches the handler's token source (nil inside: nothing stored)
	// until the next Authorize: asking the handler reads the credential store.
	ts atomic.Pointer[cachedSource]
}

type cachedSource struct{ ts oauth2.TokenSource }

// NewTransport returns the transport for one MCP server.
func NewTransport(opts TransportOptions) (*Transport, error) {
	u, err := url.Parse(opts.ServerURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("MCP server URL %q: must be an absolute http(s) URL", opts.ServerURL)
	}
	base := opts.Base
	if base == nil {
		base = http.DefaultTransport
	}
	t := &Transport{opts: opts, origin: Origin(u), scheme: u.Scheme, host: u.Host, base: base, signed: base, limit: opts.MaxMessageSize}
	if t.limit == 0 {
		t.limit = limit.DefaultMessageSize
	}
	if w, ok := opts.Handler.(TransportWrapper); ok {
		t.signed = w.WrapTransport(base)
	}
	t.strip = []string{"Authorization", "DPoP", "Mcp-Session-Id"}
	for k := range opts.Headers {
		t.strip = append(t.strip, k)
	}
	return t, nil
}

// Client returns an http.Client that sends through t and follows redirects
// by t.CheckRedirect. It has no timeout: MCP streams are long-lived; bound
// requests with their contexts.
func (t *Transport) Client() *http.Client {
	return &http.Client{Transport: t, CheckRedirect: t.CheckRedirect}
}

// Origin is the origin of u as the transport compares it: lower-case
// scheme and host and an explicit port (80 for http, 443 for https when
// none is given), so https://a.example and https://A.example:443 match.
func Origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host + ":" + port
}

// SameOrigin reports whether u is on the configured server's origin.
func (t *Transport) SameOrigin(u *url.URL) bool {
	if u.Scheme == t.scheme && u.Host == t.host {
		// Origin depends on nothing else: the common case costs no
		// normalised string per request.
		return true
	}
	return Origin(u) == t.origin
}

// RedirectError is a redirect the transport's client refused to follow.
type RedirectError struct {
	// From is the URL that answered with the redirect, To where it pointed
	// (both redacted of user info).
	From, To string
	// Reason says why it was refused.
	Reason string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("refusing the redirect from %s to %s: %s", e.From, e.To, e.Reason)
}

// CheckRedirect is the redirect policy of the transport's client (an
// http.Client CheckRedirect): at most MaxRedirects hops; a request that was
// not a GET or HEAD when it was made (an MCP POST, whatever a 301/302/303
// turned it into; a session DELETE) is not redirected to another origin —
// its message was meant for the configured server — and fails with a
// *RedirectError naming both URLs; a GET or HEAD is followed to another
// origin, and RoundTrip sends it without credentials.
func (t *Transport) CheckRedirect(req *http.Request, via []*http.Request) error {
	return checkRedirect(t.origin, req, via)
}

func checkRedirect(origin string, req *http.Request, via []*http.Request) error {
	if len(via) == 0 {
		return nil
	}
	from := via[len(via)-1].URL.Redacted()
	if len(via) > MaxRedirects {
		return &RedirectError{From: from, To: req.URL.Redacted(), Reason: fmt.Sprintf("stopped after %d redirects", MaxRedirects)}
	}
	if Origin(req.URL) == origin {
		return nil
	}
	first := via[0]
	if first.Method != http.MethodGet && first.Method != http.MethodHead {
		return &RedirectError{From: from, To: req.URL.Redacted(), Reason: fmt.Sprintf(
			"a %s meant for %s is not sent on to another origin; if the server moved, use its new URL", first.Method, originText(origin))}
	}
	return nil
}

// withRedirectPolicy returns a copy of c whose redirects follow the rule of
// Transport.CheckRedirect, with the first request's origin as the one that
// counts: at most MaxRedirects hops, and a POST to an authorization server
// (token, registration, device, revocation requests carry codes, client
// secrets, refresh tokens) never redirected to another origin. A redirect
// to another origin that is neither https nor loopback http is refused. c's own
// CheckRedirect, if any, runs after.
func withRedirectPolicy(c *http.Client) *http.Client {
	cp := *c
	next := c.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) == 0 {
			return nil
		}
		if err := checkSecureURL(req.URL.String()); err != nil && Origin(req.URL) != Origin(via[0].URL) {
			return &RedirectError{From: via[len(via)-1].URL.Redacted(), To: req.URL.Redacted(), Reason: err.Error()}
		}
		if err := checkRedirect(Origin(via[0].URL), req, via); err != nil {
			return err
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &cp
}

// originText is an origin without the explicit default port.
func originText(o string) string {
	return strings.TrimSuffix(strings.TrimSuffix(o, ":443"), ":80")
}

// AuthorizeError is a 401 or 403 from the MCP server that the OAuth handler
// could not fix. Err is the handler's error (errors.Is(err, ErrNeedsAuth),
// errors.As(err, **ClientRegistrationError), ... see through it).
type AuthorizeError struct {
	Method string // of the refused request
	URL    string // of the refused request, redacted
	Status int    // 401 or 403
	// Challenge is the response's Bearer/DPoP challenge, nil without one.
	Challenge *Challenge
	Err       error // the handler's error
}

func (e *AuthorizeError) Error() string {
	return fmt.Sprintf("authorizing %s %s after HTTP %d: %v", e.Method, e.URL, e.Status, e.Err)
}

func (e *AuthorizeError) Unwrap() error { return e.Err }

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.SameOrigin(req.URL) {
		r := req.Clone(req.Context())
		for _, k := range t.strip {
			r.Header.Del(k)
		}
		resp, err := t.base.RoundTrip(r)
		return t.received(resp, err)
	}
	r, err := t.prepare(req, req.Body)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.signed.RoundTrip(r)
	if err != nil || t.opts.Handler == nil || t.opts.NoAuthorize || !authStatus(resp.StatusCode) ||
		(req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		// Without a handler, or with a body that cannot be sent again, the
		// caller sees the refusal.
		return t.received(resp, err)
	}
	chal := parseChallenge(resp.Header)
	status := resp.StatusCode
	if err := t.authorize(req.Context(), r, resp); err != nil {
		if t.opts.OnResponse != nil {
			t.opts.OnResponse(resp) // its status and headers; Authorize consumed the body
		}
		return nil, &AuthorizeError{Method: req.Method, URL: req.URL.Redacted(), Status: status, Challenge: chal, Err: err}
	}
	var body io.ReadCloser
	if req.Body != nil && req.Body != http.NoBody {
		if body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	if r, err = t.prepare(req, body); err != nil {
		if body != nil {
			_ = body.Close()
		}
		return nil, err
	}
	return t.received(t.signed.RoundTrip(r))
}

// received reports resp to the observer and bounds its body.
func (t *Transport) received(resp *http.Response, err error) (*http.Response, error) {
	if err != nil {
		return nil, err
	}
	if t.opts.OnResponse != nil {
		t.opts.OnResponse(resp)
	}
	return t.bound(resp), nil
}

func (t *Transport) bound(resp *http.Response) *http.Response {
	if t.limit > 0 && resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = BoundBody(resp.Body, resp.Header.Get("Content-Type"), t.limit, t.opts.OnTooLarge)
	}
	return resp
}

// authStatus reports whether code is one OAuth may fix: 401 or 403.
func authStatus(code int) bool {
	return code == http.StatusUnauthorized || code == http.StatusForbidden
}

// authorize runs the handler's Authorize (which consumes resp), one at a
// time, through the SignIn hook when there is one.
func (t *Transport) authorize(ctx context.Context, req *http.Request, resp *http.Response) error {
	t.authMu.Lock()
	defer t.authMu.Unlock()
	defer t.ts.Store(nil)
	called := false
	run := func(ctx context.Context) error {
		if called {
			return errors.New("oauth: SignIn called authorize twice")
		}
		called = true
		return t.opts.Handler.Authorize(ctx, req, resp)
	}
	var err error
	if t.opts.SignIn != nil {
		err = t.opts.SignIn(ctx, resp.StatusCode, run)
	} else {
		err = run(ctx)
	}
	if !called {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if err == nil {
			err = errors.New("oauth: SignIn returned without authorizing")
		}
	}
	return err
}

// prepare returns req to send with body, the configured headers and the
// current token: a clone with those added, or req itself when it carries
// body and there is nothing to add (no token, every configured header
// present already) — net/http forbids changing the caller's request, and a
// clone per request is most of what a tokenless request costs here. Without
// a usable token (none stored, or a refresh refused with invalid_grant) the
// request goes without one, and its 401 leads to Authorize.
func (t *Transport) prepare(req *http.Request, body io.ReadCloser) (*http.Request, error) {
	var token string
	if h := t.opts.Handler; h != nil {
		cs := t.ts.Load()
		if cs == nil {
			ts, err := h.TokenSource(req.Context())
			if err != nil {
				return nil, err
			}
			cs = &cachedSource{ts}
			t.ts.Store(cs)
		}
		if cs.ts != nil {
			tok, err := cs.ts.Token()
			var re *oauth2.RetrieveError
			switch {
			case err == nil && tok != nil:
				token = tok.AccessToken
			case errors.As(err, &re) && re.ErrorCode == "invalid_grant":
			case err != nil:
				return nil, err
			}
		}
	}
	var extra http.Header
	if t.opts.Header != nil {
		extra = t.opts.Header()
	}
	if token == "" && body == req.Body && !lacksAny(req.Header, t.opts.Headers) && !lacksAnyOf(req.Header, extra) {
		return req, nil
	}
	r := req.Clone(req.Context())
	r.Body = body
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range t.opts.Headers {
		if r.Header.Get(k) == "" {
			r.Header.Set(k, v)
		}
	}
	for k, vs := range extra {
		if len(vs) > 0 && r.Header.Get(k) == "" {
			r.Header.Set(k, vs[0])
			for _, v := range vs[1:] {
				r.Header.Add(k, v)
			}
		}
	}
	return r, nil
}

// lacksAny reports whether h lacks (has empty) any of the headers named in
// want, which prepare then sets.
func lacksAny(h http.Header, want map[string]string) bool {
	for k := range want {
		if h.Get(k) == "" {
			return true
		}
	}
	return false
}

// lacksAnyOf is lacksAny for a header set with values.
func lacksAnyOf(h http.Header, want http.Header) bool {
	for k, vs := range want {
		if len(vs) > 0 && h.Get(k) == "" {
			return true
		}
	}
	return false
}

// sameOrigin reports whether the URLs a and b have one origin (see Origin);
// false when either does not parse.
func sameOrigin(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return Origin(ua) == Origin(ub)
}
