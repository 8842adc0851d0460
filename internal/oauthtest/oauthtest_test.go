package oauthtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"
)

// --- helpers ---------------------------------------------------------------

func start(t testing.TB, opts Options) *Server {
	t.Helper()
	srv, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// callback is a real loopback redirect target that records what it receives.
type callback struct {
	URL    string
	got    chan url.Values
	status atomic.Int32
}

func newCallback(t testing.TB, status int) *callback {
	t.Helper()
	cb := &callback{got: make(chan url.Values, 16)}
	cb.status.Store(int32(status))
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		cb.got <- r.URL.Query()
		w.WriteHeader(int(cb.status.Load()))
		_, _ = io.WriteString(w, "you may close this window")
	}))
	t.Cleanup(ts.Close)
	cb.URL = ts.URL + "/callback"
	return cb
}

func (cb *callback) wait(t testing.TB) url.Values {
	t.Helper()
	select {
	case q := <-cb.got:
		return q
	case <-time.After(5 * time.Second):
		t.Fatal("callback server was never hit")
		return nil
	}
}

func postJSON(t testing.TB, u string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode %s response: %v", u, err)
	}
	return resp.StatusCode, out
}

func postForm(t testing.TB, u string, form url.Values, basicID, basicSecret string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("decode %s response %q: %v", u, b, err)
		}
	}
	return resp, out
}

func getJSON(t testing.TB, u string) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode %s: %v", u, err)
	}
	return out
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// flow is a DCR-registered client driven by golang.org/x/oauth2.
type flow struct {
	srv    *Server
	cb     *callback
	cfg    *oauth2.Config
	method string
}

func newFlow(t testing.TB, srv *Server, method string, scopes ...string) *flow {
	t.Helper()
	cb := newCallback(t, http.StatusOK)
	status, reg := postJSON(t, srv.RegistrationEndpoint(), map[string]any{
		"redirect_uris":              []string{cb.URL},
		"client_name":                "flow test",
		"token_endpoint_auth_method": method,
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"application_type":           "native",
	})
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, reg)
	}
	secret, _ := reg["client_secret"].(string)
	if (method == AuthMethodNone) != (secret == "") {
		t.Fatalf("register %s: client_secret %q", method, secret)
	}
	style := oauth2.AuthStyleInParams
	if method == AuthMethodBasic {
		style = oauth2.AuthStyleInHeader
	}
	return &flow{srv: srv, cb: cb, method: method, cfg: &oauth2.Config{
		ClientID:     reg["client_id"].(string),
		ClientSecret: secret,
		RedirectURL:  cb.URL,
		Scopes:       scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:   srv.AuthorizationEndpoint(),
			TokenURL:  srv.TokenEndpoint(),
			AuthStyle: style,
		},
	}}
}

// authorize runs the front channel and returns the callback query.
func (f *flow) authorize(t testing.TB, verifier, state string) url.Values {
	t.Helper()
	u := f.cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("resource", f.srv.MCPURL))
	if err := FollowRedirects(testCtx(t), u); err != nil {
		t.Fatalf("FollowRedirects: %v", err)
	}
	q := f.cb.wait(t)
	if q.Get("state") != state {
		t.Fatalf("state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("error") != "" {
		t.Fatalf("authorization error: %v", q)
	}
	return q
}

func (f *flow) login(t testing.TB) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	q := f.authorize(t, verifier, "st-"+oauth2.GenerateVerifier()[:8])
	tok, err := f.cfg.Exchange(testCtx(t), q.Get("code"), oauth2.VerifierOption(verifier),
		oauth2.SetAuthURLParam("resource", f.srv.MCPURL))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return tok
}

// refresh does a refresh_token grant by hand (x/oauth2 cannot send resource).
func (f *flow) refresh(t testing.TB, rt string, extra url.Values) (*http.Response, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": {f.srv.MCPURL}}
	for k, v := range extra {
		form[k] = v
	}
	return f.post(t, f.srv.TokenEndpoint(), form)
}

func (f *flow) post(t testing.TB, u string, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	switch f.method {
	case AuthMethodBasic:
		return postForm(t, u, form, f.cfg.ClientID, f.cfg.ClientSecret)
	case AuthMethodPost:
		form.Set("client_secret", f.cfg.ClientSecret)
	}
	form.Set("client_id", f.cfg.ClientID)
	return postForm(t, u, form, "", "")
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func connect(t testing.TB, srv *Server, token string) (*mcp.ClientSession, error) {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "oauthtest-client", Version: "1"}, nil)
	cs, err := c.Connect(testCtx(t), &mcp.StreamableClientTransport{
		Endpoint:             srv.MCPURL,
		HTTPClient:           &http.Client{Transport: bearer{token}, Timeout: 10 * time.Second},
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}, nil)
	if err == nil {
		t.Cleanup(func() { cs.Close() })
	}
	return cs, err
}

