package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/config"
)

// tokenRequest POSTs form to the token endpoint with client authentication.
func (e *Engine) tokenRequest(ctx context.Context, endpoint string, c clientCreds, form url.Values) (*authstore.Token, error) {
	if err := e.setClientAuth(c, form); err != nil {
		return nil, &TokenError{Endpoint: endpoint, Err: err}
	}
	resp, err := e.sendToken(ctx, endpoint, c, form) // client auth header, DPoP proof and nonce retry: dpop.go
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in TokenError.Endpoint
		}
		return nil, &TokenError{Endpoint: endpoint, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &TokenError{Endpoint: endpoint, Status: resp.StatusCode, Err: err}
	}
	var tr struct {
		AccessToken  string          `json:"access_token"`
		TokenType    string          `json:"token_type"`
		ExpiresIn    json.RawMessage `json:"expires_in"`
		RefreshToken string          `json:"refresh_token"`
		Scope        string          `json:"scope"`
		Error        string          `json:"error"`
		Description  string          `json:"error_description"`
	}
	jerr := json.Unmarshal(data, &tr)
	if resp.StatusCode != http.StatusOK || tr.Error != "" {
		te := &TokenError{Endpoint: endpoint, Status: resp.StatusCode}
		if jerr == nil {
			te.Code, te.Description = sanitize(tr.Error), sanitize(tr.Description)
		}
		return nil, te
	}
	if jerr != nil {
		return nil, &TokenError{Endpoint: endpoint, Status: resp.StatusCode, Err: errors.New("malformed JSON token response")}
	}
	if tr.AccessToken == "" {
		return nil, &TokenError{Endpoint: endpoint, Status: resp.StatusCode, Err: errors.New("token response has no access_token")}
	}
	tokenType := "Bearer"
	if c.dpop != nil && strings.EqualFold(tr.TokenType, TokenTypeDPoP) {
		tokenType = TokenTypeDPoP // bound to c.dpop
	} else if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return nil, &TokenError{Endpoint: endpoint, Status: resp.StatusCode, Err: fmt.Errorf("unsupported token_type %q", sanitize(tr.TokenType))}
	}
	t := &authstore.Token{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, TokenType: tokenType, Scope: tr.Scope}
	if secs := parseExpiresIn(tr.ExpiresIn); secs > 0 {
		now := e.opts.Now()
		t.IssuedAt = now
		t.Expiry = now.Add(time.Duration(secs) * time.Second)
	}
	return t, nil
}

func parseExpiresIn(raw json.RawMessage) int64 {
	s := strings.Trim(string(raw), `"`)
	if s == "" {
		return 0
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return int64(f)
	}
	return 0
}

// sanitize bounds text copied from a remote answer into our messages:
// control characters become spaces, and at most 500 bytes are kept (cut
// on a rune boundary). 500, not less: Ory Hydra's error_description is
// fosite's generic sentence (up to about 230 bytes) followed by the hint
// that says what actually went wrong.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 500 {
		cut := 500
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// Token returns a usable access token for entry without user interaction:
// the cached or stored one, refreshed when it expires within RefreshMargin.
// Without a usable token it returns an error matching ErrNeedsAuth.
func (e *Engine) Token(ctx context.Context, entry *config.Entry) (*authstore.Token, error) {
	if err := checkEntry(entry); err != nil {
		return nil, err
	}
	return e.token(ctx, entry, "")
}

// token implements Token. rejected is an access token the server refused
// (401): it is never returned again.
func (e *Engine) token(ctx context.Context, entry *config.Entry, rejected string) (*authstore.Token, error) {
	st := e.state(entry.Name)
	if t := st.cached(entry.URL); e.usable(t) && t.AccessToken != rejected {
		return t, nil
	}
	st.refresh.Lock()
	defer st.refresh.Unlock()
	if t := st.cached(entry.URL); e.usable(t) && t.AccessToken != rejected {
		return t, nil // another goroutine refreshed while we waited
	}
	creds, err := e.load(ctx, entry)
	if err != nil {
		return nil, err
	}
	if isMachine(entry) {
		return e.machineTokenLocked(ctx, entry, creds, rejected, nil) // grants.go
	}
	if creds == nil || creds.Token == nil || creds.Token.AccessToken == "" {
		return nil, e.needsAuth(entry, "not signed in")
	}
	if e.usable(creds.Token) && creds.Token.AccessToken != rejected {
		st.set(entry.URL, creds.Token)
		return creds.Token, nil
	}
	stale := creds.Token.AccessToken
	if rejected != "" {
		stale = rejected
	}
	return e.refreshLocked(ctx, entry, stale, rejected != "")
}

func (st *serverState) cached(serverURL string) *authstore.Token {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.url != serverURL {
		return nil
	}
	return st.tok
}

func (st *serverState) set(serverURL string, t *authstore.Token) {
	st.mu.Lock()
	st.url, st.tok = serverURL, t
	st.mu.Unlock()
}

func (e *Engine) needsAuth(entry *config.Entry, reason string) error {
	return &NeedsAuthError{Server: entry.Name, ConfigFile: entry.Source, Reason: reason}
}

