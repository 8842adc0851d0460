package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/config"
)

// maxRegistrationBody bounds the registration response we read.
const maxRegistrationBody = 1 << 20

// registrationAnswerLimit is sanitize's bound on the AS's error text quoted
// in a ClientRegistrationError (Hydra's invalid_client_metadata description
// alone is about 230 bytes before its hint).
const registrationAnswerLimit = 500

// registrationCleanupTimeout bounds the RFC 7592 DELETE of a registration
// we cannot use.
const registrationCleanupTimeout = 10 * time.Second

// registered is what mcplink reads from an RFC 7591 client information
// response. The members it does not use are ignored whatever their type:
// RFC 7591 §3.2.1 lets the AS return any registered metadata and extension
// members, and real servers do — Ory Hydra answers "jwks": {},
// "metadata": {} and "contacts": null, which go-sdk's response type
// (jwks declared a string) refuses to decode.
type registered struct {
	ClientID                string
	ClientSecret            string
	ClientSecretExpiresAt   int64 // Unix seconds; 0: never
	TokenEndpointAuthMethod string
	RedirectURIs            []string // nil when the AS did not echo them
	GrantTypes              []string // nil when the AS did not echo them
	RegistrationAccessToken string   // RFC 7592
	RegistrationClientURI   string   // RFC 7592
}

// decodeRegistration decodes a client information response tolerantly:
// only client_id must be a non-empty string. A member mcplink uses that has
// an unexpected type (a null, an object or an array where a string is
// expected) is treated as absent, except client_id. The error never quotes
// the body, which holds the client secret.
func decodeRegistration(data []byte) (*registered, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, fmt.Errorf("the response is not a JSON object")
	}
	r := &registered{}
	if err := json.Unmarshal(m["client_id"], &r.ClientID); err != nil || r.ClientID == "" {
		return nil, fmt.Errorf("the response has no client_id string")
	}
	str := func(k string) string {
		var s string
		if json.Unmarshal(m[k], &s) != nil {
			return ""
		}
		return s
	}
	strs := func(k string) []string {
		var raw []json.RawMessage
		if json.Unmarshal(m[k], &raw) != nil || raw == nil {
			return nil
		}
		out := []string{}
		for _, v := range raw {
			var s string
			if json.Unmarshal(v, &s) == nil {
				out = append(out, s)
			}
		}
		return out
	}
	r.ClientSecret = str("client_secret")
	r.TokenEndpointAuthMethod = str("token_endpoint_auth_method")
	r.RedirectURIs = strs("redirect_uris")
	r.GrantTypes = strs("grant_types")
	r.RegistrationAccessToken = str("registration_access_token")
	r.RegistrationClientURI = str("registration_client_uri")
	// client_secret_expires_at is a number of seconds; some servers send it
	// as a string. Anything else is read as 0 (never expires).
	if raw := m["client_secret_expires_at"]; len(raw) > 0 {
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			if v, err := n.Int64(); err == nil && v > 0 {
				r.ClientSecretExpiresAt = v
			} else if f, err := n.Float64(); err == nil && f > 0 && f < 1<<62 {
				r.ClientSecretExpiresAt = int64(f) // 1.9e9
			}
		} else if v, err := strconv.ParseInt(str("client_secret_expires_at"), 10, 64); err == nil && v > 0 {
			r.ClientSecretExpiresAt = v
		}
	}
	return r, nil
}