func callTool(t testing.TB, cs *mcp.ClientSession, name string, args any) map[string]any {
	t.Helper()
	res, err := cs.CallTool(testCtx(t), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("CallTool %s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("CallTool %s returned an error result: %+v", name, res.Content)
	}
	b, _ := json.Marshal(res.StructuredContent)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// mcpStatus sends an initialize request with the given Authorization header.
func mcpStatus(t testing.TB, srv *Server, authz string) (int, string) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, srv.MCPURL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", srv.MCPURL, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// noRedirect GETs u without following redirects.
func noRedirect(t testing.TB, u string) *http.Response {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	return resp
}

// --- tests -------------------------------------------------------------------

func TestDiscoveryDocuments(t *testing.T) {
	srv := start(t, Options{})
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		m := getJSON(t, srv.IssuerURL+path)
		if m["issuer"] != srv.IssuerURL {
			t.Errorf("%s issuer = %v, want %s", path, m["issuer"], srv.IssuerURL)
		}
		for key, want := range map[string]string{
			"authorization_endpoint": srv.IssuerURL + "/authorize",
			"token_endpoint":         srv.IssuerURL + "/token",
			"registration_endpoint":  srv.IssuerURL + "/register",
			"revocation_endpoint":    srv.IssuerURL + "/revoke",
		} {
			if m[key] != want {
				t.Errorf("%s %s = %v, want %s", path, key, m[key], want)
			}
		}
		if got := strs(m["scopes_supported"]); !slices.Equal(got, DefaultScopes) {
			t.Errorf("scopes_supported = %v", got)
		}
		if got := strs(m["code_challenge_methods_supported"]); !slices.Equal(got, []string{"S256"}) {
			t.Errorf("code_challenge_methods_supported = %v", got)
		}
		if got := strs(m["token_endpoint_auth_methods_supported"]); !slices.Equal(got, []string{AuthMethodBasic, AuthMethodPost, AuthMethodNone}) {
			t.Errorf("token_endpoint_auth_methods_supported = %v", got)
		}
		if got := strs(m["grant_types_supported"]); !slices.Equal(got, []string{"authorization_code", "refresh_token"}) {
			t.Errorf("grant_types_supported = %v", got)
		}
		if m["authorization_response_iss_parameter_supported"] != true {
			t.Errorf("authorization_response_iss_parameter_supported = %v", m["authorization_response_iss_parameter_supported"])
		}
	}
	if srv.MetadataURL() != srv.IssuerURL+"/.well-known/oauth-authorization-server" {
		t.Errorf("MetadataURL = %s", srv.MetadataURL())
	}

	mcpBase := strings.TrimSuffix(srv.MCPURL, "/mcp")
	if mcpBase == srv.IssuerURL {
		t.Fatal("MCP server must run on a different port than the AS")
	}
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		m := getJSON(t, mcpBase+path)
		if m["resource"] != srv.MCPURL {
			t.Errorf("%s resource = %v, want %s", path, m["resource"], srv.MCPURL)
		}
		if got := strs(m["authorization_servers"]); !slices.Equal(got, []string{srv.IssuerURL}) {
			t.Errorf("%s authorization_servers = %v", path, got)
		}
		if got := strs(m["scopes_supported"]); !slices.Equal(got, []string{"mcp:read", "mcp:write"}) {
			t.Errorf("%s scopes_supported = %v", path, got)
		}
	}
}

