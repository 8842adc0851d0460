package cli_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdOpencodeSignin signs in to an OAuth-protected MCP server the way
// opencode does and stores the result where and how opencode stores it:
//
//	opencode-signin NAME URL [expired] [norefresh]
//
// It discovers the authorization server from the resource's RFC 9728
// metadata, registers a client with opencode's client metadata (redirect URI
// http://127.0.0.1:19876/mcp/oauth/callback, "none" auth), authorizes with
// PKCE and the resource indicator (taking the code from the redirect's
// Location, as the browser would deliver it), redeems the code, and merges
// the entry into $XDG_DATA_HOME/opencode/mcp-auth.json in opencode's exact
// shape (McpAuth.Entry, JSON.stringify(…, null, 2), mode 0600): clientInfo,
// serverUrl, tokens with expiresAt in fractional Unix seconds. "expired"
// stores an expiry in the past; "norefresh" drops the refresh token.
func cmdOpencodeSignin(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: opencode-signin NAME URL [expired] [norefresh]")
	}
	name, server := args[0], args[1]
	expired, norefresh := false, false
	for _, a := range args[2:] {
		switch a {
		case "expired":
			expired = true
		case "norefresh":
			norefresh = true
		default:
			ts.Fatalf("opencode-signin: unknown option %q", a)
		}
	}
	entry, err := opencodeSignin(server)
	ts.Check(err)
	if expired {
		past := float64(time.Now().Add(-time.Hour).UnixMilli()) / 1000
		entry.Tokens.ExpiresAt = &past
	}
	if norefresh {
		entry.Tokens.RefreshToken = ""
	}
	dir := filepath.Join(ts.Getenv("XDG_DATA_HOME"), "opencode")
	ts.Check(os.MkdirAll(dir, 0o755))
	file := filepath.Join(dir, "mcp-auth.json")
	all := map[string]json.RawMessage{}
	if data, err := os.ReadFile(file); err == nil {
		ts.Check(json.Unmarshal(data, &all))
	}
	raw, err := json.Marshal(entry)
	ts.Check(err)
	all[name] = raw
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	ts.Check(enc.Encode(all))
	ts.Check(os.WriteFile(file, bytes.TrimSuffix(buf.Bytes(), []byte("\n")), 0o600))
}

// ocEntry is opencode's McpAuth.Entry in the key order opencode writes it
// after a sign-in (clientInfo, serverUrl, then tokens; codeVerifier and
// oauthState are cleared at the end of the flow).
type ocEntry struct {
	ClientInfo *ocClientInfo `json:"clientInfo,omitempty"`
	ServerURL  string        `json:"serverUrl"`
	Tokens     *ocTokens     `json:"tokens,omitempty"`
}

type ocClientInfo struct {
	ClientID              string `json:"clientId"`
	ClientSecret          string `json:"clientSecret,omitempty"`
	ClientIDIssuedAt      *int64 `json:"clientIdIssuedAt,omitempty"`
	ClientSecretExpiresAt *int64 `json:"clientSecretExpiresAt,omitempty"`
}

type ocTokens struct {
	AccessToken  string   `json:"accessToken"`
	RefreshToken string   `json:"refreshToken,omitempty"`
	ExpiresAt    *float64 `json:"expiresAt,omitempty"`
	Scope        string   `json:"scope,omitempty"`
}

const ocRedirect = "http://127.0.0.1:19876/mcp/oauth/callback"

func opencodeSignin(server string) (*ocEntry, error) {
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	getJSON := func(u string, v any) error {
		resp, err := hc.Get(u)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
	}
	su, err := url.Parse(server)
	if err != nil {
		return nil, err
	}
	var prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	if err := getJSON(su.Scheme+"://"+su.Host+"/.well-known/oauth-protected-resource"+su.Path, &prm); err != nil {
		return nil, err
	}
	if len(prm.AuthorizationServers) == 0 {
		return nil, errors.New("no authorization server in the resource metadata")
	}
	var as struct {
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
		RegistrationEndpoint  string `json:"registration_endpoint"`
	}
	iss, _ := url.Parse(prm.AuthorizationServers[0])
	if err := getJSON(iss.Scheme+"://"+iss.Host+"/.well-known/oauth-authorization-server"+strings.TrimSuffix(iss.Path, "/"), &as); err != nil {
		return nil, err
	}
	// Dynamic registration with opencode's client metadata (oauth-provider.ts).
	reg, _ := json.Marshal(map[string]any{
		"redirect_uris": []string{ocRedirect}, "client_name": "OpenCode", "client_uri": "https://opencode.ai",
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"token_endpoint_auth_method": "none",
	})
	resp, err := hc.Post(as.RegistrationEndpoint, "application/json", bytes.NewReader(reg))
	if err != nil {
		return nil, err
	}
	var client struct {
		ClientID              string `json:"client_id"`
		ClientSecret          string `json:"client_secret"`
		ClientIDIssuedAt      *int64 `json:"client_id_issued_at"`
		ClientSecretExpiresAt *int64 `json:"client_secret_expires_at"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&client)
	resp.Body.Close()
	if err != nil || resp.StatusCode/100 != 2 || client.ClientID == "" {
		return nil, fmt.Errorf("registration: %s %v", resp.Status, err)
	}
	vb := make([]byte, 32)
	_, _ = rand.Read(vb)
	verifier := base64.RawURLEncoding.EncodeToString(vb)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {client.ClientID}, "redirect_uri": {ocRedirect},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"state": {"st-1"}, "resource": {prm.Resource},
	}
	resp, err = hc.Get(as.AuthorizationEndpoint + "?" + q.Encode())
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		return nil, fmt.Errorf("authorize: %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {ocRedirect}, "client_id": {client.ClientID}, "resource": {prm.Resource},
	}
	if client.ClientSecret != "" {
		form.Set("client_secret", client.ClientSecret)
	}
	resp, err = hc.PostForm(as.TokenEndpoint, form)
	if err != nil {
		return nil, err
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
		Scope        string `json:"scope"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		return nil, fmt.Errorf("token: %s %v", resp.Status, err)
	}
	e := &ocEntry{
		ClientInfo: &ocClientInfo{ClientID: client.ClientID, ClientSecret: client.ClientSecret,
			ClientIDIssuedAt: client.ClientIDIssuedAt, ClientSecretExpiresAt: client.ClientSecretExpiresAt},
		ServerURL: server,
		Tokens:    &ocTokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Scope: tok.Scope},
	}
	if tok.ExpiresIn > 0 {
		exp := float64(time.Now().UnixMilli())/1000 + float64(tok.ExpiresIn) // Date.now()/1000 + expires_in
		e.Tokens.ExpiresAt = &exp
	}
	return e, nil
}
