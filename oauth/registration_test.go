package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/internal/oauthtest"
)

// hydraAnswer is an Ory Hydra v2.3 registration answer as it arrives on
// the wire (shortened: the token lifespans, all null, are left out).
const hydraAnswer = `{"client_id":"3b4f0c9e-1c1e-4e55-9a51-6c0d6f3c5a11","client_name":"mcplink",
"client_secret":"Zp~x1Q.secret-value","redirect_uris":["http://127.0.0.1:19876/callback"],
"grant_types":["authorization_code","refresh_token"],"response_types":["code"],
"scope":"offline_access offline openid","audience":[],"owner":"","policy_uri":"",
"allowed_cors_origins":[],"tos_uri":"","client_uri":"","logo_uri":"","contacts":null,
"client_secret_expires_at":0,"subject_type":"public","jwks":{},
"token_endpoint_auth_method":"client_secret_basic","userinfo_signed_response_alg":"none",
"created_at":"2026-12-03T05:00:00Z","updated_at":"2026-12-03T05:00:00Z","metadata":{},
"registration_access_token":"ory_at_RAT","registration_client_uri":"http://127.0.0.1:4444/oauth2/register/3b4f0c9e-1c1e-4e55-9a51-6c0d6f3c5a11",
"skip_consent":false,"skip_logout_consent":null,"authorization_code_grant_access_token_lifespan":null}`

// RFC 7591 §3.2.1: members mcplink does not use are ignored whatever their
// type; those it uses tolerate null; only client_id must be a string.
func TestDecodeRegistrationTolerant(t *testing.T) {
	r, err := decodeRegistration([]byte(hydraAnswer))
	if err != nil {
		t.Fatal(err)
	}
	if r.ClientID != "3b4f0c9e-1c1e-4e55-9a51-6c0d6f3c5a11" || r.ClientSecret != "Zp~x1Q.secret-value" || r.TokenEndpointAuthMethod != AuthBasic ||
		r.RegistrationAccessToken != "ory_at_RAT" || !strings.HasSuffix(r.RegistrationClientURI, "/oauth2/register/3b4f0c9e-1c1e-4e55-9a51-6c0d6f3c5a11") ||
		r.ClientSecretExpiresAt != 0 || len(r.RedirectURIs) != 1 || len(r.GrantTypes) != 2 {
		t.Errorf("decoded %+v", r)
	}
	for _, tc := range []struct {
		body string
		ok   bool
		want string // what the decoded registration shows, or the error
	}{
		{`{"client_id":"a","client_secret":null,"redirect_uris":null,"token_endpoint_auth_method":{"x":1}}`, true, "secret= method= redirects=[]"},
		{`{"client_id":"a","client_secret_expires_at":"1900000000","grant_types":[1,"authorization_code"]}`, true, "expires=1900000000 grants=[authorization_code]"},
		{`{"client_id":"a","client_secret_expires_at":1.9e9,"software_statement":{"nested":[null]}}`, true, "expires=1900000000"},
		{`{"client_id":"a","client_secret_expires_at":true}`, true, "expires=0"},
		{`{"client_id":17,"client_secret":"S3CRET"}`, false, "no client_id string"},
		{`{"client_secret":"S3CRET"}`, false, "no client_id string"},
		{`["client_id"]`, false, "not a JSON object"},
		{`<html>created</html>`, false, "not a JSON object"},
	} {
		r, err := decodeRegistration([]byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.body, err)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "S3CRET") {
				t.Errorf("%s: error %q", tc.body, err)
			}
			continue
		}
		got := fmt.Sprintf("secret=%s method=%s redirects=%v expires=%d grants=%v", r.ClientSecret, r.TokenEndpointAuthMethod, r.RedirectURIs, r.ClientSecretExpiresAt, r.GrantTypes)
		for _, w := range strings.Fields(tc.want) {
			if !strings.Contains(got, w) {
				t.Errorf("%s: decoded %s, want %s", tc.body, got, w)
			}
		}
	}
}

