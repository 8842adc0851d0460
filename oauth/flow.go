package oauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
)

// Pending is an authorization waiting for the browser redirect.
type Pending struct {
	// AuthorizationURL is the URL the user must open.
	AuthorizationURL string
	// State is the OAuth state; callback.Registry.Deliver(State, params)
	// completes the flow with a pasted redirect.
	State string
	// Scopes are the requested scopes.
	Scopes []string

	required    []string // the recorded RequiredScopes among Scopes
	e           *Engine
	entry       *config.Entry
	d           *Discovery
	client      clientCreds
	redirectURI string
	verifier    string
	flow        *callback.Flow
	bareCode    atomic.Pointer[string] // a code pasted without its redirect URL (paste.go)
}

// Begin discovers, obtains a client and registers the pending flow with the
// callback registry, without opening a browser. Finish with Pending.Wait.
func (e *Engine) Begin(ctx context.Context, entry *config.Entry) (*Pending, error) {
	return e.BeginWith(ctx, entry, BeginOptions{})
}

// BeginOptions adjusts BeginWith.
type BeginOptions struct {
	// ListenFallback starts the flow without a callback listener when the
	// callback port is held by another program (not another mcplink); the
	// redirect must then be pasted with Pending.Paste. Pending.Listening and
	// Pending.ListenError tell which happened.
	ListenFallback bool
}

// BeginWith is Begin with options.
func (e *Engine) BeginWith(ctx context.Context, entry *config.Entry, opts BeginOptions) (*Pending, error) {
	if err := checkEntry(entry); err != nil {
		return nil, err
	}
	if isMachine(entry) {
		return nil, fmt.Errorf("MCP server %q uses the %s grant, which needs no sign-in: Authenticate fetches its token", entry.Name, oauthOf(entry).EffectiveGrant())
	}
	d, err := e.Discover(ctx, entry, nil)
	if err != nil {
		return nil, err
	}
	return e.beginFlow(ctx, entry, d, nil, opts.ListenFallback)
}

// beginFlow starts an authorization for discovery d, adding granted to the
// scopes; listenFallback lets the flow go on without a
// listener when the callback port is busy (the redirect is then pasted).
func (e *Engine) beginFlow(ctx context.Context, entry *config.Entry, d *Discovery, granted []string, listenFallback bool) (*Pending, error) {
	if e.opts.Callbacks == nil {
		return nil, errors.New("oauth: interactive authorization needs a callback registry")
	}
	if err := e.brake(entry); err != nil {
		return nil, err
	}
	redirectURI, err := redirectURI(entry)
	if err != nil {
		return nil, err
	}
	client, err := e.resolveClient(ctx, entry, d, redirectURI)
	if err != nil {
		return nil, err
	}
	if client, err = e.flowDPoP(ctx, entry, d, client); err != nil {
		return nil, err
	}
	state := rand.Text() // 26 base32 characters: 130 bits
	flow, err := e.opts.Callbacks.Begin(ctx, callback.Request{
		RedirectURI: redirectURI,
		State:       state,
		Server:      entry.Name,
		ConfigFile:  entry.Source,
		Notify:      func(msg string) { e.notify(entry.Name, msg) },
		ListenHost:  oauthOf(entry).CallbackHost,
		// Paste mode: a busy port must not stop the sign-in.
		ListenFallback: listenFallback,
	})
	if err != nil {
		var pe *callback.PortInUseError
		if errors.As(err, &pe) {
			if pe.Server == "" {
				pe.Server, pe.ConfigFile = entry.Name, entry.Source
			}
			return nil, err // its message names the entry, its file and the fix
		}
		if se := (*callback.SettingError)(nil); errors.As(err, &se) {
			return nil, settingError(entry, err) // "oauth.callbackHost"
		}
		return nil, fmt.Errorf("MCP server %q: starting the callback listener on %s: %w", entry.Name, redirectURI, err)
	}
	noticeListenAddr(e, entry, flow)
	verifier := oauth2.GenerateVerifier()
	prior, required := e.priorScopes(ctx, entry, d.Issuer)
	scopes := requestScopes(entry, d, granted, prior...)
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {client.id},
		"redirect_uri":          {redirectURI},
		"state":                 {state},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
		"resource":              {d.Resource},
	}
	if d.Resource == "" {
		q.Del("resource") // "oauth.resource": false
	}
	if len(scopes) > 0 {
		q.Set("scope", strings.Join(scopes, " "))
	}
	if slices.Contains(scopes, "offline_access") {
		// OpenID Connect Core §11: an OpenID provider ignores offline_access
		// (and issues no refresh token) unless prompt includes consent.
		// Plain OAuth servers ignore the parameter.
		q.Set("prompt", "consent")
	}
	authURL := d.AuthServer.AuthorizationEndpoint
	if strings.Contains(authURL, "?") {
		authURL += "&" + q.Encode()
	} else {
		authURL += "?" + q.Encode()
	}
	return &Pending{
		AuthorizationURL: authURL, State: state, Scopes: scopes, required: required,
		e: e, entry: entry, d: d, client: client, redirectURI: redirectURI, verifier: verifier, flow: flow,
	}, nil
}

// Close abandons the pending flow; it is idempotent.
func (p *Pending) Close() { p.flow.Close() }

// errInvalidClient marks a token exchange rejected with invalid_client.
type invalidClientError struct{ err error }

func (e *invalidClientError) Error() string { return e.err.Error() }
func (e *invalidClientError) Unwrap() error { return e.err }

