package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/oauthtest"
)

// issMetadata sets whether the AS metadata advertises RFC 9207 iss.
func issMetadata(advertised bool) func(map[string]any) {
	return func(m map[string]any) { m["authorization_response_iss_parameter_supported"] = advertised }
}

func TestIssChecks(t *testing.T) {
	none := func(string) string { return "" }
	wrong := func(string) string { return "https://evil.example" }
	slash := func(iss string) string { return iss + "/" }
	cases := []struct {
		name string
		o    oauthtest.Options
		ok   bool
	}{
		{"exact, advertised", oauthtest.Options{}, true},
		{"exact, not advertised", oauthtest.Options{EditMetadata: issMetadata(false)}, true},
		{"missing, advertised", oauthtest.Options{AuthorizationResponseIss: none}, false},
		{"missing, not advertised", oauthtest.Options{NoIss: true}, true},
		{"wrong", oauthtest.Options{AuthorizationResponseIss: wrong, EditMetadata: issMetadata(false)}, false},
		{"wrong, advertised", oauthtest.Options{AuthorizationResponseIss: wrong}, false},
		{"normalised with slash", oauthtest.Options{AuthorizationResponseIss: slash}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startAS(t, tc.o)
			v := newEnv(t, "", nil)
			_, err := v.e.Authenticate(ctxT(t), testEntry(t, s.MCPURL))
			tokens := s.Stats().TokenRequests
			if tc.ok {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var ie *IssuerResponseError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want IssuerResponseError", err)
			}
			if tokens["authorization_code"] != 0 {
				t.Errorf("token request sent before the iss check")
			}
			if st, _ := v.e.Status(ctxT(t), testEntry(t, s.MCPURL)); st.State != StateNotAuthenticated {
				t.Errorf("status %v after refused response", st.State)
			}
		})
	}
}

// resourceScopes makes the protected resource metadata list scopes (none
// when empty).
func resourceScopes(scopes ...string) func(map[string]any) {
	return func(m map[string]any) {
		delete(m, "scopes_supported")
		if len(scopes) > 0 {
			m["scopes_supported"] = scopes
		}
	}
}

func TestScopeRules(t *testing.T) {
	cases := []struct {
		name  string
		o     oauthtest.Options // Scopes: what the AS lists and grants
		cfg   string
		want  string
		unset bool
	}{
		{"challenge scope wins over PRM", oauthtest.Options{ChallengeScope: "a b", Scopes: []string{"x", "y", "a", "b"}, EditResourceMetadata: resourceScopes("x", "y")}, "", "a b", false},
		{"PRM scopes when no challenge scope", oauthtest.Options{ChallengeOmitsScope: true, Scopes: []string{"x", "y"}}, "", "x y", false},
		{"configured scope always", oauthtest.Options{ChallengeScope: "a", Scopes: []string{"cfg1", "a"}, EditResourceMetadata: resourceScopes()}, "cfg1 a", "cfg1 a", false},
		{"offline_access when advertised", oauthtest.Options{ChallengeOmitsScope: true, Scopes: []string{"x", "offline_access"}}, "", "x offline_access", false},
		{"nothing defined: no scope", oauthtest.Options{ChallengeOmitsScope: true, Scopes: []string{"offline_access"}}, "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startAS(t, tc.o)
			v := newEnv(t, "", nil)
			entry := testEntry(t, s.MCPURL)
			entry.OAuth.Scope = tc.cfg
			if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
				t.Fatal(err)
			}
			authz := authorizations(s)
			if got := authz[0].Get("scope"); got != tc.want || authz[0].Has("scope") == tc.unset {
				t.Errorf("scope = %q (present %t), want %q", got, authz[0].Has("scope"), tc.want)
			}
		})
	}
}

// serveClientMetadata serves mcplink's client ID metadata document for
// entry on loopback, as its owner would on https, and returns its URL.
func serveClientMetadata(t *testing.T, entry *config.Entry) string {
	var self string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"client_id": self, "client_name": "mcplink",
			"redirect_uris": []string{mustRedirect(t, entry)}, "token_endpoint_auth_method": "none",
			"grant_types": []string{"authorization_code", "refresh_token"}})
	}))
	t.Cleanup(srv.Close)
	self = srv.URL + "/client.json"
	return self
}