// A full sign-in against Hydra's shapes: registration (decoded despite
// "jwks": {}), authorization, token with a refresh token (offline_access
// was requested because Hydra lists it and the scopes came from metadata),
// an MCP call, a refresh; a second process signs in again with the stored
// registration: one client at the AS.
func TestHydraSignInRegistersOnce(t *testing.T) {
	scopes := []string{"mcp:read", "offline_access", "offline", "openid"}
	s := startAS(t, oauthtest.Options{HydraQuirks: true, Scopes: scopes, HydraDefaultClientScope: scopes})
	dir := t.TempDir()
	v := newEnv(t, dir, nil)
	entry := testEntry(t, s.MCPURL)
	c1, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatalf("sign-in against Hydra's shapes: %v", err)
	}
	if c1.Client.RegistrationAccessToken == "" || c1.Client.RegistrationClientURI != s.RegistrationEndpoint()+"/"+c1.Client.ClientID {
		t.Errorf("registration management not stored: %+v", c1.Client)
	}
	if c1.Token.RefreshToken == "" || !strings.Contains(" "+c1.Token.Scope+" ", " offline_access ") {
		t.Errorf("no refresh token (scope %q): Hydra issues one only for offline_access", c1.Token.Scope)
	}
	if err := connectAndEcho(ctxT(t), s.MCPURL, v.e.InteractiveHandler(entry)); err != nil {
		t.Fatalf("MCP call: %v", err)
	}
	v.clock.Advance(2 * time.Hour)
	if _, err := v.e.Token(ctxT(t), entry); err != nil {
		t.Fatalf("refresh: %v", err)
	}

	// Another process, same store: a new sign-in reuses the registration.
	v2 := newEnv(t, dir, nil)
	c2, err := v2.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := v2.e.Handler(entry)
	if err != nil {
		t.Fatal(err)
	}
	if err := connectAndEcho(ctxT(t), s.MCPURL, h2); err != nil {
		t.Fatalf("MCP call from the second process: %v", err)
	}
	st := s.Stats()
	if st.Registrations != 1 || c2.Client.ClientID != c1.Client.ClientID || st.Refreshes != 1 {
		t.Errorf("registrations %d (want 1), clients %q %q, refreshes %d", st.Registrations, c1.Client.ClientID, c2.Client.ClientID, st.Refreshes)
	}

	// Hydra's token error reaches the user whole: fosite's generic
	// sentence (229 bytes for invalid_grant) and then the hint.
	s.SetNextTokenError("invalid_grant")
	_, err = v2.e.Authenticate(ctxT(t), entry)
	var te *TokenError
	if !errors.As(err, &te) || te.Code != "invalid_grant" || !strings.HasSuffix(err.Error(), "or was issued to another client. Error injected by the test.") {
		t.Errorf("code exchange refused by Hydra: %v", err)
	}
	s.SetNextTokenError("invalid_grant")
	v2.clock.Advance(2 * time.Hour)
	_, err = v2.e.Token(ctxT(t), entry)
	if !errors.Is(err, ErrNeedsAuth) {
		t.Fatalf("refresh refused with invalid_grant: %v, want needs auth", err)
	}
	if st := s.Stats(); st.Registrations != 1 {
		t.Errorf("registrations after the refusals: %d", st.Registrations)
	}
}

// A Hydra that advertises registration_endpoint (client_registration_url)
// with dynamic registration off answers 404: the error says what the AS
// answered, not that it "does not support" registration, and names the fix.
func TestRegistrationRefusedSaysWhy(t *testing.T) {
	s := startAS(t, oauthtest.Options{HydraQuirks: true, HydraDCRDisabled: true})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	_, err := v.e.Authenticate(ctxT(t), entry)
	var ce *ClientRegistrationError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want ClientRegistrationError", err)
	}
	if ce.Status != 404 || ce.Code != "The requested resource could not be found" || ce.Description != "Dynamic registration is not enabled." || ce.Endpoint != s.RegistrationEndpoint() {
		t.Errorf("error data %+v", ce)
	}
	msg := err.Error()
	for _, want := range []string{"client registration at " + s.RegistrationEndpoint() + " failed", "HTTP 404", "Dynamic registration is not enabled."} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "does not support") {
		t.Errorf("message claims no support although the AS advertises registration:\n%s", msg)
	}

	// An error body far beyond the bound is cut, and control characters
	// never reach a terminal.
	long := strings.Repeat("x", 5000) + "\x1b[31m"
	got := boundAnswer(long)
	if len(got) > registrationAnswerLimit+len("…") || strings.ContainsRune(got, 0x1b) {
		t.Errorf("bounded answer: %d bytes", len(got))
	}
}

// A registration the AS created but mcplink cannot use is explained and,
// with RFC 7592 means, deleted again instead of left behind; nothing is
// stored, and no authorization starts.
func TestUnusableRegistrationExplainedAndDeleted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(resp map[string]any)
		want   string
		delete bool
	}{
		{"redirect substituted", func(r map[string]any) {
			r["redirect_uris"] = []string{"https://elsewhere.example/cb"}
		}, "do not include", true},
		{"unsupported auth method", func(r map[string]any) {
			r["token_endpoint_auth_method"] = "tls_client_auth"
		}, `"tls_client_auth"`, true},
		{"no secret for basic", func(r map[string]any) {
			delete(r, "client_secret")
			r["token_endpoint_auth_method"] = AuthBasic
		}, "no client_secret", true},
		{"RAT for another origin is never sent", func(r map[string]any) {
			r["redirect_uris"] = []string{"https://elsewhere.example/cb"}
			r["registration_client_uri"] = "https://evil.example/register/x"
		}, "do not include", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startAS(t, oauthtest.Options{RegistrationManagement: true, EditRegistration: tc.edit})
			v := newEnv(t, "", nil)
			entry := testEntry(t, s.MCPURL)
			_, err := v.e.Authenticate(ctxT(t), entry)
			var ce *ClientRegistrationError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || ce.Status != 201 {
				t.Fatalf("err = %v, want a ClientRegistrationError saying %q", err, tc.want)
			}
			secrets := s.Secrets() // the client secret and the registration access token
			if len(secrets) != 2 {
				t.Fatalf("the AS handed out %d secrets, want 2", len(secrets))
			}
			for _, secret := range secrets {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("secret in the message: %v", err)
				}
			}
			st := s.Stats()
			deletes, regs, authz := st.RegistrationDeletes, st.Registrations, st.AuthorizeRequests
			if tc.delete && deletes != 1 || !tc.delete && deletes != 0 || regs != 1 || authz != 0 {
				t.Errorf("deletes %d, registrations %d, authorizations %d", deletes, regs, authz)
			}
			if c, _ := v.e.load(ctxT(t), entry); c != nil && c.Client != nil {
				t.Errorf("unusable client stored: %+v", c.Client)
			}
		})
	}
}

