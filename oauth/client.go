package oauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/config"
)

// Token endpoint authentication methods.
const (
	AuthBasic = "client_secret_basic"
	AuthPost  = "client_secret_post"
	AuthNone  = "none"
)

// clientCreds is the client used for one flow or refresh.
type clientCreds struct {
	id, secret, method string
	kind               string // Registration* constant
	// assertion signs the private_key_jwt client assertion (method AuthPrivateKeyJWT).
	assertion *clientAssertion
	// dpop, when set, binds the tokens to this key (a proof on every token request).
	dpop *dpopKey
}

func storedClientUsable(c *authstore.Client, issuer, redirectURI string) bool {
	return c != nil && c.Dynamic && c.ClientID != "" && c.Issuer == issuer && c.RedirectURI == redirectURI
}

// pickAuthMethod chooses the token endpoint auth method for a client that
// has a secret: client_secret_basic if supported (or nothing is advertised:
// RFC 8414's default), else client_secret_post, else none.
func pickAuthMethod(supported []string) string {
	switch {
	case len(supported) == 0 || slices.Contains(supported, AuthBasic):
		return AuthBasic
	case slices.Contains(supported, AuthPost):
		return AuthPost
	default:
		return AuthNone
	}
}

// resolveClient returns the client for a new authorization, registering one
// (and persisting it) when needed.
func (e *Engine) resolveClient(ctx context.Context, entry *config.Entry, d *Discovery, redirectURI string) (clientCreds, error) {
	o := oauthOf(entry)
	asm := d.AuthServer
	if o.ClientMetadataURL != "" && asm.ClientIDMetadataDocumentSupported {
		return clientCreds{id: o.ClientMetadataURL, method: AuthNone, kind: RegistrationMetadataDocument}, nil
	}
	if o.ClientID != "" {
		c := clientCreds{id: o.ClientID, secret: o.ClientSecret, method: AuthNone, kind: RegistrationPreregistered}
		if o.ClientSecret != "" {
			c.method = pickAuthMethod(asm.TokenEndpointAuthMethodsSupported)
			if c.method == AuthNone {
				c.method = AuthPost // we hold a secret; send it
			}
		}
		return c, nil
	}
	creds, err := e.load(ctx, entry)
	if err != nil {
		return clientCreds{}, err
	}
	if creds != nil && storedClientUsable(creds.Client, d.Issuer, redirectURI) && e.secretValid(creds.Client) {
		return fromStored(creds.Client), nil
	}
	if asm.RegistrationEndpoint == "" {
		reason := "no registration_endpoint in its metadata"
		if o.ClientMetadataURL != "" {
			reason = "it supports neither client ID metadata documents nor dynamic registration"
		}
		return clientCreds{}, &ClientRegistrationError{Server: entry.Name, ConfigFile: entry.Source, Issuer: d.Issuer, Reason: reason}
	}
	return e.register(ctx, entry, d, redirectURI)
}

func fromStored(c *authstore.Client) clientCreds {
	m := c.TokenEndpointAuthMethod
	if m == "" {
		m = AuthBasic
	}
	if c.ClientSecret == "" {
		m = AuthNone
	}
	return clientCreds{id: c.ClientID, secret: c.ClientSecret, method: m, kind: RegistrationStored}
}

func fromStoredKind(c *authstore.Client, kind string) clientCreds {
	cc := fromStored(c)
	cc.kind = kind
	return cc
}

// dropClient forgets a dynamic client the AS rejected (invalid_client).
func (e *Engine) dropClient(ctx context.Context, entry *config.Entry, clientID string) error {
	return e.opts.Store.Update(ctx, entry.Name, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		if cur == nil || cur.Client == nil || cur.Client.ClientID != clientID {
			return cur, errUnchanged
		}
		cur.Client = nil
		cur.Token = nil
		return cur, nil
	})
}

// errUnchanged aborts a Store.Update without writing; callers treat it as success.
var errUnchanged = errors.New("unchanged")