func TestCIMDUsedWhenAdvertised(t *testing.T) {
	s := startAS(t, oauthtest.Options{ClientIDMetadataDocuments: true})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	cimd := serveClientMetadata(t, entry)
	entry.OAuth.ClientMetadataURL = cimd
	entry.OAuth.ClientID = "pre-1" // CIMD takes precedence
	c, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	regs, authz, forms := s.Stats().Registrations, authorizations(s), tokenForms(s)
	if regs != 0 || authz[0].Get("client_id") != cimd || forms[0].Get("client_id") != cimd || c.Client.ClientID != cimd || s.Stats().MetadataDocumentFetches == 0 {
		t.Errorf("regs %d, authorize client %q, token client %q", regs, authz[0].Get("client_id"), forms[0].Get("client_id"))
	}
	// Not advertised: falls back to the pre-registered client.
	entry2 := testEntry(t, "")
	s2 := startAS(t, oauthtest.Options{PreRegistered: []oauthtest.Client{{ClientID: "pre-1", RedirectURIs: []string{mustRedirect(t, entry2)}}}})
	entry2.URL = s2.MCPURL
	entry2.OAuth.ClientMetadataURL = cimd
	entry2.OAuth.ClientID = "pre-1"
	if _, err := newEnv(t, "", nil).e.Authenticate(ctxT(t), entry2); err != nil {
		t.Fatal(err)
	}
	regs, authz = s2.Stats().Registrations, authorizations(s2)
	if regs != 0 || authz[0].Get("client_id") != "pre-1" {
		t.Errorf("regs %d client %q", regs, authz[0].Get("client_id"))
	}
}

func TestDCRRequestAndAuthMethod(t *testing.T) {
	for _, tc := range []struct {
		methods []string
		want    string
	}{
		{nil, AuthBasic},
		{[]string{"none", "client_secret_post", "client_secret_basic"}, AuthBasic},
		{[]string{"none", "client_secret_post"}, AuthPost},
		{[]string{"none"}, AuthNone},
	} {
		o := oauthtest.Options{TokenEndpointAuthMethods: tc.methods}
		if tc.methods == nil { // not advertised: RFC 8414's default, client_secret_basic
			o.EditMetadata = func(m map[string]any) { delete(m, "token_endpoint_auth_methods_supported") }
		}
		s := startAS(t, o)
		v := newEnv(t, "", nil)
		entry := testEntry(t, s.MCPURL)
		c, err := v.e.Authenticate(ctxT(t), entry)
		if err != nil {
			t.Fatal(err)
		}
		if c.Client.TokenEndpointAuthMethod != tc.want || c.Client.RedirectURI != mustRedirect(t, entry) || !c.Client.Dynamic || c.Client.Issuer != s.IssuerURL {
			t.Errorf("methods %v: stored client %+v", tc.methods, *c.Client)
		}
		forms := tokenForms(s)
		if tc.want == AuthPost && forms[0].Get("client_secret") == "" {
			t.Errorf("client_secret_post without secret in form")
		}
	}
}

func TestDCRRedoneWhenIssuerChanges(t *testing.T) {
	dir := t.TempDir()
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, dir, nil)
	entry := testEntry(t, s.MCPURL)
	c1, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	// Same server URL, now protected by another AS: pretend by storing the
	// client under a different issuer.
	err = v.store.Update(ctxT(t), entry.Name, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		cur.Client.Issuer = "https://as1.example"
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	regs, authz := s.Stats().Registrations, authorizations(s)
	if regs != 2 || c2.Client.ClientID == c1.Client.ClientID || authz[1].Get("client_id") != c2.Client.ClientID {
		t.Errorf("regs %d; AS1's client reused: %q %q", regs, c1.Client.ClientID, authz[1].Get("client_id"))
	}
}

func TestInvalidClientReregistersOnce(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	c1, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	if !s.SetClientSecret(c1.Client.ClientID, "rotated-away") { // the AS no longer accepts our secret
		t.Fatal("no such client at the AS")
	}
	c2, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatalf("second auth: %v", err)
	}
	if regs := s.Stats().Registrations; regs != 2 || c2.Client.ClientID == c1.Client.ClientID {
		t.Errorf("regs %d", regs)
	}
}

func TestStepUpUnionAndLimit(t *testing.T) {
	// The token first granted lacks "write"; the RS demands it.
	rw := []string{"read", "write"}
	s := startAS(t, oauthtest.Options{Scopes: rw, ChallengeScope: "read", RequiredScope: "write"})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	// Non-interactive: 403 insufficient_scope needs the user.
	resp403 := func() *http.Response {
		tok, err := v.e.Token(ctxT(t), entry)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", s.MCPURL, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 403 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return resp
	}
	h, _ := v.e.Handler(entry)
	err := h.Authorize(ctxT(t), nil, resp403())
	var ne *NeedsAuthError
	if !errors.Is(err, ErrNeedsAuth) || !errors.As(err, &ne) || strings.Join(ne.Scopes, " ") != "read write" {
		t.Fatalf("non-interactive 403: %v", err)
	}
	// Interactive: step-up asks for the union.
	if err := v.e.InteractiveHandler(entry).Authorize(ctxT(t), nil, resp403()); err != nil {
		t.Fatal(err)
	}
	authz := authorizations(s)
	if got := authz[len(authz)-1].Get("scope"); got != "read write" {
		t.Errorf("step-up scope %q, want union %q", got, "read write")
	}

	// An AS that never grants "write": at most 3 attempts, then a clear error.
	s2 := startAS(t, oauthtest.Options{Scopes: rw, ChallengeScope: "read", RequiredScope: "write", GrantScope: func([]string) []string { return []string{"read"} }})
	v2 := newEnv(t, "", nil)
	entry2 := testEntry(t, s2.MCPURL)
	if _, err := v2.e.Authenticate(ctxT(t), entry2); err != nil {
		t.Fatal(err)
	}
	tok, _ := v2.e.Token(ctxT(t), entry2)
	req, _ := http.NewRequest("POST", s2.MCPURL, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	err = v2.e.InteractiveHandler(entry2).Authorize(ctxT(t), req, resp)
	if !errors.Is(err, ErrInsufficientScope) {
		t.Fatalf("err = %v", err)
	}
	authz = authorizations(s2)
	if len(authz) != 1+MaxStepUpAttempts {
		t.Errorf("%d authorizations, want 1 + %d", len(authz), MaxStepUpAttempts)
	}
}

func TestLoopBrake(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	var err error
	for i := 0; i < MaxAttemptsPerWindow+1; i++ {
		_, err = v.e.Authenticate(ctxT(t), entry)
		if i < MaxAttemptsPerWindow && err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("6th attempt: %v", err)
	}
	// The trip doubled the window: still refused after AttemptWindow.
	v.clock.Advance(AttemptWindow + 1)
	if _, err := v.e.Authenticate(ctxT(t), entry); !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("after one window, with the window doubled: %v", err)
	}
	v.clock.Advance(AttemptWindow)
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatalf("after the doubled window: %v", err)
	}
}

