package oauth

import (
	"context"
	"errors"
	"fmt"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/config"
)

// Credentials another program stored (Options.Fallback).
//
// When mcplink's store has no entry for a server, the engine reads the
// fallback's entry of the same name — opencode's mcp-auth.json, say — and
// uses it under the same rules as its own: only for the exact URL it was
// obtained for (Credentials.ForURL). The fallback is never written: every
// write goes to mcplink's store, so the first refresh (or sign-in, or
// logout) makes the credentials mcplink's own, and from then on mcplink's
// entry hides the fallback's.

// fallbackStore is Store with a read-only fallback for absent entries.
type fallbackStore struct {
	authstore.Store
	fb authstore.Reader
}

// withFallback returns st reading fb for entries st does not have.
func withFallback(st authstore.Store, fb authstore.Reader) authstore.Store {
	if fb == nil || st == nil {
		return st
	}
	return fallbackStore{Store: st, fb: fb}
}

func (s fallbackStore) Load(ctx context.Context, name string) (*authstore.Credentials, error) {
	c, err := s.Store.Load(ctx, name)
	if !errors.Is(err, authstore.ErrNotFound) {
		return c, err
	}
	if fc, ferr := s.fb.Load(ctx, name); ferr == nil && fc != nil {
		return fc, nil
	}
	return nil, err
}

// Update runs fn on mcplink's entry, or — when there is none — on the
// fallback's; whatever fn returns is written to mcplink's store only.
func (s fallbackStore) Update(ctx context.Context, name string, fn func(cur *authstore.Credentials) (*authstore.Credentials, error)) error {
	return s.Store.Update(ctx, name, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		if cur == nil {
			if fc, err := s.fb.Load(ctx, name); err == nil && fc != nil {
				cur = fc
			}
		}
		return fn(cur)
	})
}

func (s fallbackStore) List(ctx context.Context) (map[string]*authstore.Credentials, error) {
	all, err := s.Store.List(ctx)
	if err != nil {
		return nil, err
	}
	fb, ferr := s.fb.List(ctx)
	if ferr != nil {
		return all, nil
	}
	if all == nil {
		all = map[string]*authstore.Credentials{}
	}
	for name, c := range fb {
		if _, ok := all[name]; !ok {
			all[name] = c
		}
	}
	return all, nil
}

// completeForeign fills in what another program's credentials lack before
// mcplink refreshes them: opencode keeps no issuer or resource (its MCP SDK
// discovers them on every refresh), so they are discovered here, together
// with the client: opencode's dynamic registration (its redirect URI is the
// entry's, which opencode's config shares, and the auth method the AS
// prefers, as opencode's SDK picks it), or the configured pre-registered
// client, which opencode does not store. It runs inside the store update
// (no store access here) and changes cur only on success.
func (e *Engine) completeForeign(ctx context.Context, entry *config.Entry, cur *authstore.Credentials) error {
	status, chal, err := e.probe(ctx, entry, nil)
	if err != nil {
		return err
	}
	d, err := e.discover(ctx, entry, status, chal, nil)
	if err != nil {
		return err
	}
	if d.Issuer == "" || d.AuthServer == nil {
		return fmt.Errorf("discovery found no authorization server")
	}
	method := func(secret string) string {
		if secret == "" {
			return AuthNone
		}
		if m := pickAuthMethod(d.AuthServer.TokenEndpointAuthMethodsSupported); m != AuthNone {
			return m
		}
		return AuthPost
	}
	o := oauthOf(entry)
	switch {
	case o.ClientID != "" && (cur.Client == nil || cur.Client.ClientID == o.ClientID):
		cur.Client = &authstore.Client{ClientID: o.ClientID, Issuer: d.Issuer, TokenEndpointAuthMethod: method(o.ClientSecret)}
	case cur.Client != nil:
		c := *cur.Client
		c.Issuer = d.Issuer
		if c.RedirectURI == "" {
			c.RedirectURI = RedirectURI(entry)
		}
		if c.TokenEndpointAuthMethod == "" {
			c.TokenEndpointAuthMethod = method(c.ClientSecret)
		}
		cur.Client = &c
	}
	cur.Issuer, cur.Resource = d.Issuer, d.Resource
	return nil
}
