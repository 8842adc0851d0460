package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/config"
)

// effectiveResource applies "oauth.resource": a string replaces the
// discovered resource indicator, false (OmitResource) sends none ("").
func effectiveResource(entry *config.Entry, discovered string) string {
	o := oauthOf(entry)
	switch {
	case o.OmitResource:
		return ""
	case o.Resource != "":
		return o.Resource
	}
	return discovered
}

// LogoutOptions tunes LogoutServer.
type LogoutOptions struct {
	// LocalOnly skips revocation at the authorization server.
	LocalOnly bool
	// Entry is the server's config entry, if it is still configured; it
	// supplies a pre-registered client's credentials for revocation.
	Entry *config.Entry
}

// LogoutResult says what LogoutServer did.
type LogoutResult struct {
	// HadTokens is true when tokens were stored (and are now deleted).
	HadTokens bool
	// Revoked lists the token types revoked at the AS: "refresh_token",
	// "access_token".
	Revoked []string
	// RevocationSkipped says why nothing was revoked (LocalOnly, no
	// revocation_endpoint, no client), empty otherwise.
	RevocationSkipped string
	// RevocationErr is the revocation failure, if any; local deletion
	// happened anyway.
	RevocationErr error
	// NotRevocable lists token types the AS answered unsupported_token_type
	// for (RFC 7009 §2.2.1), typically self-contained JWT access tokens that
	// stay valid until they expire. That is the AS's design, not a failure.
	NotRevocable []string
}

// Logout revokes the stored tokens of the server name at the authorization
// server (RFC 7009, when it advertises a revocation_endpoint; failures are
// reported through Notify) and deletes them locally, keeping the client
// registration so that signing in again reuses it.
func (e *Engine) Logout(ctx context.Context, name string) error {
	res, err := e.LogoutServer(ctx, name, LogoutOptions{})
	if err != nil {
		return err
	}
	if res.RevocationErr != nil {
		e.notify(name, "revoking the tokens at the authorization server failed (local credentials removed anyway): "+res.RevocationErr.Error())
	}
	return nil
}

// LogoutServer revokes (unless opts.LocalOnly) and deletes the tokens stored
// for name, and resets the server's loop brakes (see loop.go). The client
// registration is kept. A failed revocation is in the
// result, not the error: the error is only about local deletion.
func (e *Engine) LogoutServer(ctx context.Context, name string, opts LogoutOptions) (*LogoutResult, error) {
	res := &LogoutResult{}
	st := e.state(name)
	st.mu.Lock()
	st.tok, st.url = nil, ""
	st.mu.Unlock()

	creds, err := e.opts.Store.Load(ctx, name)
	if errors.Is(err, authstore.ErrNotFound) {
		st.guard.reset()
		return res, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading credentials for %q: %w", name, err)
	}
	tok := creds.Token
	res.HadTokens = tok != nil && (tok.AccessToken != "" || tok.RefreshToken != "")
	if res.HadTokens {
		switch {
		case opts.LocalOnly:
			res.RevocationSkipped = "only the local tokens were to be deleted"
		case creds.From != "":
			// Another program's tokens (fallback.go): mcplink stops using
			// them but does not sign that program out.
			res.RevocationSkipped = "the tokens are " + creds.From + "'s; mcplink no longer uses them (sign " + creds.From + " out with its own logout)"
		default:
			res.Revoked, res.NotRevocable, res.RevocationSkipped, res.RevocationErr = e.revoke(ctx, name, opts.Entry, creds)
		}
	}

	// Delete the tokens, keep the registration.
	err = e.opts.Store.Update(ctx, name, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		if cur == nil {
			return nil, errUnchanged
		}
		if cur.Client == nil {
			if cur.From != "" {
				// Another program's entry: an empty one of mcplink's hides it.
				return &authstore.Credentials{ServerURL: cur.ServerURL, UpdatedAt: e.opts.Now()}, nil
			}
			return nil, nil // nothing worth keeping: delete the record
		}
		cur.Token = nil
		cur.RequiredScopes = nil
		cur.UpdatedAt = e.opts.Now()
		return cur, nil
	})
	if err = ignoreUnchanged(err); err != nil {
		return nil, fmt.Errorf("forgetting credentials for %q: %w", name, err)
	}
	st.set("", nil)
	// A logout is a fresh start: the loop brakes no longer hold (see loopGuard.reset).
	st.guard.reset()
	return res, nil
}