// usable checks that mcplink can use the registration r made for
// redirectURI and returns the token endpoint auth method to use; reason
// says why not otherwise. requested is the method mcplink asked for.
func (r *registered) usable(redirectURI, requested string) (method, reason string) {
	if r.RedirectURIs != nil && !slices.Contains(r.RedirectURIs, redirectURI) {
		return "", fmt.Sprintf("the registered client's redirect_uris %q do not include %s", boundList(r.RedirectURIs), redirectURI)
	}
	if len(r.GrantTypes) > 0 && !slices.Contains(r.GrantTypes, "authorization_code") {
		return "", fmt.Sprintf("the registered client's grant_types %q do not include authorization_code", boundList(r.GrantTypes))
	}
	method = requested
	if r.TokenEndpointAuthMethod != "" {
		method = r.TokenEndpointAuthMethod
	}
	switch method {
	case AuthNone:
	case AuthBasic, AuthPost:
		if r.ClientSecret == "" {
			if r.TokenEndpointAuthMethod == "" {
				return AuthNone, "" // we asked for a secret and got a public client
			}
			return "", fmt.Sprintf("token_endpoint_auth_method is %s but the response has no client_secret", method)
		}
	default:
		return "", fmt.Sprintf("the authorization server assigned token_endpoint_auth_method %q, which mcplink does not support for registered clients (it uses %s, %s or %s)", boundText(method, 60), AuthBasic, AuthPost, AuthNone)
	}
	return method, ""
}

func boundList(ss []string) []string {
	out := make([]string, 0, min(len(ss), 5))
	for i, s := range ss {
		if i == 5 {
			out = append(out, "…")
			break
		}
		out = append(out, boundText(s, 200))
	}
	return out
}

// boundAnswer sanitizes text from the AS for an error message (see
// sanitize: control characters replaced, at most registrationAnswerLimit
// bytes).
func boundAnswer(s string) string { return sanitize(strings.TrimSpace(s)) }

// registrationRefusal reads the AS's error answer to a registration
// request: RFC 7591 §3.2.2's error and error_description when the body is
// a JSON object with them (error must be a string; anything else is read
// as absent), else a bounded excerpt of a text body.
func registrationRefusal(resp *http.Response, data []byte) (code, desc string) {
	var oe struct {
		Error       json.RawMessage `json:"error"`
		Description json.RawMessage `json:"error_description"`
	}
	if json.Unmarshal(data, &oe) == nil {
		_ = json.Unmarshal(oe.Error, &code)
		_ = json.Unmarshal(oe.Description, &desc)
		return boundAnswer(code), boundAnswer(desc)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/plain" && utf8.Valid(data) {
		return "", boundAnswer(string(data))
	}
	return "", ""
}

