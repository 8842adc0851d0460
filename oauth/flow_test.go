package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/config"
)

func stdFake(t *testing.T, o fakeOpts) *fake {
	if o.prmPath == "" {
		o.prmPath = "/.well-known/oauth-protected-resource/mcp"
	}
	if o.asMetaPath == "" {
		o.asMetaPath = "/.well-known/oauth-authorization-server" + o.issuerPath
	}
	return newFake(t, o)
}

func TestIssChecks(t *testing.T) {
	cases := []struct {
		name       string
		mode       string
		advertised bool
		ok         bool
	}{
		{"exact, advertised", "", true, true},
		{"exact, not advertised", "", false, true},
		{"missing, advertised", "none", true, false},
		{"missing, not advertised", "none", false, true},
		{"wrong", "wrong", false, false},
		{"wrong, advertised", "wrong", true, false},
		{"normalised with slash", "slash", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := stdFake(t, fakeOpts{issMode: tc.mode, issAdvertised: tc.advertised})
			v := newEnv(t, "", nil)
			_, err := v.e.Authenticate(ctxT(t), testEntry(t, f.mcp))
			_, _, tokens, _, _ := f.snapshot()
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
			if st, _ := v.e.Status(ctxT(t), testEntry(t, f.mcp)); st.State != StateNotAuthenticated {
				t.Errorf("status %v after refused response", st.State)
			}
		})
	}
}

func TestScopeRules(t *testing.T) {
	cases := []struct {
		name  string
		o     fakeOpts
		cfg   string
		want  string
		unset bool
	}{
		{"challenge scope wins over PRM", fakeOpts{challengeScope: "a b", prmScopes: []string{"x", "y"}}, "", "a b", false},
		{"PRM scopes when no challenge scope", fakeOpts{prmScopes: []string{"x", "y"}}, "", "x y", false},
		{"configured scope always", fakeOpts{challengeScope: "a"}, "cfg1 a", "cfg1 a", false},
		{"offline_access when advertised", fakeOpts{prmScopes: []string{"x"}, asScopes: []string{"x", "offline_access"}}, "", "x offline_access", false},
		{"nothing defined: no scope", fakeOpts{asScopes: []string{"offline_access"}}, "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.challengeRM = true
			f := stdFake(t, tc.o)
			v := newEnv(t, "", nil)
			entry := testEntry(t, f.mcp)
			entry.OAuth.Scope = tc.cfg
			if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
				t.Fatal(err)
			}
			_, _, _, authz, _ := f.snapshot()
			if got := authz[0].Get("scope"); got != tc.want || authz[0].Has("scope") == tc.unset {
				t.Errorf("scope = %q (present %t), want %q", got, authz[0].Has("scope"), tc.want)
			}
		})
	}
}

func TestCIMDUsedWhenAdvertised(t *testing.T) {
	const cimd = "https://mcplink.example/client.json"
	f := stdFake(t, fakeOpts{cimd: true})
	v := newEnv(t, "", nil)
	entry := testEntry(t, f.mcp)
	entry.OAuth.ClientMetadataURL = cimd
	entry.OAuth.ClientID = "pre-1" // CIMD takes precedence
	c, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	_, regs, _, authz, forms := f.snapshot()
	if regs != 0 || authz[0].Get("client_id") != cimd || forms[0].Get("client_id") != cimd || c.Client.ClientID != cimd {
		t.Errorf("regs %d, authorize client %q, token client %q", regs, authz[0].Get("client_id"), forms[0].Get("client_id"))
	}
	// Not advertised: falls back to the pre-registered client.
	f2 := stdFake(t, fakeOpts{})
	entry2 := testEntry(t, f2.mcp)
	entry2.OAuth.ClientMetadataURL = cimd
	entry2.OAuth.ClientID = "pre-1"
	if _, err := newEnv(t, "", nil).e.Authenticate(ctxT(t), entry2); err != nil {
		t.Fatal(err)
	}
	_, regs, _, authz, _ = f2.snapshot()
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
		f := stdFake(t, fakeOpts{authMethods: tc.methods})
		v := newEnv(t, "", nil)
		entry := testEntry(t, f.mcp)
		c, err := v.e.Authenticate(ctxT(t), entry)
		if err != nil {
			t.Fatal(err)
		}
		if c.Client.TokenEndpointAuthMethod != tc.want || c.Client.RedirectURI != mustRedirect(t, entry) || !c.Client.Dynamic || c.Client.Issuer != f.iss {
			t.Errorf("methods %v: stored client %+v", tc.methods, *c.Client)
		}
		_, _, _, _, forms := f.snapshot()
		if tc.want == AuthPost && forms[0].Get("client_secret") == "" {
			t.Errorf("client_secret_post without secret in form")
		}
	}
}