// revoke revokes the refresh token first (RFC 7009 §2.1: that usually
// revokes its access tokens too), then the access token.
func (e *Engine) revoke(ctx context.Context, name string, entry *config.Entry, creds *authstore.Credentials) (revoked, notRevocable []string, skipped string, err error) {
	if creds.Issuer == "" {
		return nil, nil, "no issuer is stored with the tokens", nil
	}
	m, err := e.revocationMeta(ctx, creds.Issuer)
	if err != nil {
		return nil, nil, "", err
	}
	if m == nil || m.RevocationEndpoint == "" {
		return nil, nil, "the authorization server advertises no revocation_endpoint", nil
	}
	var c clientCreds
	ok := false
	if entry != nil && entry.Name == name {
		c, ok = e.clientForRefresh(entry, creds)
	} else if creds.Client != nil && creds.Client.Dynamic {
		c, ok = fromStored(creds.Client), true
	}
	if !ok {
		return nil, nil, "the client that obtained the tokens is no longer configured", nil
	}
	var errs []error
	for _, t := range []struct{ kind, value string }{
		{"refresh_token", creds.Token.RefreshToken},
		{"access_token", creds.Token.AccessToken},
	} {
		if t.value == "" {
			continue
		}
		if rerr := e.revokeToken(ctx, m.RevocationEndpoint, c, t.value, t.kind); rerr != nil {
			var te *TokenError
			if errors.As(rerr, &te) && te.Code == "unsupported_token_type" {
				notRevocable = append(notRevocable, t.kind)
				continue
			}
			errs = append(errs, fmt.Errorf("revoking the %s: %w", t.kind, rerr))
			continue
		}
		revoked = append(revoked, t.kind)
	}
	return revoked, notRevocable, "", errors.Join(errs...)
}

// revokeToken is one RFC 7009 request.
func (e *Engine) revokeToken(ctx context.Context, endpoint string, c clientCreds, token, hint string) error {
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	data, status, err := e.postClientForm(ctx, endpoint, c, form)
	if err != nil {
		return &TokenError{Endpoint: endpoint, Kind: EndpointRevocation, Status: status, Err: err}
	}
	if status == http.StatusOK {
		return nil
	}
	te := &TokenError{Endpoint: endpoint, Kind: EndpointRevocation, Status: status}
	var oe struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(data, &oe) == nil {
		te.Code, te.Description = oe.Error, sanitize(oe.Description)
	}
	return te
}

// revocationMeta returns the AS metadata of issuer (cached or fetched), nil
// when it publishes none, and an error when it could not be reached: then
// whether it can revoke is unknown, which must not pass for "it cannot".
func (e *Engine) revocationMeta(ctx context.Context, issuer string) (*asMeta, error) {
	e.mu.Lock()
	c, ok := e.meta[issuer]
	e.mu.Unlock()
	if ok && !c.meta.fallback && e.opts.Now().Sub(c.fetched) < 10*time.Minute {
		return c.meta, nil
	}
	var unreachable string
	m, err := e.fetchASMeta(ctx, issuer, func(s Step) {
		if s.Status == 0 && s.Err != "" && unreachable == "" {
			unreachable = s.Err
		}
	})
	if err != nil {
		return nil, fmt.Errorf("fetching the authorization server metadata of %s: %w", issuer, err)
	}
	if m == nil && unreachable != "" {
		return nil, fmt.Errorf("cannot reach the authorization server %s to revoke the tokens: %s", issuer, unreachable)
	}
	if m != nil {
		e.cacheMeta(issuer, m)
	}
	return m, nil
}
