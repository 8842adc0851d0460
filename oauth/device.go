package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
)

// GrantDeviceCode is the RFC 8628 grant type.
const GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// ErrDeviceCodeExpired means the user did not finish the device sign-in
// before the device code expired (RFC 8628 expired_token).
var ErrDeviceCodeExpired = errors.New("the device code expired before the sign-in was completed")

// DeviceSlowDown is what an RFC 8628 slow_down answer adds to the polling interval.
const DeviceSlowDown = 5 * time.Second

// DeviceTimeoutError means the wait for a device sign-in ended before the
// user completed it while the device code was still valid: the caller's
// deadline (for `mcplink auth --device`, its --timeout) or the engine's
// Options.FlowTimeout ended it. It wraps context.DeadlineExceeded. A device
// code that expired is ErrDeviceCodeExpired instead.
type DeviceTimeoutError struct {
	Server string        // config entry name
	Waited time.Duration // how long it polled
	// Limit is the bound that ended the wait, as far as known: the
	// caller's deadline, or FlowTimeout.
	Limit time.Duration
	// FlowTimeout is true when Options.FlowTimeout ended the wait, false
	// for the caller's deadline.
	FlowTimeout bool
	Err         error // context.DeadlineExceeded
}

func (e *DeviceTimeoutError) Error() string {
	return fmt.Sprintf("MCP server %q: gave up waiting for the device sign-in after %s; the device code was still valid", e.Server, e.Waited.Round(time.Second))
}

func (e *DeviceTimeoutError) Unwrap() error { return e.Err }

// deviceAuthorization is the RFC 8628 §3.2 response.
type deviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
	Error                   string `json:"error"`
	Description             string `json:"error_description"`
}

// authorizeDeviceWith runs the device authorization grant: it shows the
// verification URI and user code through Notify (and hands the device code
// to onCode, when non-nil, once the AS issued it) and polls the token
// endpoint as RFC 8628 §3.4-3.5 says, then stores the tokens like the code
// flow.
func (e *Engine) authorizeDeviceWith(ctx context.Context, entry *config.Entry, d *Discovery, onCode func(DeviceCode)) (*authstore.Credentials, error) {
	if d.DeviceAuthorizationEndpoint == "" {
		return nil, fmt.Errorf("MCP server %q: %w (no device_authorization_endpoint in %s); sign in with the browser flow instead", entry.Name, ErrDeviceNotSupported, d.AuthServerMetadataURL)
	}
	if err := e.brake(entry); err != nil {
		return nil, err
	}
	redirectURI, err := redirectURI(entry)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		client, err := e.resolveClient(ctx, entry, d, redirectURI)
		if err != nil {
			return nil, err
		}
		creds, err := e.deviceFlow(ctx, entry, d, client, redirectURI, onCode)
		var te *TokenError
		if attempt == 0 && errors.As(err, &te) && (te.Code == "invalid_client" || te.Code == "unauthorized_client") &&
			client.kind == RegistrationStored {
			// A registration from before the AS offered the device grant,
			// or one it forgot: register again, once.
			if derr := ignoreUnchanged(e.dropClient(ctx, entry, client.id)); derr != nil {
				return nil, derr
			}
			e.notify(entry.Name, "the authorization server rejected the stored client registration for the device grant; registering again")
			continue
		}
		return creds, err
	}
}

func (e *Engine) deviceFlow(ctx context.Context, entry *config.Entry, d *Discovery, client clientCreds, redirectURI string, onCode func(DeviceCode)) (*authstore.Credentials, error) {
	name := entry.Name
	prior, required := e.priorScopes(ctx, entry, d.Issuer)
	scopes := requestScopes(entry, d, nil, prior...)
	form := url.Values{}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	if d.Resource != "" {
		form.Set("resource", d.Resource)
	}
	da, err := e.requestDeviceCode(ctx, d.DeviceAuthorizationEndpoint, client, form)
	if err != nil {
		var te *TokenError
		code := ""
		if errors.As(err, &te) {
			code = te.Code
		}
		return nil, e.refusedRequired(ctx, entry, code, required, fmt.Errorf("MCP server %q: requesting a device code: %w", name, err))
	}
	msg := fmt.Sprintf("To sign in, open %s and enter the code %s", sanitize(da.VerificationURI), sanitize(da.UserCode))
	if da.VerificationURIComplete != "" {
		msg += fmt.Sprintf(" (or open %s, which carries the code)", sanitize(da.VerificationURIComplete))
	}
	e.notify(name, msg)
	if onCode != nil {
		dc := DeviceCode{VerificationURI: sanitize(da.VerificationURI), VerificationURIComplete: sanitize(da.VerificationURIComplete), UserCode: sanitize(da.UserCode)}
		if da.ExpiresIn > 0 {
			dc.ExpiresAt = e.opts.Now().Add(time.Duration(da.ExpiresIn) * time.Second)
		}
		onCode(dc)
	}

	interval := time.Duration(da.Interval) * time.Second
	if interval <= 0 {
		interval = 5 * time.Second // RFC 8628 §3.2 default
	}
	expires := time.Duration(da.ExpiresIn) * time.Second
	if expires <= 0 {
		expires = e.opts.FlowTimeout
	}
	// Three bounds end the polling: the device code's lifetime, FlowTimeout
	// and the caller's deadline. giveUp names the one that did.
	parent, start := ctx, time.Now()
	callerLimit := time.Duration(0)
	if dl, ok := parent.Deadline(); ok {
		callerLimit = time.Until(dl).Round(time.Second)
	}
	ctx, cancel := context.WithTimeout(ctx, min(expires, e.opts.FlowTimeout))
	defer cancel()
	giveUp := func() error {
		switch perr := parent.Err(); {
		case errors.Is(perr, context.DeadlineExceeded):
			return &DeviceTimeoutError{Server: name, Waited: time.Since(start), Limit: callerLimit, Err: perr}
		case perr != nil:
			return fmt.Errorf("MCP server %q: waiting for the device sign-in: %w", name, perr)
		case da.ExpiresIn > 0 && expires <= e.opts.FlowTimeout:
			return fmt.Errorf("MCP server %q: %w; run the sign-in again", name, ErrDeviceCodeExpired)
		default:
			return &DeviceTimeoutError{Server: name, Waited: time.Since(start), Limit: e.opts.FlowTimeout, FlowTimeout: true, Err: context.DeadlineExceeded}
		}
	}
	slowDown := DeviceSlowDown
	if e.deviceSlowDown > 0 {
		slowDown = e.deviceSlowDown
	}
	for {
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, giveUp()
		case <-t.C:
		}
		poll := url.Values{"grant_type": {GrantDeviceCode}, "device_code": {da.DeviceCode}}
		if d.Resource != "" {
			poll.Set("resource", d.Resource)
		}
		tok, err := e.tokenRequest(ctx, d.AuthServer.TokenEndpoint, client, poll)
		if err == nil {
			if tok.Scope == "" {
				tok.Scope = strings.Join(scopes, " ")
			}
			return e.storeGrant(ctx, entry, d, client, redirectURI, tok, scopes)
		}
		if ctx.Err() != nil {
			return nil, giveUp() // the poll was cut short by a bound
		}
		var te *TokenError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("MCP server %q: device sign-in: %w", name, err)
		}
		switch {
		case te.Code == "authorization_pending":
		case te.Code == "slow_down":
			interval += slowDown
		case te.Code == "expired_token":
			return nil, fmt.Errorf("MCP server %q: %w; run the sign-in again", name, ErrDeviceCodeExpired)
		case te.Code == "access_denied":
			return nil, fmt.Errorf("MCP server %q: %w", name, &callback.AuthorizationError{Code: te.Code, Description: te.Description})
		case te.Code == "" && te.temporary():
			interval = min(interval*2, time.Minute) // RFC 8628 §3.5: back off on connection errors
		default:
			return nil, fmt.Errorf("MCP server %q: device sign-in: %w", name, err)
		}
	}
}