func TestDiscoveryOptions(t *testing.T) {
	srv := start(t, Options{DisableDCR: true, NoIss: true, IssuerPath: "tenant1", Scopes: []string{"a", "b"},
		TokenEndpointAuthMethods: []string{AuthMethodNone}})
	u, _ := url.Parse(srv.IssuerURL)
	if u.Path != "/tenant1" {
		t.Fatalf("issuer path = %q", u.Path)
	}
	host := "http://" + u.Host
	for _, md := range []string{
		host + "/.well-known/oauth-authorization-server/tenant1",
		host + "/.well-known/openid-configuration/tenant1",
		srv.IssuerURL + "/.well-known/openid-configuration",
	} {
		m := getJSON(t, md)
		if m["issuer"] != srv.IssuerURL || m["token_endpoint"] != srv.IssuerURL+"/token" {
			t.Errorf("%s: issuer %v token_endpoint %v", md, m["issuer"], m["token_endpoint"])
		}
		if _, ok := m["registration_endpoint"]; ok {
			t.Errorf("%s: registration_endpoint present with DisableDCR", md)
		}
		if m["authorization_response_iss_parameter_supported"] != false {
			t.Errorf("%s: iss supported = %v with NoIss", md, m["authorization_response_iss_parameter_supported"])
		}
		if got := strs(m["scopes_supported"]); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("scopes_supported = %v", got)
		}
	}
	resp, err := http.Post(srv.IssuerURL+"/register", "application/json", strings.NewReader(`{"redirect_uris":["http://127.0.0.1:1/cb"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("register with DisableDCR: %s", resp.Status)
	}
	if srv.RegistrationEndpoint() != "" {
		t.Errorf("RegistrationEndpoint = %q with DisableDCR", srv.RegistrationEndpoint())
	}
}

func TestFullFlowAndToolCalls(t *testing.T) {
	srv := start(t, Options{})
	f := newFlow(t, srv, AuthMethodBasic, "mcp:read", "mcp:write")
	verifier := oauth2.GenerateVerifier()
	q := f.authorize(t, verifier, "state-123")
	if q.Get("iss") != srv.IssuerURL {
		t.Errorf("iss = %q, want %q", q.Get("iss"), srv.IssuerURL)
	}
	if !strings.HasPrefix(q.Get("code"), "code-") {
		t.Fatalf("code = %q", q.Get("code"))
	}
	tok, err := f.cfg.Exchange(testCtx(t), q.Get("code"), oauth2.VerifierOption(verifier),
		oauth2.SetAuthURLParam("resource", srv.MCPURL))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("token = %+v", tok)
	}
	if d := time.Until(tok.Expiry); d < 59*time.Minute || d > time.Hour+time.Minute {
		t.Errorf("expiry in %v, want ~1h", d)
	}
	if tok.Extra("scope") != "mcp:read mcp:write" {
		t.Errorf("scope = %v", tok.Extra("scope"))
	}

	st := srv.Stats()
	if st.Registrations != 1 || st.AuthorizeRequests != 1 || st.CodesIssued != 1 || st.TokenRequests["authorization_code"] != 1 {
		t.Errorf("stats = %+v", st)
	}
	if st.LastAuthorizeResource != srv.MCPURL || st.LastTokenResource != srv.MCPURL {
		t.Errorf("resource recorded: authorize %q token %q", st.LastAuthorizeResource, st.LastTokenResource)
	}
	if st.LastAuthorizeScope != "mcp:read mcp:write" || st.LastCodeChallengeMethod != "S256" || st.LastClientAuthMethod != AuthMethodBasic {
		t.Errorf("last params: scope %q method %q auth %q", st.LastAuthorizeScope, st.LastCodeChallengeMethod, st.LastClientAuthMethod)
	}
	if st.LastRegistration.ClientID != f.cfg.ClientID || st.LastRegistration.ClientSecret != "" {
		t.Errorf("LastRegistration = %+v (secret must be blank)", st.LastRegistration)
	}
	if c, ok := srv.Client(f.cfg.ClientID); !ok || c.TokenEndpointAuthMethod != AuthMethodBasic || c.ClientName != "flow test" {
		t.Errorf("Client = %+v, %v", c, ok)
	}

	cs, err := connect(t, srv, tok.AccessToken)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if got := callTool(t, cs, "echo", map[string]any{"text": "hello"}); got["text"] != "hello" {
		t.Errorf("echo = %v", got)
	}
	if got := callTool(t, cs, "add", map[string]any{"a": 2, "b": 40}); got["sum"] != 42.0 {
		t.Errorf("add = %v", got)
	}
	who := callTool(t, cs, "whoami", map[string]any{})
	if who["client_id"] != f.cfg.ClientID || !slices.Equal(strs(who["scopes"]), []string{"mcp:read", "mcp:write"}) {
		t.Errorf("whoami = %v", who)
	}
	if srv.Stats().MCPRequests == 0 {
		t.Error("MCPRequests not counted")
	}
}

func TestRefreshRotation(t *testing.T) {
	srv := start(t, Options{})
	f := newFlow(t, srv, AuthMethodPost)
	tok := f.login(t)

	resp, body := f.refresh(t, tok.RefreshToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %s %v", resp.Status, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}
	newRT, _ := body["refresh_token"].(string)
	newAT, _ := body["access_token"].(string)
	if newRT == "" || newRT == tok.RefreshToken || newAT == tok.AccessToken {
		t.Fatalf("refresh did not rotate: %v", body)
	}
	st := srv.Stats()
	if st.Refreshes != 1 || st.LastRefreshResource != srv.MCPURL || st.LastClientAuthMethod != AuthMethodPost {
		t.Errorf("stats: refreshes %d resource %q auth %q", st.Refreshes, st.LastRefreshResource, st.LastClientAuthMethod)
	}
	if code, _ := mcpStatus(t, srv, "Bearer "+newAT); code != http.StatusOK {
		t.Fatalf("new access token: %d", code)
	}

	// Reusing the rotated token fails and revokes the whole family.
	resp, body = f.refresh(t, tok.RefreshToken, nil)
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("reuse of rotated refresh token: %s %v", resp.Status, body)
	}
	if code, _ := mcpStatus(t, srv, "Bearer "+newAT); code != http.StatusUnauthorized {
		t.Errorf("access token after refresh-token reuse: %d, want 401", code)
	}
	if resp, body := f.refresh(t, newRT, nil); body["error"] != "invalid_grant" {
		t.Errorf("newest refresh token after reuse: %s %v", resp.Status, body)
	}

	// Narrowing scope on refresh works; widening does not.
	tok = f.login(t)
	resp, body = f.refresh(t, tok.RefreshToken, url.Values{"scope": {"mcp:read"}})
	if resp.StatusCode != http.StatusOK || body["scope"] != "mcp:read" {
		t.Fatalf("narrowing refresh: %s %v", resp.Status, body)
	}
	resp, body = f.refresh(t, body["refresh_token"].(string), url.Values{"scope": {"offline_access"}})
	if body["error"] != "invalid_scope" {
		t.Errorf("widening refresh: %s %v", resp.Status, body)
	}
}

func TestRefreshViaOAuth2LacksResource(t *testing.T) {
	// x/oauth2's TokenSource cannot send resource on refresh; a strict AS
	// (MCP requires resource on every token request) refuses it.
	srv := start(t, Options{})
	f := newFlow(t, srv, AuthMethodBasic)
	tok := f.login(t)
	tok.Expiry = time.Now().Add(-time.Minute)
	_, err := f.cfg.TokenSource(testCtx(t), tok).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_target" {
		t.Fatalf("refresh without resource: %v", err)
	}
	if srv.Stats().LastRefreshResource != "" {
		t.Error("LastRefreshResource should record the absent resource")
	}

	lax := start(t, Options{ResourceOptional: true, NoRefreshRotation: true})
	f = newFlow(t, lax, AuthMethodBasic)
	tok = f.login(t)
	tok.Expiry = time.Now().Add(-time.Minute)
	nt, err := f.cfg.TokenSource(testCtx(t), tok).Token()
	if err != nil {
		t.Fatalf("refresh with ResourceOptional: %v", err)
	}
	if nt.AccessToken == tok.AccessToken || nt.RefreshToken != tok.RefreshToken {
		t.Errorf("NoRefreshRotation: want new access token and unchanged refresh token")
	}
	if _, body := f.refresh(t, tok.RefreshToken, nil); body["access_token"] == nil {
		t.Errorf("second use of non-rotated refresh token: %v", body)
	}
}

func TestRefreshTokenIssuance(t *testing.T) {
	srv := start(t, Options{RefreshRequiresOfflineAccess: true})
	f := newFlow(t, srv, AuthMethodNone, "mcp:read")
	if tok := f.login(t); tok.RefreshToken != "" {
		t.Error("refresh token issued without offline_access")
	}
	f.cfg.Scopes = []string{"mcp:read", "offline_access"}
	if tok := f.login(t); tok.RefreshToken == "" {
		t.Error("no refresh token with offline_access")
	}

	// A client registered without the refresh_token grant never gets one.
	cb := newCallback(t, http.StatusOK)
	_, reg := postJSON(t, srv.RegistrationEndpoint(), map[string]any{
		"redirect_uris": []string{cb.URL}, "token_endpoint_auth_method": "none",
	})
	if got := strs(reg["grant_types"]); !slices.Equal(got, []string{"authorization_code"}) {
		t.Errorf("default grant_types = %v", got)
	}
	g := &flow{srv: srv, cb: cb, method: AuthMethodNone, cfg: &oauth2.Config{
		ClientID: reg["client_id"].(string), RedirectURL: cb.URL, Scopes: []string{"offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: srv.AuthorizationEndpoint(), TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams},
	}}
	if tok := g.login(t); tok.RefreshToken != "" {
		t.Error("refresh token issued to a client without the refresh_token grant")
	}
}

func TestRevocation(t *testing.T) {
	srv := start(t, Options{})
	f := newFlow(t, srv, AuthMethodNone)
	tok := f.login(t)
	if code, _ := mcpStatus(t, srv, "Bearer "+tok.AccessToken); code != http.StatusOK {
		t.Fatalf("before revoke: %d", code)
	}
	resp, _ := f.post(t, srv.RevocationEndpoint(), url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %s", resp.Status)
	}
	if code, _ := mcpStatus(t, srv, "Bearer "+tok.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("after revoke: %d", code)
	}
	// Revoking the refresh token kills it and its family.
	resp, _ = f.post(t, srv.RevocationEndpoint(), url.Values{"token": {tok.RefreshToken}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke refresh: %s", resp.Status)
	}
	if _, body := f.refresh(t, tok.RefreshToken, nil); body["error"] != "invalid_grant" {
		t.Errorf("refresh after revoke: %v", body)
	}
	// Unknown tokens are fine (RFC 7009 §2.2).
	if resp, _ := f.post(t, srv.RevocationEndpoint(), url.Values{"token": {"nope"}}); resp.StatusCode != http.StatusOK {
		t.Errorf("revoke unknown: %s", resp.Status)
	}
	if srv.Stats().Revocations != 3 {
		t.Errorf("Revocations = %d", srv.Stats().Revocations)
	}
	// Another client may not revoke our token.
	tok = f.login(t)
	other := newFlow(t, srv, AuthMethodNone)
	if resp, body := other.post(t, srv.RevocationEndpoint(), url.Values{"token": {tok.AccessToken}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("cross-client revoke: %s %v", resp.Status, body)
	}
	if code, _ := mcpStatus(t, srv, "Bearer "+tok.AccessToken); code != http.StatusOK {
		t.Errorf("token revoked by another client: %d", code)
	}
}

func TestChallenges(t *testing.T) {
	srv := start(t, Options{RequiredScope: "mcp:write"})
	code, h := mcpStatus(t, srv, "")
	want := `Bearer resource_metadata="` + srv.ResourceMetadataURL + `", scope="mcp:write"`
	if code != http.StatusUnauthorized || h != want {
		t.Errorf("no token: %d %q, want 401 %q", code, h, want)
	}
	if srv.ResourceMetadataURL != strings.TrimSuffix(srv.MCPURL, "/mcp")+"/.well-known/oauth-protected-resource/mcp" {
		t.Errorf("ResourceMetadataURL = %s", srv.ResourceMetadataURL)
	}
	code, h = mcpStatus(t, srv, "Bearer at-bogus")
	if code != http.StatusUnauthorized || !strings.HasPrefix(h, `Bearer error="invalid_token"`) || !strings.Contains(h, srv.ResourceMetadataURL) {
		t.Errorf("bogus token: %d %q", code, h)
	}

	f := newFlow(t, srv, AuthMethodBasic, "mcp:read")
	tok := f.login(t)
	code, h = mcpStatus(t, srv, "Bearer "+tok.AccessToken)
	if code != http.StatusForbidden || !strings.Contains(h, `error="insufficient_scope"`) || !strings.Contains(h, `scope="mcp:write"`) {
		t.Errorf("insufficient scope: %d %q", code, h)
	}
	if _, err := connect(t, srv, tok.AccessToken); err == nil {
		t.Error("go-sdk client connected with an insufficient token")
	}

	f.cfg.Scopes = []string{"mcp:read", "mcp:write"}
	tok = f.login(t)
	cs, err := connect(t, srv, tok.AccessToken)
	if err != nil {
		t.Fatalf("connect with mcp:write: %v", err)
	}
	callTool(t, cs, "echo", map[string]any{"text": "x"})

	srv.ExpireAccessTokens()
	code, h = mcpStatus(t, srv, "Bearer "+tok.AccessToken)
	if code != http.StatusUnauthorized || !strings.Contains(h, `error="invalid_token"`) || !strings.Contains(h, "expired") {
		t.Errorf("expired: %d %q", code, h)
	}
	if srv.ActiveAccessTokens() != 0 {
		t.Errorf("ActiveAccessTokens = %d after expiry", srv.ActiveAccessTokens())
	}
	resp, body := f.refresh(t, tok.RefreshToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh after expiry: %v", body)
	}
	srv.RevokeAll()
	if code, _ := mcpStatus(t, srv, "Bearer "+body["access_token"].(string)); code != http.StatusUnauthorized {
		t.Errorf("after RevokeAll: %d", code)
	}
	if _, body := f.refresh(t, body["refresh_token"].(string), nil); body["error"] != "invalid_grant" {
		t.Errorf("refresh after RevokeAll: %v", body)
	}
	if srv.Stats().MCPRejected < 5 {
		t.Errorf("MCPRejected = %d", srv.Stats().MCPRejected)
	}
}

func TestStepUpScope(t *testing.T) {
	srv := start(t, Options{})
	code, h := mcpStatus(t, srv, "")
	if want := `Bearer resource_metadata="` + srv.ResourceMetadataURL + `", scope="mcp:read mcp:write"`; code != http.StatusUnauthorized || h != want {
		t.Errorf("default challenge: %d %q, want %q", code, h, want)
	}
	f := newFlow(t, srv, AuthMethodNone, "mcp:read")
	tok := f.login(t)
	if code, _ := mcpStatus(t, srv, "Bearer "+tok.AccessToken); code != http.StatusOK {
		t.Fatalf("no required scope: %d", code)
	}
	srv.SetRequiredScope("mcp:read mcp:write")
	code, h = mcpStatus(t, srv, "Bearer "+tok.AccessToken)
	if code != http.StatusForbidden || !strings.Contains(h, `scope="mcp:read mcp:write"`) {
		t.Fatalf("after SetRequiredScope: %d %q", code, h)
	}
	f.cfg.Scopes = []string{"mcp:read", "mcp:write"}
	if code, _ := mcpStatus(t, srv, "Bearer "+f.login(t).AccessToken); code != http.StatusOK {
		t.Errorf("stepped-up token: %d", code)
	}
}

func TestPKCEAndCodeChecks(t *testing.T) {
	srv := start(t, Options{})
	f := newFlow(t, srv, AuthMethodBasic)
	exchange := func(code, verifier, redirect, resource string) (*http.Response, map[string]any) {
		return f.post(t, srv.TokenEndpoint(), url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
			"redirect_uri": {redirect}, "resource": {resource},
		})
	}

	verifier := oauth2.GenerateVerifier()
	q := f.authorize(t, verifier, "s1")
	resp, body := exchange(q.Get("code"), oauth2.GenerateVerifier(), f.cb.URL, srv.MCPURL)
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("wrong verifier: %s %v", resp.Status, body)
	}
	// The code is burned by the failed attempt.
	if _, body := exchange(q.Get("code"), verifier, f.cb.URL, srv.MCPURL); body["error"] != "invalid_grant" {
		t.Errorf("code reuse after failure: %v", body)
	}

	q = f.authorize(t, verifier, "s2")
	other := strings.Replace(f.cb.URL, "/callback", "/other", 1)
	if _, body := exchange(q.Get("code"), verifier, other, srv.MCPURL); body["error"] != "invalid_grant" {
		t.Errorf("wrong redirect_uri at token: %v", body)
	}

	q = f.authorize(t, verifier, "s3")
	if _, body := exchange(q.Get("code"), verifier, f.cb.URL, "http://127.0.0.1:1/mcp"); body["error"] != "invalid_target" {
		t.Errorf("wrong resource at token: %v", body)
	}

	// Replaying a redeemed code fails and revokes what it issued.
	q = f.authorize(t, verifier, "s4")
	resp, body = exchange(q.Get("code"), verifier, f.cb.URL, srv.MCPURL)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %v", body)
	}
	if _, body := exchange(q.Get("code"), verifier, f.cb.URL, srv.MCPURL); body["error"] != "invalid_grant" {
		t.Errorf("code replay: %v", body)
	}
	if code, _ := mcpStatus(t, srv, "Bearer "+body["access_token"].(string)); code != http.StatusUnauthorized {
		t.Errorf("token from replayed code still valid: %d", code)
	}
	if _, body := exchange("", verifier, f.cb.URL, srv.MCPURL); body["error"] != "invalid_request" {
		t.Errorf("missing code: %v", body)
	}
}

func TestAuthorizeValidation(t *testing.T) {
	srv := start(t, Options{})
	f := newFlow(t, srv, AuthMethodNone)
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	base := func() url.Values {
		return url.Values{
			"response_type": {"code"}, "client_id": {f.cfg.ClientID}, "redirect_uri": {f.cb.URL},
			"state": {"xyz"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
			"resource": {srv.MCPURL}, "scope": {"mcp:read"},
		}
	}
	authURL := func(v url.Values) string { return srv.AuthorizationEndpoint() + "?" + v.Encode() }

	// Untrusted client or redirect URI: no redirect at all.
	cbURL, _ := url.Parse(f.cb.URL)
	for name, mod := range map[string]func(url.Values){
		"unknown client":    func(v url.Values) { v.Set("client_id", "client-nope") },
		"other port":        func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:1"+cbURL.Path) },
		"localhost alias":   func(v url.Values) { v.Set("redirect_uri", "http://localhost:"+cbURL.Port()+cbURL.Path) },
		"missing redirect":  func(v url.Values) { v.Del("redirect_uri") },
		"trailing slash":    func(v url.Values) { v.Set("redirect_uri", f.cb.URL+"/") },
		"repeated redirect": func(v url.Values) { v.Add("redirect_uri", f.cb.URL) },
	} {
		v := base()
		mod(v)
		if resp := noRedirect(t, authURL(v)); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %s location %q", name, resp.Status, resp.Header.Get("Location"))
		}
		if err := FollowRedirects(testCtx(t), authURL(v)); err == nil {
			t.Errorf("%s: FollowRedirects succeeded", name)
		}
	}

	// Everything else is reported to the client's redirect URI.
	for name, tc := range map[string]struct {
		mod  func(url.Values)
		want string
	}{
		"no PKCE":         {func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, "invalid_request"},
		"plain PKCE":      {func(v url.Values) { v.Set("code_challenge_method", "plain") }, "invalid_request"},
		"no method":       {func(v url.Values) { v.Del("code_challenge_method") }, "invalid_request"},
		"short challenge": {func(v url.Values) { v.Set("code_challenge", "abc") }, "invalid_request"},
		"token response":  {func(v url.Values) { v.Set("response_type", "token") }, "unsupported_response_type"},
		"no resource":     {func(v url.Values) { v.Del("resource") }, "invalid_target"},
		"wrong resource":  {func(v url.Values) { v.Set("resource", srv.MCPURL+"/") }, "invalid_target"},
		"unknown scope":   {func(v url.Values) { v.Set("scope", "admin") }, "invalid_scope"},
		"repeated scope":  {func(v url.Values) { v.Add("scope", "mcp:write") }, "invalid_request"},
	} {
		v := base()
		tc.mod(v)
		if err := FollowRedirects(testCtx(t), authURL(v)); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		q := f.cb.wait(t)
		if q.Get("error") != tc.want || q.Get("state") != "xyz" || q.Get("iss") != srv.IssuerURL || q.Get("code") != "" {
			t.Errorf("%s: callback got %v, want error=%s", name, q, tc.want)
		}
	}
	st := srv.Stats()
	if st.CodesIssued != 0 || st.AuthorizeRequests != 6*2+9 {
		t.Errorf("codes %d authorize requests %d", st.CodesIssued, st.AuthorizeRequests)
	}
}

func TestNoIss(t *testing.T) {
	srv := start(t, Options{NoIss: true})
	f := newFlow(t, srv, AuthMethodNone)
	q := f.authorize(t, oauth2.GenerateVerifier(), "s")
	if _, ok := q["iss"]; ok || q.Get("code") == "" {
		t.Errorf("callback query %v: want code and no iss", q)
	}
}

func TestRegistrationValidation(t *testing.T) {
	srv := start(t, Options{TokenEndpointAuthMethods: []string{AuthMethodNone, AuthMethodPost}})
	for name, tc := range map[string]struct {
		body map[string]any
		want string
	}{
		"no redirect":       {map[string]any{}, "invalid_redirect_uri"},
		"https redirect":    {map[string]any{"redirect_uris": []string{"https://example.com/cb"}}, "invalid_redirect_uri"},
		"non-loopback http": {map[string]any{"redirect_uris": []string{"http://192.168.1.2:8080/cb"}}, "invalid_redirect_uri"},
		"fragment":          {map[string]any{"redirect_uris": []string{"http://127.0.0.1:8080/cb#x"}}, "invalid_redirect_uri"},
		"custom scheme":     {map[string]any{"redirect_uris": []string{"com.example:/cb"}}, "invalid_redirect_uri"},
		"web app":           {map[string]any{"redirect_uris": []string{"http://127.0.0.1:8080/cb"}, "application_type": "web", "token_endpoint_auth_method": "none"}, "invalid_client_metadata"},
		"implicit grant":    {map[string]any{"redirect_uris": []string{"http://127.0.0.1:8080/cb"}, "grant_types": []string{"implicit"}, "token_endpoint_auth_method": "none"}, "invalid_client_metadata"},
		"refresh only":      {map[string]any{"redirect_uris": []string{"http://127.0.0.1:8080/cb"}, "grant_types": []string{"refresh_token"}, "token_endpoint_auth_method": "none"}, "invalid_client_metadata"},
		"token response":    {map[string]any{"redirect_uris": []string{"http://127.0.0.1:8080/cb"}, "response_types": []string{"token"}, "token_endpoint_auth_method": "none"}, "invalid_client_metadata"},
		"default basic":     {map[string]any{"redirect_uris": []string{"http://127.0.0.1:8080/cb"}}, "invalid_client_metadata"},
		"unknown scope":     {map[string]any{"redirect_uris": []string{"http://127.0.0.1:8080/cb"}, "scope": "admin", "token_endpoint_auth_method": "none"}, "invalid_client_metadata"},
	} {
		status, body := postJSON(t, srv.RegistrationEndpoint(), tc.body)
		if status != http.StatusBadRequest || body["error"] != tc.want {
			t.Errorf("%s: %d %v, want %s", name, status, body, tc.want)
		}
	}
	resp, err := http.Post(srv.RegistrationEndpoint(), "text/plain", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("text/plain registration: %s", resp.Status)
	}

	status, body := postJSON(t, srv.RegistrationEndpoint(), map[string]any{
		"redirect_uris":              []string{"http://127.0.0.1:8080/cb", "http://[::1]:8080/cb", "http://localhost:9/cb"},
		"token_endpoint_auth_method": "client_secret_post",
		"client_name":                "ok",
	})
	if status != http.StatusCreated || body["client_secret"] == nil || body["application_type"] != "native" || body["client_secret_expires_at"] != 0.0 {
		t.Errorf("valid registration: %d %v", status, body)
	}
	if srv.Stats().Registrations != 1 {
		t.Errorf("Registrations = %d", srv.Stats().Registrations)
	}
}

func TestClientAuthentication(t *testing.T) {
	srv := start(t, Options{})
	for _, method := range []string{AuthMethodBasic, AuthMethodPost, AuthMethodNone} {
		f := newFlow(t, srv, method)
		if tok := f.login(t); tok.AccessToken == "" {
			t.Errorf("%s: no token", method)
		}
		if got := srv.Stats().LastClientAuthMethod; got != method {
			t.Errorf("%s: LastClientAuthMethod = %s", method, got)
		}
	}

	basic := newFlow(t, srv, AuthMethodBasic)
	tok := basic.login(t)
	form := func() url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "resource": {srv.MCPURL}}
	}
	// Wrong secret over Basic: 401 with a Basic challenge.
	resp, body := postForm(t, srv.TokenEndpoint(), form(), basic.cfg.ClientID, "wrong")
	if resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_client" || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("wrong secret: %s %v %q", resp.Status, body, resp.Header.Get("WWW-Authenticate"))
	}
	// A Basic client using client_secret_post.
	v := form()
	v.Set("client_id", basic.cfg.ClientID)
	v.Set("client_secret", basic.cfg.ClientSecret)
	if resp, body := postForm(t, srv.TokenEndpoint(), v, "", ""); resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("basic client via post: %s %v", resp.Status, body)
	}
	// Both methods at once.
	if resp, body := postForm(t, srv.TokenEndpoint(), v, basic.cfg.ClientID, basic.cfg.ClientSecret); body["error"] != "invalid_request" {
		t.Errorf("two auth methods: %s %v", resp.Status, body)
	}
	// No authentication for a confidential client.
	v.Del("client_secret")
	if resp, body := postForm(t, srv.TokenEndpoint(), v, "", ""); resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("confidential client without secret: %s %v", resp.Status, body)
	}
	if resp, body := postForm(t, srv.TokenEndpoint(), url.Values{"grant_type": {"refresh_token"}}, "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no client at all: %s %v", resp.Status, body)
	}
	// The refresh token still works for its rightful client.
	if resp, body := basic.refresh(t, tok.RefreshToken, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("rightful refresh: %v", body)
	}
	// Unsupported grant type, wrong content type.
	if resp, body := basic.post(t, srv.TokenEndpoint(), url.Values{"grant_type": {"password"}}); body["error"] != "unsupported_grant_type" {
		t.Errorf("password grant: %s %v", resp.Status, body)
	}
	resp2, err := http.Post(srv.TokenEndpoint(), "application/json", strings.NewReader(`{"grant_type":"refresh_token"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusBadRequest {
		t.Errorf("JSON token request: %s", resp2.Status)
	}
}

func TestPreRegisteredClient(t *testing.T) {
	cb := newCallback(t, http.StatusOK)
	srv := start(t, Options{DisableDCR: true, PreRegistered: []Client{{
		ClientID: "static-client", ClientSecret: "s3cret", RedirectURIs: []string{cb.URL}, ClientName: "Static",
	}}})
	f := &flow{srv: srv, cb: cb, method: AuthMethodBasic, cfg: &oauth2.Config{
		ClientID: "static-client", ClientSecret: "s3cret", RedirectURL: cb.URL,
		Endpoint: oauth2.Endpoint{AuthURL: srv.AuthorizationEndpoint(), TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInHeader},
	}}
	tok := f.login(t)
	if tok.RefreshToken == "" {
		t.Error("pre-registered client gets refresh tokens by default")
	}
	cs, err := connect(t, srv, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if who := callTool(t, cs, "whoami", nil); who["client_id"] != "static-client" {
		t.Errorf("whoami = %v", who)
	}
	if !srv.DeleteClient("static-client") || srv.DeleteClient("static-client") {
		t.Error("DeleteClient results")
	}
	if code, _ := mcpStatus(t, srv, "Bearer "+tok.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("token of deleted client: %d", code)
	}

	if _, err := Start(Options{PreRegistered: []Client{{ClientID: "x"}}}); err == nil {
		t.Error("pre-registered client without redirect URIs accepted")
	}
	if _, err := Start(Options{PreRegistered: []Client{{ClientID: "x", RedirectURIs: []string{cb.URL}, TokenEndpointAuthMethod: AuthMethodBasic}}}); err == nil {
		t.Error("basic client without secret accepted")
	}
}

func TestConsentPage(t *testing.T) {
	for _, path := range []string{"", "/tenant"} {
		t.Run("issuer path "+path, func(t *testing.T) { testConsentPage(t, path) })
	}
}

func testConsentPage(t *testing.T, issuerPath string) {
	srv := start(t, Options{ConsentPage: true, IssuerPath: issuerPath})
	f := newFlow(t, srv, AuthMethodNone, "mcp:read")
	verifier := oauth2.GenerateVerifier()
	u := f.cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", srv.MCPURL))

	// The page names the client and scopes.
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "flow test") || !strings.Contains(string(page), "<li>mcp:read</li>") ||
		!strings.Contains(string(page), `id="approve"`) || !strings.Contains(string(page), `id="deny"`) {
		t.Fatalf("consent page %s:\n%s", resp.Status, page)
	}
	if err := FollowRedirects(testCtx(t), u); !errors.Is(err, ErrConsentPage) {
		t.Errorf("FollowRedirects on consent page: %v", err)
	}

	// Deny.
	if err := Consent(testCtx(t), u, false); err != nil {
		t.Fatalf("deny: %v", err)
	}
	q := f.cb.wait(t)
	if q.Get("error") != "access_denied" || q.Get("state") != "st" || q.Get("iss") != srv.IssuerURL || q.Get("code") != "" {
		t.Errorf("deny callback: %v", q)
	}

	// Approve.
	if err := Consent(testCtx(t), u, true); err != nil {
		t.Fatalf("approve: %v", err)
	}
	q = f.cb.wait(t)
	if q.Get("code") == "" || q.Get("state") != "st" {
		t.Fatalf("approve callback: %v", q)
	}
	if _, err := f.cfg.Exchange(testCtx(t), q.Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", srv.MCPURL)); err != nil {
		t.Fatalf("exchange after consent: %v", err)
	}
	st := srv.Stats()
	if st.ConsentApprovals != 1 || st.ConsentDenials != 1 {
		t.Errorf("consent stats %+v", st)
	}

	// A decision for an unknown (or already used) request is refused.
	form := url.Values{"request_id": {"req-unknown"}, "action": {"approve"}}
	resp, err = http.PostForm(srv.IssuerURL+"/authorize/decision", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown request_id: %s", resp.Status)
	}
	// A decision is single-use: replaying the approval POST is refused.
	resp, err = http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	action, id, err := parseConsentForm(resp.Request.URL, page)
	if err != nil {
		t.Fatal(err)
	}
	decide := url.Values{"request_id": {id}, "action": {"approve"}}
	for i, want := range []int{http.StatusOK, http.StatusBadRequest} {
		resp, err = http.PostForm(action, decide) // follows the 303 to the callback
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("decision POST %d: %s, want %d", i, resp.Status, want)
		}
	}
	if q := f.cb.wait(t); q.Get("code") == "" {
		t.Errorf("plain-HTTP approval callback: %v", q)
	}
}

func TestSetNextTokenError(t *testing.T) {
	srv := start(t, Options{})
	f := newFlow(t, srv, AuthMethodBasic)
	tok := f.login(t)
	srv.SetNextTokenError("temporarily_unavailable")
	if resp, body := f.refresh(t, tok.RefreshToken, nil); resp.StatusCode != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" {
		t.Errorf("injected: %s %v", resp.Status, body)
	}
	// One-shot: the refresh token was not consumed.
	if resp, body := f.refresh(t, tok.RefreshToken, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("after injected error: %s %v", resp.Status, body)
	}
	srv.SetNextTokenError("invalid_client")
	if resp, _ := f.refresh(t, "x", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("injected invalid_client: %s", resp.Status)
	}
	st := srv.Stats()
	if st.TokenErrors != 2 || st.TokenRequests["refresh_token"] != 3 {
		t.Errorf("stats: errors %d requests %v", st.TokenErrors, st.TokenRequests)
	}
}