// Wait waits (at most the engine's FlowTimeout) for the redirect, checks it,
// exchanges the code and stores the credentials. It closes the flow, after
// reporting the outcome to the callback page (which says "Signed in" only
// when it is nil).
func (p *Pending) Wait(ctx context.Context) (_ *authstore.Credentials, err error) {
	defer p.flow.Close()
	defer func() { p.flow.Report(err) }()
	ctx, cancel := context.WithTimeout(ctx, p.e.opts.FlowTimeout)
	defer cancel()
	// The wait that can end is the shorter of the caller's deadline and
	// FlowTimeout: name that one when it does.
	limit := p.e.opts.FlowTimeout
	if dl, ok := ctx.Deadline(); ok {
		limit = min(limit, time.Until(dl).Round(time.Second))
	}
	name := p.entry.Name
	params, err := p.flow.Wait(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("MCP server %q: no authorization redirect within %s: %w", name, limit, err)
		}
		err = fmt.Errorf("MCP server %q: authorization: %w", name, err)
		var ae *callback.AuthorizationError
		if errors.As(err, &ae) {
			err = p.e.refusedRequired(ctx, p.entry, ae.Code, p.required, err)
		}
		return nil, err
	}
	if e := params.Get("error"); e != "" {
		err := fmt.Errorf("MCP server %q: %w", name, &callback.AuthorizationError{Code: sanitize(e), Description: sanitize(params.Get("error_description"))})
		return nil, p.e.refusedRequired(ctx, p.entry, e, p.required, err)
	}
	if params.Get("state") != p.State {
		return nil, fmt.Errorf("MCP server %q: the authorization response has a wrong state; refusing it", name)
	}
	if err := checkIss(params, p.d.Issuer, p.d.AuthServer.AuthorizationResponseIssParameterSupported && !p.pastedBareCode(params)); err != nil {
		return nil, fmt.Errorf("MCP server %q: %w", name, err)
	}
	code := params.Get("code")
	if code == "" {
		return nil, fmt.Errorf("MCP server %q: the authorization response has no code", name)
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {p.redirectURI},
		"code_verifier": {p.verifier},
		"resource":      {p.d.Resource},
	}
	if p.d.Resource == "" {
		form.Del("resource")
	}
	tok, err := p.e.tokenRequest(ctx, p.d.AuthServer.TokenEndpoint, p.client, form)
	if err != nil {
		var te *TokenError
		err = fmt.Errorf("MCP server %q: exchanging the authorization code: %w", name, err)
		if errors.As(err, &te) && te.Code == "invalid_client" {
			if p.client.kind == RegistrationPreregistered {
				return nil, fmt.Errorf("%w; check \"oauth.clientId\" and \"oauth.clientSecret\" of %q in %s", err, name, p.entry.Source)
			}
			return nil, &invalidClientError{err}
		}
		return nil, err
	}
	if tok.Scope == "" {
		tok.Scope = strings.Join(p.Scopes, " ")
	}
	stored := &authstore.Client{ClientID: p.client.id, TokenEndpointAuthMethod: p.client.method, RedirectURI: p.redirectURI, Issuer: p.d.Issuer}
	var out *authstore.Credentials
	err = p.e.opts.Store.Update(ctx, name, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		if cur == nil || !cur.ForURL(p.entry.URL) {
			cur = &authstore.Credentials{ServerURL: p.entry.URL}
		}
		if p.client.kind == RegistrationDynamic || p.client.kind == RegistrationStored {
			if cur.Client == nil || cur.Client.ClientID != p.client.id {
				// The registration vanished (e.g. logout meanwhile): keep ours.
				cur.Client = &authstore.Client{ClientID: p.client.id, ClientSecret: p.client.secret, TokenEndpointAuthMethod: p.client.method, RedirectURI: p.redirectURI, Issuer: p.d.Issuer, Dynamic: true, RegisteredAt: p.e.opts.Now()}
			}
		} else {
			cur.Client = stored // metadata document or pre-registered: no secret stored
		}
		cur.Issuer, cur.Resource, cur.Token = p.d.Issuer, p.d.Resource, tok
		cur.RequiredScopes = stillRequired(cur.RequiredScopes, tok)
		cur.UpdatedAt = p.e.opts.Now()
		c := *cur
		out = &c
		return cur, nil
	})
	if err != nil {
		return nil, fmt.Errorf("MCP server %q: storing the tokens: %w", name, err)
	}
	p.e.state(name).set(p.entry.URL, tok)
	p.e.obtainedNow(p.entry, tok.AccessToken, p.Scopes)
	p.e.notify(name, "signed in")
	return out, nil
}

// checkIss applies RFC 9207: the iss parameter must equal the issuer byte
// for byte; a missing one is refused when the AS advertises support.
func checkIss(params url.Values, issuer string, advertised bool) error {
	if !params.Has("iss") {
		if advertised {
			return &IssuerResponseError{Want: issuer}
		}
		return nil
	}
	if got := params.Get("iss"); got != issuer {
		return &IssuerResponseError{Got: sanitize(got), Want: issuer}
	}
	return nil
}

// Authenticate runs the interactive flow for `mcplink auth`: probe, discover,
// obtain a client, open the browser, wait for the redirect, store tokens.
func (e *Engine) Authenticate(ctx context.Context, entry *config.Entry) (*authstore.Credentials, error) {
	if err := checkEntry(entry); err != nil {
		return nil, err
	}
	if isMachine(entry) {
		return e.authenticateMachine(ctx, entry) // grants.go: no browser
	}
	d, err := e.Discover(ctx, entry, nil)
	if err != nil {
		return nil, err
	}
	return e.authorize(ctx, entry, d, nil)
}

// authorize runs one interactive authorization, redoing it once with a fresh
// registration when the AS rejects our stored dynamic client.
func (e *Engine) authorize(ctx context.Context, entry *config.Entry, d *Discovery, granted []string) (*authstore.Credentials, error) {
	return e.authorizeWith(ctx, entry, d, granted, nil)
}
