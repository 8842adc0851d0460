package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"golang.org/x/oauth2"

	"github.com/mcplink/mcplink/config"
)

// Handler returns the non-interactive OAuth handler for entry
// (manager.OAuthProvider). It sends stored tokens, refreshes them, and on a
// 401/403 it cannot fix without the user returns an error matching
// ErrNeedsAuth (or a *ClientRegistrationError).
func (e *Engine) Handler(entry *config.Entry) (auth.OAuthHandler, error) {
	if err := checkEntry(entry); err != nil {
		return nil, err
	}
	return &handler{e: e, entry: entry}, nil
}

// InteractiveHandler returns a handler that runs the browser flow on 401 and
// step-up on 403 insufficient_scope.
func (e *Engine) InteractiveHandler(entry *config.Entry) auth.OAuthHandler {
	return &handler{e: e, entry: entry, interactive: true}
}

// InteractiveHandlerWith is InteractiveHandler with options: opts.Device
// signs in again with the device authorization grant instead of the browser
// (for a proxy on an SSH host, whose loopback callback the browser can't
// reach), and opts.OnDeviceCode is handed each device code so a UI can show
// it. opts.Paste is not used.
func (e *Engine) InteractiveHandlerWith(entry *config.Entry, opts AuthOptions) auth.OAuthHandler {
	return &handler{e: e, entry: entry, interactive: true, device: opts.Device, onDeviceCode: opts.OnDeviceCode}
}

type handler struct {
	e           *Engine
	entry       *config.Entry
	interactive bool
	device      bool // sign in with the device grant (InteractiveHandlerWith)
	// onDeviceCode is AuthOptions.OnDeviceCode (InteractiveHandlerWith).
	onDeviceCode func(DeviceCode)
}

// TokenSource returns a source of the entry's current token, or nil when
// nothing is stored (the request then goes out without a token, and a 401
// leads to Authorize).
func (h *handler) TokenSource(ctx context.Context) (oauth2.TokenSource, error) {
	if err := checkEntry(h.entry); err != nil {
		return nil, err
	}
	if isMachine(h.entry) {
		return &tokenSource{h: h}, nil // fetched on demand (grants.go)
	}
	if t := h.e.state(h.entry.Name).cached(h.entry.URL); t == nil {
		c, err := h.e.load(ctx, h.entry)
		if err != nil {
			return nil, err
		}
		if c == nil || c.Token == nil {
			return nil, nil
		}
	}
	return &tokenSource{h: h}, nil
}

type tokenSource struct{ h *handler }

// Token returns the current token, refreshing when needed. When the user must
// sign in, the error matches ErrNeedsAuth and also *oauth2.RetrieveError with
// invalid_grant, so MCP transports send the request without a token and
// reach Authorize on the 401.
func (ts *tokenSource) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t, err := ts.h.e.token(ctx, ts.h.entry, "")
	if err != nil {
		if errors.Is(err, ErrNeedsAuth) {
			return nil, &needsAuthRetrieveError{err}
		}
		return nil, err
	}
	return &oauth2.Token{AccessToken: t.AccessToken, TokenType: "Bearer", RefreshToken: "", Expiry: t.Expiry}, nil
}

type needsAuthRetrieveError struct{ err error }

func (e *needsAuthRetrieveError) Error() string { return e.err.Error() }
func (e *needsAuthRetrieveError) Unwrap() []error {
	return []error{e.err, &oauth2.RetrieveError{ErrorCode: "invalid_grant"}}
}