func TestFollowRedirectsErrorsAreRedacted(t *testing.T) {
	srv := start(t, Options{})
	f := newFlow(t, srv, AuthMethodNone)
	f.cb.status.Store(http.StatusInternalServerError)
	u := f.cfg.AuthCodeURL("secret-state", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("resource", srv.MCPURL))
	err := FollowRedirects(testCtx(t), u)
	if err == nil {
		t.Fatal("FollowRedirects ignored a 500 from the callback")
	}
	q := f.cb.wait(t) // the callback really was hit
	if strings.Contains(err.Error(), q.Get("code")) || strings.Contains(err.Error(), "secret-state") {
		t.Errorf("error leaks the code or state: %v", err)
	}
	if !strings.Contains(err.Error(), "500") {
		t.Errorf("error does not name the status: %v", err)
	}
}

func TestClose(t *testing.T) {
	srv, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := http.Get(srv.IssuerURL + "/.well-known/oauth-authorization-server"); err == nil {
		t.Error("AS still serving after Close")
	}
	if _, err := http.Get(srv.MCPURL); err == nil {
		t.Error("MCP server still serving after Close")
	}
	if _, err := Start(Options{TokenEndpointAuthMethods: []string{"private_key_jwt"}}); err == nil {
		t.Error("unsupported auth method accepted")
	}
}