func TestDCRRedoneWhenIssuerChanges(t *testing.T) {
	dir := t.TempDir()
	f1 := stdFake(t, fakeOpts{})
	v := newEnv(t, dir, nil)
	entry := testEntry(t, f1.mcp)
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
	_, regs, _, authz, _ := f1.snapshot()
	if regs != 2 || c2.Client.ClientID == c1.Client.ClientID || authz[1].Get("client_id") != c2.Client.ClientID {
		t.Errorf("regs %d; AS1's client reused: %q %q", regs, c1.Client.ClientID, authz[1].Get("client_id"))
	}
}

func TestInvalidClientReregistersOnce(t *testing.T) {
	f := stdFake(t, fakeOpts{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, f.mcp)
	c1, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.clients[c1.Client.ClientID] = "rotated-away" // the AS no longer accepts our secret
	f.mu.Unlock()
	c2, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatalf("second auth: %v", err)
	}
	_, regs, _, _, _ := f.snapshot()
	if regs != 2 || c2.Client.ClientID == c1.Client.ClientID {
		t.Errorf("regs %d", regs)
	}
}

func TestStepUpUnionAndLimit(t *testing.T) {
	// The token first granted lacks "write"; the RS demands it.
	f := stdFake(t, fakeOpts{challengeScope: "read", requiredScope: "write"})
	v := newEnv(t, "", nil)
	entry := testEntry(t, f.mcp)
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	// Non-interactive: 403 insufficient_scope needs the user.
	resp403 := func() *http.Response {
		tok, err := v.e.Token(ctxT(t), entry)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", f.mcp, strings.NewReader("{}"))
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
	_, _, _, authz, _ := f.snapshot()
	if got := authz[len(authz)-1].Get("scope"); got != "read write" {
		t.Errorf("step-up scope %q, want union %q", got, "read write")
	}

	// An AS that never grants "write": at most 3 attempts, then a clear error.
	f2 := stdFake(t, fakeOpts{challengeScope: "read", requiredScope: "write", grant: func(string) string { return "read" }})
	v2 := newEnv(t, "", nil)
	entry2 := testEntry(t, f2.mcp)
	if _, err := v2.e.Authenticate(ctxT(t), entry2); err != nil {
		t.Fatal(err)
	}
	tok, _ := v2.e.Token(ctxT(t), entry2)
	req, _ := http.NewRequest("POST", f2.mcp, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	err = v2.e.InteractiveHandler(entry2).Authorize(ctxT(t), req, resp)
	if !errors.Is(err, ErrInsufficientScope) {
		t.Fatalf("err = %v", err)
	}
	_, _, _, authz, _ = f2.snapshot()
	if len(authz) != 1+MaxStepUpAttempts {
		t.Errorf("%d authorizations, want 1 + %d", len(authz), MaxStepUpAttempts)
	}
}

func TestLoopBrake(t *testing.T) {
	f := stdFake(t, fakeOpts{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, f.mcp)
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
	f := stdFake(t, fakeOpts{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, f.mcp)
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
	if err != nil || st.State != StateAuthenticated || st.Issuer != f.iss || !st.Refreshable || c.Token == nil {
		t.Fatalf("status %+v %v", st, err)
	}
	// Same-URL rule.
	other := *entry
	other.URL = f.mcp + "/"
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
	if got := sts[entry.Name]; got.State != StateAuthenticated || got.Issuer != f.iss || !got.Refreshable {
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
	f := stdFake(t, fakeOpts{})
	v := newEnv(t, "", func(ctx context.Context, u string) error { return nil })
	entry := testEntry(t, f.mcp)
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
	f := stdFake(t, fakeOpts{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, f.mcp)
	entry.OAuth.RedirectURI = "https://example.com/cb"
	_, err := v.e.Authenticate(ctxT(t), entry)
	if err == nil || !strings.Contains(err.Error(), "redirectUri") || !strings.Contains(err.Error(), entry.Source) {
		t.Fatalf("err = %v", err)
	}
	if len(v.opened) != 0 {
		t.Errorf("browser opened")
	}
}