// requestDeviceCode POSTs the device authorization request (RFC 8628 §3.1)
// with the client's authentication.
func (e *Engine) requestDeviceCode(ctx context.Context, endpoint string, c clientCreds, form url.Values) (*deviceAuthorization, error) {
	data, status, err := e.postClientForm(ctx, endpoint, c, form)
	if err != nil {
		return nil, &TokenError{Endpoint: endpoint, Kind: EndpointDeviceAuthorization, Status: status, Err: err}
	}
	var da deviceAuthorization
	jerr := json.Unmarshal(data, &da)
	if status != http.StatusOK || da.Error != "" {
		te := &TokenError{Endpoint: endpoint, Kind: EndpointDeviceAuthorization, Status: status}
		if jerr == nil {
			te.Code, te.Description = da.Error, sanitize(da.Description)
		}
		return nil, te
	}
	if jerr != nil || da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return nil, &TokenError{Endpoint: endpoint, Kind: EndpointDeviceAuthorization, Status: status, Err: errors.New("malformed device authorization response (device_code, user_code and verification_uri are required)")}
	}
	return &da, nil
}

// postClientForm POSTs form with client authentication as registered and
// returns the body (at most 1 MiB) and status.
func (e *Engine) postClientForm(ctx context.Context, endpoint string, c clientCreds, form url.Values) ([]byte, int, error) {
	switch c.method {
	case AuthPost:
		form.Set("client_id", c.id)
		form.Set("client_secret", c.secret)
	case AuthBasic:
	default:
		form.Set("client_id", c.id)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.method == AuthBasic {
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	}
	resp, err := e.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the caller names the endpoint
		}
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return data, resp.StatusCode, err
}

// storeGrant stores tokens obtained by a grant other than the code flow's
// redirect (device grant) exactly as Pending.Wait does; requested are the
// scopes asked for.
func (e *Engine) storeGrant(ctx context.Context, entry *config.Entry, d *Discovery, client clientCreds, redirectURI string, tok *authstore.Token, requested []string) (*authstore.Credentials, error) {
	name := entry.Name
	var out *authstore.Credentials
	err := e.opts.Store.Update(ctx, name, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		if cur == nil || !cur.ForURL(entry.URL) {
			cur = &authstore.Credentials{ServerURL: entry.URL}
		}
		if client.kind == RegistrationDynamic || client.kind == RegistrationStored {
			if cur.Client == nil || cur.Client.ClientID != client.id {
				cur.Client = &authstore.Client{ClientID: client.id, ClientSecret: client.secret, TokenEndpointAuthMethod: client.method, RedirectURI: redirectURI, Issuer: d.Issuer, Dynamic: true, RegisteredAt: e.opts.Now()}
			}
		} else {
			cur.Client = &authstore.Client{ClientID: client.id, TokenEndpointAuthMethod: client.method, RedirectURI: redirectURI, Issuer: d.Issuer}
		}
		cur.Issuer, cur.Resource, cur.Token = d.Issuer, d.Resource, tok
		cur.RequiredScopes = stillRequired(cur.RequiredScopes, tok)
		cur.UpdatedAt = e.opts.Now()
		c := *cur
		out = &c
		return cur, nil
	})
	if err != nil {
		return nil, fmt.Errorf("MCP server %q: storing the tokens: %w", name, err)
	}
	e.state(name).set(entry.URL, tok)
	e.obtainedNow(entry, tok.AccessToken, requested)
	e.notify(name, "signed in")
	return out, nil
}