func ignoreUnchanged(err error) error {
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// requestScopes computes the scopes for a new authorization: granted (the
// step-up union), the configured scope, the challenge's scope (else the
// PRM's scopes_supported), prior (see priorScopes), plus offline_access when
// the AS supports it and the scopes come from metadata (see below).
func requestScopes(entry *config.Entry, d *Discovery, granted []string, prior ...string) []string {
	out := slices.Clone(granted)
	add := func(ss ...string) {
		for _, s := range ss {
			if s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	add(strings.Fields(oauthOf(entry).Scope)...)
	switch {
	case d.Challenge != nil && d.Challenge.Scope != "":
		add(strings.Fields(d.Challenge.Scope)...)
	case d.ResourceMetadata != nil:
		add(d.ResourceMetadata.ScopesSupported...)
	}
	for _, s := range prior {
		if s != "offline_access" { // the rule below decides
			add(s)
		}
	}
	// offline_access only joins other scopes: asking for it alone would
	// replace the AS's default scopes. It joins scopes chosen from metadata
	// (the MCP authorization spec's scope selection allows it), because
	// some servers (Ory Hydra) issue no refresh token without it and the
	// user would be sent back to the browser whenever the access token
	// expires. An explicit "oauth.scope" is the user's choice: it is sent
	// as written.
	if len(out) > 0 && oauthOf(entry).Scope == "" && d.AuthServer != nil && slices.Contains(d.AuthServer.ScopesSupported, "offline_access") {
		add("offline_access")
	}
	return out
}

// priorScopes are the scopes stored for entry that every new authorization
// requests too: those its token was granted (when it came from issuer) and
// those the MCP server demanded since (Credentials.RequiredScopes, also
// returned alone as required).
func (e *Engine) priorScopes(ctx context.Context, entry *config.Entry, issuer string) (prior, required []string) {
	creds, err := e.load(ctx, entry)
	if err != nil || creds == nil {
		return nil, nil
	}
	return priorScopesOf(creds, issuer), creds.RequiredScopes
}

// priorScopesOf is priorScopes for the stored credentials creds (nil: none).
func priorScopesOf(creds *authstore.Credentials, issuer string) []string {
	if creds == nil {
		return nil
	}
	var out []string
	if creds.Token != nil && creds.Issuer == issuer {
		out = strings.Fields(creds.Token.Scope)
	}
	return union(out, creds.RequiredScopes)
}

// stillRequired is required without the scopes tok was granted; nil when
// none is left.
func stillRequired(required []string, tok *authstore.Token) []string {
	granted := strings.Fields(tok.Scope)
	var out []string
	for _, s := range required {
		if !slices.Contains(granted, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// refusedRequired handles an authorization refused with error code: when
// it is invalid_scope and the request included recorded required scopes,
// they are forgotten (so the next sign-in does not fail the same way) and
// the returned error says so; otherwise err is returned as is.
func (e *Engine) refusedRequired(ctx context.Context, entry *config.Entry, code string, required []string, err error) error {
	if code != "invalid_scope" || len(required) == 0 {
		return err
	}
	uerr := ignoreUnchanged(e.opts.Store.Update(ctx, entry.Name, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		if cur == nil || !cur.ForURL(entry.URL) || len(cur.RequiredScopes) == 0 {
			return nil, errUnchanged
		}
		var keep []string
		for _, s := range cur.RequiredScopes {
			if !slices.Contains(required, s) {
				keep = append(keep, s)
			}
		}
		cur.RequiredScopes = keep
		cur.UpdatedAt = e.opts.Now()
		return cur, nil
	}))
	if uerr != nil {
		return errors.Join(err, uerr)
	}
	return fmt.Errorf("%w; the request included %s, which the MCP server demanded earlier: they are forgotten now, so signing in again asks without them (if the server still demands them, ask its admin which scopes to use)", err, strings.Join(required, " "))
}

// recordRequired stores the scopes need that the MCP server demanded with
// entry's credentials (Credentials.RequiredScopes) when the stored token
// lacks some of them, so that the next interactive sign-in requests them.
// Nothing is written when they are known already or no token is stored.
func (e *Engine) recordRequired(ctx context.Context, entry *config.Entry, need []string) error {
	missing := func(c *authstore.Credentials) []string {
		if c == nil || !c.ForURL(entry.URL) || c.Token == nil || c.Token.AccessToken == "" {
			return nil
		}
		granted := strings.Fields(c.Token.Scope)
		var out []string
		for _, s := range need {
			if !slices.Contains(granted, s) && !slices.Contains(c.RequiredScopes, s) {
				out = append(out, s)
			}
		}
		return out
	}
	c, err := e.load(ctx, entry)
	if err != nil || len(missing(c)) == 0 {
		return err
	}
	return ignoreUnchanged(e.opts.Store.Update(ctx, entry.Name, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		add := missing(cur)
		if len(add) == 0 {
			return nil, errUnchanged
		}
		cur.RequiredScopes = union(cur.RequiredScopes, add)
		cur.UpdatedAt = e.opts.Now()
		return cur, nil
	}))
}