// refreshLocked refreshes under the store lock. Caller holds st.refresh.
// If another process already stored a newer usable token, it is adopted.
// A refresh because the server refused the token (refused) passes the
// refresh brake first.
func (e *Engine) refreshLocked(ctx context.Context, entry *config.Entry, stale string, refused bool) (*authstore.Token, error) {
	st := e.state(entry.Name)
	var out *authstore.Token
	var outcome error
	refreshed := false // out came from our refresh, not from another process
	err := e.opts.Store.Update(ctx, entry.Name, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		if cur == nil || !cur.ForURL(entry.URL) || cur.Token == nil || cur.Token.AccessToken == "" {
			outcome = e.needsAuth(entry, "not signed in")
			return nil, errUnchanged
		}
		if cur.Token.AccessToken != stale && e.usable(cur.Token) {
			out = cur.Token // written by another process meanwhile
			return nil, errUnchanged
		}
		if cur.Token.RefreshToken == "" {
			reason := "the access token expired and there is no refresh token"
			if refused && e.usable(cur.Token) {
				// Not expired: the AS revoked or forgot it.
				reason = "the server refused the access token although it has not expired, and there is no refresh token"
			}
			outcome = e.needsAuth(entry, reason)
			return nil, errUnchanged
		}
		if cur.Issuer == "" {
			// Credentials another program stored (fallback.go) lack the issuer.
			if err := e.completeForeign(ctx, entry, cur); err != nil {
				return nil, fmt.Errorf("MCP server %q: refreshing the token: %w", entry.Name, err)
			}
		}
		c, ok := e.clientForRefresh(entry, cur)
		if !ok {
			outcome = e.needsAuth(entry, "the client that obtained the token is no longer configured")
			return nil, errUnchanged
		}
		c, berr := bindRefresh(cur, c) // a DPoP-bound token refreshes with the same key
		if berr != nil {
			outcome = e.needsAuth(entry, berr.Error())
			return nil, errUnchanged
		}
		if refused {
			if err := e.refreshBrake(entry); err != nil {
				return nil, err
			}
		}
		m, err := e.metaFor(ctx, cur.Issuer)
		if err != nil {
			return nil, fmt.Errorf("MCP server %q: refreshing the token: %w", entry.Name, err)
		}
		tok, err := e.refreshWithRetry(ctx, m.TokenEndpoint, c, cur.Token, cur.Resource)
		var te *TokenError
		if errors.As(err, &te) && (te.Code == "invalid_grant" || te.Code == "invalid_client" || te.Code == "unauthorized_client") {
			cur.Token = nil
			if te.Code != "invalid_grant" && cur.Client != nil && cur.Client.Dynamic {
				cur.Client = nil // the AS forgot our registration: register again next time
			}
			cur.UpdatedAt = e.opts.Now()
			outcome = e.needsAuth(entry, "the authorization server rejected the refresh token ("+te.Code+")")
			return cur, nil
		}
		if err != nil {
			return nil, fmt.Errorf("MCP server %q: refreshing the token (stored tokens kept): %w", entry.Name, err)
		}
		cur.Token = tok
		cur.UpdatedAt = e.opts.Now()
		out, refreshed = tok, true
		return cur, nil
	})
	if err = ignoreUnchanged(err); err != nil {
		return nil, err
	}
	if outcome != nil {
		st.set(entry.URL, nil)
		return nil, outcome
	}
	st.set(entry.URL, out)
	if refreshed {
		e.obtainedNow(entry, out.AccessToken, strings.Fields(out.Scope))
	}
	return out, nil
}

// clientForRefresh returns the client that obtained cur's token.
func (e *Engine) clientForRefresh(entry *config.Entry, cur *authstore.Credentials) (clientCreds, bool) {
	o := oauthOf(entry)
	if cur.Client == nil {
		return clientCreds{}, false
	}
	if cur.Client.Dynamic {
		return fromStored(cur.Client), true
	}
	switch cur.Client.ClientID {
	case o.ClientMetadataURL:
		return clientCreds{id: o.ClientMetadataURL, method: AuthNone, kind: RegistrationMetadataDocument}, true
	case o.ClientID:
		m := cur.Client.TokenEndpointAuthMethod
		if o.ClientSecret == "" {
			m = AuthNone
		}
		return clientCreds{id: o.ClientID, secret: o.ClientSecret, method: m, kind: RegistrationPreregistered}, true
	}
	return clientCreds{}, false
}

// refreshWithRetry runs the refresh_token grant, retrying transient failures
// (network, 5xx, temporarily_unavailable) at most 3 times with backoff.
func (e *Engine) refreshWithRetry(ctx context.Context, endpoint string, c clientCreds, old *authstore.Token, resource string) (*authstore.Token, error) {
	delay := e.opts.RetryBackoff
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(delay):
			}
			delay *= 2
		}
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old.RefreshToken}}
		if resource != "" {
			form.Set("resource", resource)
		}
		tok, err := e.tokenRequest(ctx, endpoint, c, form)
		if err == nil {
			if tok.RefreshToken == "" {
				tok.RefreshToken = old.RefreshToken
			}
			if tok.Scope == "" {
				tok.Scope = old.Scope
			}
			return tok, nil
		}
		last = err
		var te *TokenError
		if !errors.As(err, &te) || !te.temporary() || ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, last
}