func TestClientIDMetadataDocument(t *testing.T) {
	srv := start(t, Options{ClientIDMetadataDocuments: true})
	if m := getJSON(t, srv.MetadataURL()); m["client_id_metadata_document_supported"] != true {
		t.Errorf("client_id_metadata_document_supported = %v", m["client_id_metadata_document_supported"])
	}
	cb := newCallback(t, http.StatusOK)
	var docs atomic.Value // map[string]any served at /client.json
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/client.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(docs.Load())
	}))
	t.Cleanup(ts.Close)
	clientID := ts.URL + "/client.json"
	docs.Store(map[string]any{
		"client_id": clientID, "client_name": "CIMD app", "redirect_uris": []string{cb.URL},
		"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none",
	})
	f := &flow{srv: srv, cb: cb, method: AuthMethodNone, cfg: &oauth2.Config{
		ClientID: clientID, RedirectURL: cb.URL,
		Endpoint: oauth2.Endpoint{AuthURL: srv.AuthorizationEndpoint(), TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams},
	}}
	tok := f.login(t)
	if tok.RefreshToken == "" {
		t.Error("no refresh token for a CIMD client listing refresh_token")
	}
	cs, err := connect(t, srv, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if who := callTool(t, cs, "whoami", nil); who["client_id"] != clientID {
		t.Errorf("whoami = %v", who)
	}
	if st := srv.Stats(); st.MetadataDocumentFetches != 1 || st.Registrations != 0 {
		t.Errorf("fetches %d registrations %d", st.MetadataDocumentFetches, st.Registrations)
	}

	authURL := f.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("resource", srv.MCPURL))
	for name, doc := range map[string]map[string]any{
		"self mismatch": {"client_id": ts.URL + "/other.json", "redirect_uris": []string{cb.URL}},
		"secret":        {"client_id": clientID, "redirect_uris": []string{cb.URL}, "client_secret": "x"},
		"bad redirect":  {"client_id": clientID, "redirect_uris": []string{"https://evil.example/cb"}},
		"confidential":  {"client_id": clientID, "redirect_uris": []string{cb.URL}, "token_endpoint_auth_method": "client_secret_basic"},
	} {
		docs.Store(doc)
		if resp := noRedirect(t, authURL); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s", name, resp.Status)
		}
	}

	// Without the option a URL client_id is just an unknown client.
	plain := start(t, Options{})
	if resp := noRedirect(t, strings.Replace(authURL, srv.IssuerURL, plain.IssuerURL, 1)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("URL client_id without CIMD: %s", resp.Status)
	}
}