// register performs RFC 7591 registration and persists the client, with
// its RFC 7592 registration access token and client URI, so that later
// sign-ins (in this process or another) reuse it instead of registering
// again. A registration the AS created but mcplink cannot use is deleted
// again when the AS gave the means to (RFC 7592).
func (e *Engine) register(ctx context.Context, entry *config.Entry, d *Discovery, redirectURI string) (clientCreds, error) {
	endpoint := d.AuthServer.RegistrationEndpoint
	fail := func(status int, code, desc, reason string) (clientCreds, error) {
		return clientCreds{}, &ClientRegistrationError{
			Server: entry.Name, ConfigFile: entry.Source, Issuer: d.Issuer, Reason: reason,
			Endpoint: endpoint, Status: status, Code: code, Description: desc,
		}
	}
	method := pickAuthMethod(d.AuthServer.TokenEndpointAuthMethodsSupported)
	meta := oauthex.ClientRegistrationMetadata{
		RedirectURIs:            []string{redirectURI},
		TokenEndpointAuthMethod: method,
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		ClientName:              "mcplink",
		ApplicationType:         "native",
	}
	if d.DeviceAuthorizationEndpoint != "" {
		meta.GrantTypes = append(meta.GrantTypes, GrantDeviceCode) // device.go
	}
	payload, err := json.Marshal(meta)
	if err != nil {
		return clientCreds{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(payload))
	if err != nil {
		return clientCreds{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	e.notify(entry.Name, "registering an OAuth client at "+endpoint)
	resp, err := e.client.Do(req)
	if err != nil {
		return clientCreds{}, fmt.Errorf("MCP server %q: client registration at %s: %w", entry.Name, endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxRegistrationBody))
	if err != nil {
		return clientCreds{}, fmt.Errorf("MCP server %q: client registration at %s: %w", entry.Name, endpoint, err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		code, desc := registrationRefusal(resp, data)
		return fail(resp.StatusCode, code, desc, "the authorization server refused the registration")
	}
	rr, err := decodeRegistration(data)
	if err != nil {
		return fail(resp.StatusCode, "", "", "malformed registration response: "+err.Error())
	}
	method, reason := rr.usable(redirectURI, method)
	if reason != "" {
		e.deleteRegistration(ctx, entry, endpoint, rr)
		return fail(resp.StatusCode, "", "", reason)
	}
	sc := &authstore.Client{
		ClientID:                rr.ClientID,
		ClientSecret:            rr.ClientSecret,
		TokenEndpointAuthMethod: method,
		RedirectURI:             redirectURI,
		Issuer:                  d.Issuer,
		RegisteredAt:            e.opts.Now(),
		Dynamic:                 true,
		RegistrationAccessToken: rr.RegistrationAccessToken,
		RegistrationClientURI:   rr.RegistrationClientURI,
	}
	if rr.ClientSecretExpiresAt > 0 {
		sc.ClientSecretExpiresAt = time.Unix(rr.ClientSecretExpiresAt, 0)
	}
	var adopted *authstore.Client // another process's registration, stored meanwhile
	err = e.opts.Store.Update(ctx, entry.Name, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		adopted = nil
		if cur == nil || !cur.ForURL(entry.URL) {
			cur = &authstore.Credentials{ServerURL: entry.URL}
		}
		if cur.Client != nil && cur.Client.ClientID != sc.ClientID && storedClientUsable(cur.Client, d.Issuer, redirectURI) && e.secretValid(cur.Client) {
			// Another process registered while we did (the same sign-in
			// started twice): keep its client, so both use one.
			c := *cur.Client
			adopted = &c
			return nil, errUnchanged
		}
		if cur.Issuer != d.Issuer {
			// Never keep AS1's tokens next to AS2's client.
			cur.Token = nil
			cur.Issuer = d.Issuer
			cur.Resource = d.Resource
		}
		cur.Client = sc
		cur.UpdatedAt = e.opts.Now()
		return cur, nil
	})
	if err = ignoreUnchanged(err); err != nil {
		e.deleteRegistration(ctx, entry, endpoint, rr)
		return clientCreds{}, fmt.Errorf("MCP server %q: storing the client registration: %w", entry.Name, err)
	}
	if adopted != nil {
		e.deleteRegistration(ctx, entry, endpoint, rr)
		e.notify(entry.Name, "using OAuth client "+adopted.ClientID+", registered by another mcplink process meanwhile")
		return fromStored(adopted), nil
	}
	e.notify(entry.Name, "registered OAuth client "+rr.ClientID)
	return fromStoredKind(sc, RegistrationDynamic), nil
}

// secretValid reports whether c's secret has not expired.
func (e *Engine) secretValid(c *authstore.Client) bool {
	return c.ClientSecretExpiresAt.IsZero() || e.opts.Now().Before(c.ClientSecretExpiresAt)
}

// deleteRegistration deletes (RFC 7592 §2.3) a registration mcplink will
// not use, so that it does not linger at the AS, when the AS gave a
// registration access token and a client URI on the registration
// endpoint's origin (the token is never sent anywhere else). It is best
// effort: a failure is reported as a notice.
func (e *Engine) deleteRegistration(ctx context.Context, entry *config.Entry, endpoint string, rr *registered) {
	if rr.RegistrationAccessToken == "" || rr.RegistrationClientURI == "" || !sameOrigin(endpoint, rr.RegistrationClientURI) || checkSecureURL(rr.RegistrationClientURI) != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), registrationCleanupTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, rr.RegistrationClientURI, nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+rr.RegistrationAccessToken)
	resp, err := e.client.Do(req)
	if err != nil {
		e.notify(entry.Name, fmt.Sprintf("could not delete the unused client registration %s: %v", rr.ClientID, err))
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		e.notify(entry.Name, fmt.Sprintf("could not delete the unused client registration %s: HTTP %d", rr.ClientID, resp.StatusCode))
	}
}