// offline_access joins scopes chosen from metadata when the AS lists it;
// an explicit "oauth.scope" is sent as written; an AS that does not list
// it never gets it.
func TestOfflineAccessOnlyWithMetadataScopes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		asScopes []string
		cfg      string
		want     string
	}{
		{"metadata scopes, advertised", []string{"mcp:read", "offline_access"}, "", "mcp:read offline_access"},
		{"explicit oauth.scope", []string{"mcp:read", "offline_access"}, "mcp:read", "mcp:read"},
		{"explicit oauth.scope naming it", []string{"mcp:read", "offline_access"}, "mcp:read offline_access", "mcp:read offline_access"},
		{"not advertised", []string{"mcp:read"}, "", "mcp:read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startAS(t, oauthtest.Options{ChallengeOmitsScope: true, Scopes: tc.asScopes}) // the resource's scopes: mcp:read
			v := newEnv(t, "", nil)
			entry := testEntry(t, s.MCPURL)
			entry.OAuth.Scope = tc.cfg
			if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
				t.Fatal(err)
			}
			authz := authorizations(s)
			if got := authz[0].Get("scope"); got != tc.want {
				t.Errorf("scope = %q, want %q", got, tc.want)
			}
			q, _ := url.ParseQuery(authz[0].Encode())
			if strings.Contains(tc.want, "offline_access") != (q.Get("prompt") == "consent") {
				t.Errorf("prompt = %q with scope %q", q.Get("prompt"), tc.want)
			}
		})
	}
}

// Two processes registering at once: the one that stores second keeps the
// registration stored first and deletes its own (RFC 7592), so both use
// one client.
func TestConcurrentRegistrationAdoptsStoredClient(t *testing.T) {
	var s *oauthtest.Server
	var other map[string]any // the other process's registration
	dir := t.TempDir()
	v := newEnv(t, dir, nil)
	entry := testEntry(t, "")
	s = startAS(t, oauthtest.Options{RegistrationManagement: true, EditRegistration: func(r map[string]any) {
		if other == nil {
			other = r
			return
		}
		// While our registration is answered, the other process stores
		// its own (a second store handle: another process).
		st, err := authstore.NewFileStore(authstore.FileOptions{Dir: dir})
		if err != nil {
			t.Error(err)
			return
		}
		err = st.Update(context.Background(), entry.Name, func(*authstore.Credentials) (*authstore.Credentials, error) {
			return &authstore.Credentials{ServerURL: entry.URL, Issuer: s.IssuerURL, Client: &authstore.Client{
				ClientID: other["client_id"].(string), ClientSecret: other["client_secret"].(string), TokenEndpointAuthMethod: AuthBasic,
				RedirectURI: mustRedirect(t, entry), Issuer: s.IssuerURL, Dynamic: true, RegisteredAt: time.Now(),
			}}, nil
		})
		if err != nil {
			t.Error(err)
		}
	}})
	entry.URL = s.MCPURL
	// The other process's registration, made first.
	body := strings.NewReader(`{"redirect_uris":["` + mustRedirect(t, entry) + `"],"token_endpoint_auth_method":"client_secret_basic","grant_types":["authorization_code","refresh_token"]}`)
	resp, err := http.Post(s.RegistrationEndpoint(), "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	c, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	st, authz := s.Stats(), authorizations(s)
	otherID := other["client_id"].(string)
	_, otherKept := s.Client(otherID)
	if st.Registrations != 2 || st.RegistrationDeletes != 1 || !otherKept || c.Client.ClientID != otherID || authz[0].Get("client_id") != otherID {
		t.Errorf("registrations %d, deleted %d (the other's kept: %v), stored %q, authorized with %q; want the other process's %q kept",
			st.Registrations, st.RegistrationDeletes, otherKept, c.Client.ClientID, authz[0].Get("client_id"), otherID)
	}
}