func TestTokenLifetimeAndDelay(t *testing.T) {
	srv := start(t, Options{TokenLifetime: 1200 * time.Millisecond})
	f := newFlow(t, srv, AuthMethodBasic)
	tok := f.login(t)
	if d := time.Until(tok.Expiry); d > time.Second+100*time.Millisecond || d < 0 {
		t.Errorf("expiry in %v, want ~1s (1.2s rounds to expires_in 1)", d)
	}
	if code, _ := mcpStatus(t, srv, "Bearer "+tok.AccessToken); code != http.StatusOK {
		t.Fatalf("fresh token: %d", code)
	}
	time.Sleep(1100 * time.Millisecond)
	if code, h := mcpStatus(t, srv, "Bearer "+tok.AccessToken); code != http.StatusUnauthorized || !strings.Contains(h, "expired") {
		t.Errorf("token after its lifetime: %d %q", code, h)
	}

	// Two concurrent refreshes with one refresh token: rotation lets only one
	// through, and the reuse revokes the family (why clients must serialize).
	srv.SetTokenDelay(150 * time.Millisecond)
	type result struct {
		status int
		body   map[string]any
	}
	results := make(chan result, 2)
	begin := time.Now()
	for range 2 {
		go func() {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "resource": {srv.MCPURL}}
			req, _ := http.NewRequest(http.MethodPost, srv.TokenEndpoint(), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(f.cfg.ClientID), url.QueryEscape(f.cfg.ClientSecret))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- result{}
				return
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			results <- result{resp.StatusCode, body}
		}()
	}
	var ok, failed int
	var newAT string
	for range 2 {
		r := <-results
		switch {
		case r.status == http.StatusOK:
			ok++
			newAT, _ = r.body["access_token"].(string)
		case r.body["error"] == "invalid_grant":
			failed++
		}
	}
	if time.Since(begin) < 150*time.Millisecond {
		t.Errorf("SetTokenDelay not applied: %v", time.Since(begin))
	}
	if ok != 1 || failed != 1 {
		t.Fatalf("concurrent refresh: %d ok, %d invalid_grant", ok, failed)
	}
	if code, _ := mcpStatus(t, srv, "Bearer "+newAT); code != http.StatusUnauthorized {
		t.Errorf("winner's token after reuse detection: %d, want 401", code)
	}
}