func bearer(req *http.Request) string {
	if req == nil {
		return ""
	}
	v := req.Header.Get("Authorization")
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

// Authorize handles a 401 or 403 response.
func (h *handler) Authorize(ctx context.Context, req *http.Request, resp *http.Response) error {
	if resp == nil {
		return errors.New("oauth: Authorize called without a response")
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err := checkEntry(h.entry); err != nil {
		return err
	}
	chal := parseChallenge(resp.Header)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return h.unauthorized(ctx, req, chal)
	case http.StatusForbidden:
		if chal == nil || chal.Error != "insufficient_scope" {
			return fmt.Errorf("MCP server %q refused the request (HTTP 403) without asking for more scopes", h.entry.Name)
		}
		return h.stepUp(ctx, req, chal)
	}
	return fmt.Errorf("oauth: unexpected HTTP %d for authorization", resp.StatusCode)
}

func (h *handler) unauthorized(ctx context.Context, req *http.Request, chal *Challenge) error {
	rejected := bearer(req)
	if err := h.e.checkFresh(h.entry, rejected, http.StatusUnauthorized, nil); err != nil {
		return err
	}
	if !h.interactive && rejected != "" && chal != nil && chal.Scope != "" {
		// A 401 naming scopes the token lacks: the next sign-in asks for them.
		if err := h.e.recordRequired(ctx, h.entry, strings.Fields(chal.Scope)); err != nil {
			return err
		}
	}
	since := h.e.opts.Now()
	// A token another goroutine/process stored, or a refresh, may fix it.
	_, err := h.e.token(ctx, h.entry, rejected)
	if err == nil {
		h.e.obtainedFor(h.entry, since, http.StatusUnauthorized)
		return nil
	}
	if !errors.Is(err, ErrNeedsAuth) {
		return err
	}
	d, derr := h.e.discover(ctx, h.entry, http.StatusUnauthorized, chal, nil)
	if !h.interactive {
		if derr == nil {
			creds, _ := h.e.load(ctx, h.entry)
			if registrationMethod(h.entry, creds, d) == RegistrationNone {
				return &ClientRegistrationError{Server: h.entry.Name, ConfigFile: h.entry.Source, Issuer: d.Issuer, Reason: "no registration_endpoint in its metadata"}
			}
		}
		return err
	}
	if derr != nil {
		return derr
	}
	// At most one browser flow per connect: a running one is shared, a
	// refused one is not restarted within RefusedFlowWindow.
	if err := h.e.authorizeGated(ctx, h.entry, d, nil, h.device, h.onDeviceCode); err != nil {
		return err
	}
	h.e.obtainedFor(h.entry, since, http.StatusUnauthorized)
	return nil
}

// stepUp re-authorizes with the union of the granted and the challenged
// scopes, at most MaxStepUpAttempts times, until the granted scopes cover
// the challenge. Non-interactively it records the challenged scopes with
// the credentials (for the next sign-in) and returns a *NeedsAuthError.
func (h *handler) stepUp(ctx context.Context, req *http.Request, chal *Challenge) error {
	need := strings.Fields(chal.Scope)
	if err := h.e.checkFresh(h.entry, bearer(req), http.StatusForbidden, need); err != nil {
		return err
	}
	if isMachine(h.entry) {
		return h.e.machineStepUp(ctx, h.entry, chal)
	}
	creds, err := h.e.load(ctx, h.entry)
	if err != nil {
		return err
	}
	var granted []string
	if creds != nil && creds.Token != nil {
		granted = strings.Fields(creds.Token.Scope)
	}
	if !h.interactive {
		if err := h.e.recordRequired(ctx, h.entry, need); err != nil {
			return err
		}
		return &NeedsAuthError{Server: h.entry.Name, ConfigFile: h.entry.Source, Reason: fmt.Sprintf("the server requires more scopes (%s)", chal.Scope), Scopes: union(granted, need)}
	}
	d, err := h.e.discover(ctx, h.entry, http.StatusForbidden, chal, nil)
	if err != nil {
		return err
	}
	for attempt := 1; attempt <= MaxStepUpAttempts; attempt++ {
		c, err := h.e.authorize(ctx, h.entry, d, granted)
		if err != nil {
			return err
		}
		granted = strings.Fields(c.Token.Scope)
		if covers(granted, need) {
			return nil
		}
	}
	return fmt.Errorf("MCP server %q: after %d authorization attempts the granted scopes (%s) still lack %s: %w",
		h.entry.Name, MaxStepUpAttempts, strings.Join(granted, " "), chal.Scope, ErrInsufficientScope)
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func covers(have, need []string) bool {
	for _, s := range need {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}

// TokenSource returns a token source for entry that uses stored tokens and
// refreshes them (never interactive); see Token.
func (e *Engine) TokenSource(entry *config.Entry) oauth2.TokenSource {
	return &tokenSource{h: &handler{e: e, entry: entry}}
}
