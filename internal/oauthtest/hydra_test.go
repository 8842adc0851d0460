package oauthtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
)

// hydraScopes are the scopes of a Hydra set up for an MCP server: Hydra's
// defaults plus the resource's.
var hydraScopes = []string{"mcp:read", "offline_access", "offline", "openid"}

// The registration answer has Hydra v2.3's shape: its whole client object,
// with an empty-object jwks and metadata, a null contacts, the RFC 7592
// registration access token and client URI, and the default client scope.
// go-sdk's response type cannot decode it (jwks is declared a string),
// which is the bug this fixture keeps reproducible.
func TestHydraRegistrationShape(t *testing.T) {
	srv := start(t, Options{HydraQuirks: true, Scopes: hydraScopes})
	cb := newCallback(t, http.StatusOK)
	body, _ := json.Marshal(map[string]any{
		"redirect_uris": []string{cb.URL}, "token_endpoint_auth_method": AuthMethodBasic,
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"client_name": "mcplink", "application_type": "native",
	})
	resp, err := http.Post(srv.RegistrationEndpoint(), "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d", resp.StatusCode)
	}
	exact := map[string]string{
		"jwks": `{}`, "metadata": `{}`, "contacts": `null`, "audience": `[]`, "allowed_cors_origins": `[]`,
		"client_secret_expires_at": `0`, "token_endpoint_auth_method": `"client_secret_basic"`,
		"scope": `"offline_access offline openid"`, "subject_type": `"public"`, "skip_consent": `false`,
		"skip_logout_consent": `null`, "userinfo_signed_response_alg": `"none"`, "owner": `""`,
		"refresh_token_grant_refresh_token_lifespan": `null`, "client_name": `"mcplink"`,
	}
	for k, want := range exact {
		if got := string(raw[k]); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	var id, secret, rat, uri string
	for k, p := range map[string]*string{"client_id": &id, "client_secret": &secret, "registration_access_token": &rat, "registration_client_uri": &uri} {
		if err := json.Unmarshal(raw[k], p); err != nil || *p == "" {
			t.Errorf("%s = %s, want a non-empty string", k, raw[k])
		}
	}
	if uri != srv.RegistrationEndpoint()+"/"+id {
		t.Errorf("registration_client_uri = %q", uri)
	}
	for _, k := range []string{"created_at", "updated_at", "redirect_uris", "grant_types", "response_types"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("no %s", k)
		}
	}
	data, _ := json.Marshal(raw)
	var sdk oauthex.ClientRegistrationResponse
	if err := json.Unmarshal(data, &sdk); err == nil {
		t.Error("go-sdk's ClientRegistrationResponse decoded Hydra's answer; the fixture no longer reproduces the jwks quirk")
	}

	// RFC 7592 deletion with the registration access token; a wrong token
	// gets Hydra's 401.
	del := func(tok string) int {
		req, _ := http.NewRequest(http.MethodDelete, uri, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := del("wrong"); st != http.StatusUnauthorized {
		t.Errorf("DELETE with a wrong token: %d", st)
	}
	if st := del(rat); st != http.StatusNoContent {
		t.Errorf("DELETE: %d", st)
	}
	if _, ok := srv.Client(id); ok || srv.Stats().RegistrationDeletes != 1 {
		t.Errorf("client still known after DELETE (deletes %d)", srv.Stats().RegistrationDeletes)
	}
}

// Errors read like Hydra's: fosite's description, then the hint, with
// double quotes turned into single ones; a Hydra without dynamic
// registration answers 404 with its herodot words.
func TestHydraErrorShapes(t *testing.T) {
	srv := start(t, Options{HydraQuirks: true, Scopes: hydraScopes})
	st, body := postJSON(t, srv.RegistrationEndpoint(), map[string]any{"redirect_uris": []string{"https://example.com/cb"}})
	if st != http.StatusBadRequest || body["error"] != "invalid_redirect_uri" ||
		!strings.HasPrefix(body["error_description"].(string), "The value of one or more redirect_uris is invalid. Redirect URIs must be") {
		t.Errorf("registration error: %d %v", st, body)
	}
	resp, body := postForm(t, srv.TokenEndpoint(), url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {"nobody"}}, "", "")
	if resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_client" ||
		body["error_description"] != "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method). Unknown client." {
		t.Errorf("token error: %d %v", resp.StatusCode, body)
	}
	if strings.Contains(body["error_description"].(string), `"`) {
		t.Error("double quote in a Hydra error_description")
	}

	off := start(t, Options{HydraQuirks: true, HydraDCRDisabled: true})
	meta := getJSON(t, off.IssuerURL+"/.well-known/openid-configuration")
	if meta["registration_endpoint"] != off.RegistrationEndpoint() {
		t.Errorf("an advertised registration_endpoint stays when registration is off; got %v", meta["registration_endpoint"])
	}
	st, body = postJSON(t, off.RegistrationEndpoint(), map[string]any{"redirect_uris": []string{"http://127.0.0.1:1/cb"}})
	if st != http.StatusNotFound || body["error"] != "The requested resource could not be found" || body["error_description"] != "Dynamic registration is not enabled." {
		t.Errorf("disabled registration: %d %v", st, body)
	}
	// OpenID discovery only.
	r, err := http.Get(off.MetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusNotFound {
		t.Errorf("RFC 8414 metadata: %d, want 404 (Hydra v2.3 serves OpenID discovery only)", r.StatusCode)
	}
}

// Tokens: token_type "bearer", expires_in a second short, a refresh token
// only with offline_access (or offline), no iss in the redirect, and the
// client may request only its registered scopes.
func TestHydraTokensAndScopes(t *testing.T) {
	srv := start(t, Options{HydraQuirks: true, Scopes: hydraScopes, HydraDefaultClientScope: hydraScopes})
	f := newFlow(t, srv, AuthMethodBasic, "mcp:read")
	tok := f.login(t)
	if tok.TokenType != "bearer" || tok.RefreshToken != "" {
		t.Errorf("token_type %q, refresh token issued: %t (want none without offline_access)", tok.TokenType, tok.RefreshToken != "")
	}
	if e := tok.Extra("expires_in"); e != float64(3599) {
		t.Errorf("expires_in = %v, want 3599", e)
	}
	f.cfg.Scopes = []string{"mcp:read", "offline"}
	if tok := f.login(t); tok.RefreshToken == "" {
		t.Error("no refresh token with offline")
	}
	f.cfg.Scopes = []string{"mcp:read", "offline_access"}
	verifier := oauth2.GenerateVerifier()
	q := f.authorize(t, verifier, "state-1")
	if q.Has("iss") {
		t.Error("iss in the authorization response; Hydra v2.3 sends none")
	}

	// A client registered without scope gets Hydra's default client scope
	// and may not ask for mcp:read.
	narrow := start(t, Options{HydraQuirks: true, Scopes: hydraScopes})
	g := newFlow(t, narrow, AuthMethodBasic, "mcp:read")
	u := g.cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("resource", narrow.MCPURL))
	if err := FollowRedirects(testCtx(t), u); err != nil {
		t.Fatal(err)
	}
	q = g.cb.wait(t)
	if q.Get("error") != "invalid_scope" || q.Get("error_description") != "The requested scope is invalid, unknown, or malformed. The OAuth 2.0 Client is not allowed to request scope 'mcp:read'." {
		t.Errorf("authorization answer: %v", q)
	}
}