func TestChallengeScopeAndRefuse(t *testing.T) {
	srv := start(t, Options{ChallengeScope: "mcp:read", RequiredScope: "mcp:read mcp:write"})
	if code, h := mcpStatus(t, srv, ""); code != http.StatusUnauthorized || !strings.HasSuffix(h, `scope="mcp:read"`) {
		t.Errorf("401 challenge: %d %q, want the challenge scope", code, h)
	}
	f := newFlow(t, srv, AuthMethodNone, "mcp:read")
	tok := f.login(t)
	if code, h := mcpStatus(t, srv, "Bearer "+tok.AccessToken); code != http.StatusForbidden || !strings.Contains(h, `scope="mcp:read mcp:write"`) {
		t.Errorf("403 challenge: %d %q, want the required scopes", code, h)
	}
	srv.SetChallengeScope("")
	if _, h := mcpStatus(t, srv, ""); !strings.HasSuffix(h, `scope="mcp:read mcp:write"`) {
		t.Errorf("after SetChallengeScope(\"\"): %q", h)
	}

	f.cfg.Scopes = []string{"mcp:read", "mcp:write"}
	tok = f.login(t)
	srv.SetRefuse(http.StatusForbidden, "tools/call")
	cs, err := connect(t, srv, tok.AccessToken)
	if err != nil {
		t.Fatalf("initialize is not refused: %v", err)
	}
	if _, err := cs.CallTool(testCtx(t), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("tools/call with SetRefuse(403): %v", err)
	}
	srv.SetRefuse(http.StatusUnauthorized, "")
	if code, h := mcpStatus(t, srv, "Bearer "+tok.AccessToken); code != http.StatusUnauthorized || !strings.Contains(h, `error="invalid_token"`) {
		t.Errorf("SetRefuse(401, every request): %d %q", code, h)
	}
	srv.SetRefuse(0, "")
	if code, _ := mcpStatus(t, srv, "Bearer "+tok.AccessToken); code != http.StatusOK {
		t.Errorf("after SetRefuse(0): %d", code)
	}
}
