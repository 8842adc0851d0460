package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/mcplink/mcplink/config"
)

// Token exchange (RFC 8693) parameters of enterprise-managed authorization.
const (
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeIDJAG         = "urn:ietf:params:oauth:token-type:id-jag"
	TokenTypeIDToken       = "urn:ietf:params:oauth:token-type:id_token"
)

// idJAG obtains an identity assertion authorization grant from the
// enterprise IdP (step 1 of enterprise-managed authorization): the user's ID
// token is exchanged for an ID-JAG whose audience is the MCP server's
// authorization server (issuer) and whose resource is the MCP server.
func (e *Engine) idJAG(ctx context.Context, entry *config.Entry, issuer, resource string) (string, error) {
	p := oauthOf(entry).IdP
	var idToken string
	var err error
	if p.IDTokenFile != "" {
		idToken, err = readSecretFile(entry, "oauth.idp.idTokenFile", p.IDTokenFile)
	} else if len(p.IDTokenCommand) > 0 {
		idToken, err = runSecretCommand(ctx, entry, "oauth.idp.idTokenCommand", p.IDTokenCommand)
	} else {
		err = fmt.Errorf("MCP server %q: \"oauth.idp\" in %s needs \"idTokenFile\" or \"idTokenCommand\"", entry.Name, entry.Source)
	}
	if err != nil {
		return "", err
	}
	endpoint := p.TokenEndpoint
	if endpoint == "" {
		if endpoint, err = e.idpTokenEndpoint(ctx, p.Issuer); err != nil {
			return "", fmt.Errorf("MCP server %q: identity provider %s: %w", entry.Name, p.Issuer, err)
		}
	}
	form := url.Values{
		"grant_type":           {GrantTypeTokenExchange},
		"requested_token_type": {TokenTypeIDJAG},
		"subject_token":        {idToken},
		"subject_token_type":   {TokenTypeIDToken},
		"audience":             {issuer},
	}
	if resource != "" {
		form.Set("resource", resource)
	}
	if s := oauthOf(entry).Scope; s != "" {
		form.Set("scope", s)
	}
	c := clientCreds{id: p.ClientID, secret: p.ClientSecret, method: AuthNone}
	if p.ClientSecret != "" {
		c.method = AuthBasic
	}
	if err := e.setClientAuth(c, form); err != nil {
		return "", err
	}
	e.notify(entry.Name, "exchanging the ID token for an ID-JAG at "+endpoint)
	jag, err := e.exchange(ctx, endpoint, c, form)
	if err != nil {
		return "", fmt.Errorf("MCP server %q: token exchange at the identity provider (check \"oauth.idp\" in %s): %w", entry.Name, entry.Source, err)
	}
	return jag, nil
}

// exchange posts an RFC 8693 token exchange and returns the issued ID-JAG.
func (e *Engine) exchange(ctx context.Context, endpoint string, c clientCreds, form url.Values) (string, error) {
	resp, err := e.sendToken(ctx, endpoint, c, form)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", &TokenError{Endpoint: endpoint, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", &TokenError{Endpoint: endpoint, Status: resp.StatusCode, Err: err}
	}
	var tr struct {
		AccessToken     string `json:"access_token"`
		IssuedTokenType string `json:"issued_token_type"`
		Error           string `json:"error"`
		Description     string `json:"error_description"`
	}
	jerr := json.Unmarshal(data, &tr)
	if resp.StatusCode != http.StatusOK || tr.Error != "" {
		te := &TokenError{Endpoint: endpoint, Status: resp.StatusCode}
		if jerr == nil {
			te.Code, te.Description = tr.Error, sanitize(tr.Description)
		}
		return "", te
	}
	switch {
	case jerr != nil:
		return "", &TokenError{Endpoint: endpoint, Status: resp.StatusCode, Err: errors.New("malformed JSON token exchange response")}
	case tr.AccessToken == "":
		return "", &TokenError{Endpoint: endpoint, Status: resp.StatusCode, Err: errors.New("token exchange response has no access_token")}
	case tr.IssuedTokenType != "" && tr.IssuedTokenType != TokenTypeIDJAG:
		return "", &TokenError{Endpoint: endpoint, Status: resp.StatusCode, Err: fmt.Errorf("issued_token_type is %q, want %s", sanitize(tr.IssuedTokenType), TokenTypeIDJAG)}
	}
	return tr.AccessToken, nil
}

// idpTokenEndpoint discovers an IdP's token endpoint from its metadata
// (OAuth or OpenID Connect), requiring the metadata's issuer to match.
func (e *Engine) idpTokenEndpoint(ctx context.Context, issuer string) (string, error) {
	if err := checkSecureURL(issuer); err != nil {
		return "", err
	}
	for _, mu := range asMetaURLs(issuer) {
		var m struct {
			Issuer        string `json:"issuer"`
			TokenEndpoint string `json:"token_endpoint"`
		}
		if _, err := e.getJSON(ctx, mu, nil, &m); err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			continue
		}
		if m.Issuer != issuer {
			return "", &MetadataMismatchError{MetadataURL: mu, Field: "issuer", Got: m.Issuer, Want: issuer}
		}
		if err := checkSecureURL(m.TokenEndpoint); err != nil {
			return "", fmt.Errorf("metadata at %s: token_endpoint: %w", mu, err)
		}
		return m.TokenEndpoint, nil
	}
	return "", errors.New(`no metadata found; set "tokenEndpoint" in "oauth.idp"`)
}