func TestBeginWaitDeliver(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	p, err := v.e.Begin(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.State) < 22 || !strings.Contains(p.AuthorizationURL, "state="+p.State) {
		t.Fatalf("state %q url %q", p.State, p.AuthorizationURL)
	}
	// The "user" pastes the redirect: get it without following.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(p.AuthorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := resp.Location()
	if err := v.reg.Deliver(p.State, loc.Query()); err != nil {
		t.Fatal(err)
	}
	c, err := p.Wait(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	st, err := v.e.Status(ctxT(t), entry)
	if err != nil || st.State != StateAuthenticated || st.Issuer != s.IssuerURL || !st.Refreshable || c.Token == nil {
		t.Fatalf("status %+v %v", st, err)
	}
	// Same-URL rule.
	other := *entry
	other.URL = s.MCPURL + "/"
	if st, _ := v.e.Status(ctxT(t), &other); st.State != StateNotAuthenticated {
		t.Errorf("credentials used for a different URL: %v", st.State)
	}
	// Statuses agrees with Status, for every entry at once.
	disabled := *entry
	disabled.Name, disabled.OAuthDisabled = "plain", true
	other.Name = "other"
	sts, err := v.e.Statuses(ctxT(t), []*config.Entry{entry, &other, &disabled})
	if err != nil {
		t.Fatal(err)
	}
	if got := sts[entry.Name]; got.State != StateAuthenticated || got.Issuer != s.IssuerURL || !got.Refreshable {
		t.Errorf("Statuses[%s] = %+v, want what Status says: %+v", entry.Name, got, st)
	}
	if got, ok := sts["other"]; !ok || got.State != StateNotAuthenticated {
		t.Errorf("Statuses[other] = %+v (present %v), want not_authenticated", got, ok)
	}
	if _, ok := sts["plain"]; ok || len(sts) != 2 {
		t.Errorf("Statuses has %d entries (plain present: %v), want 2 without the oauth:false entry", len(sts), ok)
	}
	v.clock.Advance(2 * 3600e9)
	if st, _ := v.e.Status(ctxT(t), entry); st.State != StateExpired {
		t.Errorf("after expiry: %v", st.State)
	}
	if sts, _ := v.e.Statuses(ctxT(t), []*config.Entry{entry}); sts[entry.Name].State != StateExpired {
		t.Errorf("Statuses after expiry: %v", sts[entry.Name].State)
	}
	if err := v.e.Logout(ctxT(t), entry.Name); err != nil {
		t.Fatal(err)
	}
	if st, _ := v.e.Status(ctxT(t), entry); st.State != StateNotAuthenticated {
		t.Errorf("after logout: %v", st.State)
	}
	if _, err := v.e.Token(ctxT(t), entry); !errors.Is(err, ErrNeedsAuth) {
		t.Errorf("Token after logout: %v", err)
	}
}

func TestAuthorizationDenied(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", func(ctx context.Context, u string) error { return nil })
	entry := testEntry(t, s.MCPURL)
	p, err := v.e.Begin(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		req, _ := http.NewRequest("GET", mustRedirect(t, entry)+"?error=access_denied&state="+p.State, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	_, err = p.Wait(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), "access_denied") {
		t.Fatalf("err = %v", err)
	}
}

func TestBadRedirectURIReported(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	entry.OAuth.RedirectURI = "https://example.com/cb"
	_, err := v.e.Authenticate(ctxT(t), entry)
	if err == nil || !strings.Contains(err.Error(), "redirectUri") || !strings.Contains(err.Error(), entry.Source) {
		t.Fatalf("err = %v", err)
	}
	if len(v.opened) != 0 {
		t.Errorf("browser opened")
	}
}
