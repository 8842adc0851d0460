package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/internal/oauthtest"
)

// connect runs a real MCP client session through handler h and calls echo.
func connectAndEcho(ctx context.Context, url string, h auth.OAuthHandler) error {
	c := mcp.NewClient(&mcp.Implementation{Name: "oauth-test", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: url, DisableStandaloneSSE: true, OAuthHandler: h}
	if w, ok := h.(TransportWrapper); ok {
		// As every caller does (manager, proxy): DPoP, and the loop brakes
		// learn which tokens the server accepted.
		tr.HTTPClient = &http.Client{Transport: w.WrapTransport(http.DefaultTransport)}
	}
	cs, err := c.Connect(ctx, tr, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	return err
}

func TestE2EDCRPersistedAndResourceEverywhere(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	dir := t.TempDir()
	v := newEnv(t, dir, nil)
	entry := testEntry(t, s.MCPURL)

	// Non-interactive before sign-in: needs auth.
	h, err := v.e.Handler(entry)
	if err != nil {
		t.Fatal(err)
	}
	if err := connectAndEcho(ctxT(t), s.MCPURL, h); !errors.Is(err, ErrNeedsAuth) {
		t.Fatalf("connect before auth: %v", err)
	}
	c1, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	if err := connectAndEcho(ctxT(t), s.MCPURL, h); err != nil {
		t.Fatalf("connect after auth: %v", err)
	}
	// A new engine (new process) on the same store re-authenticates with the
	// persisted registration.
	v2 := newEnv(t, dir, nil)
	c2, err := v2.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Registrations != 1 || c1.Client.ClientID != c2.Client.ClientID {
		t.Errorf("registrations = %d, clients %q %q", st.Registrations, c1.Client.ClientID, c2.Client.ClientID)
	}
	if st.LastCodeChallengeMethod != "S256" || st.LastRedirectURI != mustRedirect(t, entry) {
		t.Errorf("pkce %q redirect %q", st.LastCodeChallengeMethod, st.LastRedirectURI)
	}
	// Refresh.
	v2.clock.Advance(2 * time.Hour)
	if _, err := v2.e.Token(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	st = s.Stats()
	if st.Refreshes != 1 {
		t.Errorf("refreshes = %d", st.Refreshes)
	}
	for name, got := range map[string]string{"authorize": st.LastAuthorizeResource, "token": st.LastTokenResource, "refresh": st.LastRefreshResource} {
		if got != s.MCPURL {
			t.Errorf("%s resource = %q, want %q", name, got, s.MCPURL)
		}
	}
	if strings.Contains(st.LastAuthorizeScope, "offline_access") == false {
		t.Errorf("offline_access not requested although advertised: %q", st.LastAuthorizeScope)
	}
}

func TestE2EInteractiveHandler(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	if err := connectAndEcho(ctxT(t), s.MCPURL, v.e.InteractiveHandler(entry)); err != nil {
		t.Fatal(err)
	}
	// Server-side expiry: the 401 triggers a refresh, not a new sign-in.
	s.ExpireAccessTokens()
	before := s.Stats().AuthorizeRequests
	if err := connectAndEcho(ctxT(t), s.MCPURL, v.e.InteractiveHandler(entry)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.AuthorizeRequests != before || st.Refreshes != 1 {
		t.Errorf("authorize %d→%d refreshes %d", before, st.AuthorizeRequests, st.Refreshes)
	}
	if !strings.Contains(v.notes.all(), "Open this URL to sign in: ") {
		t.Errorf("URL not reported: %s", v.notes.all())
	}
}

func TestE2EPreregisteredNeverRegisters(t *testing.T) {
	v := newEnv(t, "", nil)
	entry := testEntry(t, "")
	entry.OAuth.ClientID, entry.OAuth.ClientSecret = "pre", "pre-secret"
	s2 := startAS(t, oauthtest.Options{DisableDCR: true, PreRegistered: []oauthtest.Client{{ClientID: "pre", ClientSecret: "pre-secret", RedirectURIs: []string{mustRedirect(t, entry)}}}})
	entry.URL = s2.MCPURL
	c, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	if c.Client.ClientSecret != "" || c.Client.Dynamic {
		t.Errorf("pre-registered client stored with secret or as dynamic: %+v", *c.Client)
	}
	v.clock.Advance(2 * time.Hour)
	if _, err := v.e.Token(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	st := s2.Stats()
	if st.Registrations != 0 || st.Refreshes != 1 || st.LastClientAuthMethod != AuthBasic {
		t.Errorf("stats %+v", st)
	}
}

func TestE2ENoClientRegistration(t *testing.T) {
	s := startAS(t, oauthtest.Options{DisableDCR: true})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	_, err := v.e.Authenticate(ctxT(t), entry)
	var ce *ClientRegistrationError
	if !errors.As(err, &ce) || ce.Server != "srv" || ce.ConfigFile != entry.Source || !strings.Contains(err.Error(), "does not support dynamic client registration") {
		t.Fatalf("err = %v", err)
	}
	if s.Stats().AuthorizeRequests != 0 {
		t.Errorf("authorization started without a client")
	}
}

func TestE2ERefreshSingleFlight(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	v.clock.Advance(time.Hour - 30*time.Second) // inside the 60 s margin
	var wg sync.WaitGroup
	toks := make([]string, 100)
	errs := make([]error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t, err := v.e.Token(context.Background(), entry)
			errs[i] = err
			if t != nil {
				toks[i] = t.AccessToken
			}
		}()
	}
	wg.Wait()
	for i := range toks {
		if errs[i] != nil || toks[i] != toks[0] {
			t.Fatalf("caller %d: %v (token differs: %t)", i, errs[i], toks[i] != toks[0])
		}
	}
	if n := s.Stats().TokenRequests["refresh_token"]; n != 1 {
		t.Errorf("%d refresh requests for 100 concurrent callers, want 1", n)
	}
}

func TestE2ECrossProcessAdoption(t *testing.T) {
	s := startAS(t, oauthtest.Options{}) // rotating refresh tokens with reuse detection
	dir := t.TempDir()
	a, b := newEnv(t, dir, nil), newEnv(t, dir, nil)
	entry := testEntry(t, s.MCPURL)
	if _, err := a.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	if _, err := b.e.Token(ctxT(t), entry); err != nil { // b caches the first token
		t.Fatal(err)
	}
	a.clock.Advance(2 * time.Hour)
	b.clock.Advance(2 * time.Hour)
	ta, err := a.e.Token(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.e.Token(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	if ta.AccessToken != tb.AccessToken {
		t.Errorf("b did not adopt a's refreshed token")
	}
	if n := s.Stats().TokenRequests["refresh_token"]; n != 1 {
		t.Errorf("%d refresh requests, want 1", n)
	}
}

func TestE2EInvalidGrantNeedsAuth(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	c, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	s.RevokeAll()
	v.clock.Advance(2 * time.Hour)
	_, err = v.e.Token(ctxT(t), entry)
	if !errors.Is(err, ErrNeedsAuth) {
		t.Fatalf("err = %v", err)
	}
	stored, err := v.store.Load(ctxT(t), entry.Name)
	if err != nil || stored.Token != nil || stored.Client == nil || stored.Client.ClientID != c.Client.ClientID {
		t.Fatalf("after invalid_grant: token kept or client lost (%v)", err)
	}
	// The handler's token source lets the request go out without a token.
	h, _ := v.e.Handler(entry)
	if err := connectAndEcho(ctxT(t), s.MCPURL, h); !errors.Is(err, ErrNeedsAuth) {
		t.Errorf("connect: %v", err)
	}
}

func TestE2ETransientErrorsKeepTokens(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	// One 503: retried.
	s.SetNextTokenError("temporarily_unavailable")
	v.clock.Advance(2 * time.Hour)
	if _, err := v.e.Token(ctxT(t), entry); err != nil {
		t.Fatalf("after one 503: %v", err)
	}
	if st := s.Stats(); st.TokenErrors != 1 || st.Refreshes != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestPersistent5xxKeepsTokens(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	s.FailGrant("refresh_token", "temporarily_unavailable") // 503
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	c, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	v.clock.Advance(2 * time.Hour)
	_, err = v.e.Token(ctxT(t), entry)
	if err == nil || errors.Is(err, ErrNeedsAuth) {
		t.Fatalf("err = %v", err)
	}
	tokens := s.Stats().TokenRequests
	if tokens["refresh_token"] != 3 {
		t.Errorf("%d refresh attempts, want 3 (bounded retries)", tokens["refresh_token"])
	}
	stored, _ := v.store.Load(ctxT(t), entry.Name)
	if stored.Token == nil || stored.Token.RefreshToken != c.Token.RefreshToken {
		t.Errorf("tokens dropped after 5xx")
	}
	// Network error (AS gone): same.
	s.Close()
	if _, err := v.e.Token(ctxT(t), entry); err == nil || errors.Is(err, ErrNeedsAuth) {
		t.Fatalf("network error: %v", err)
	}
	if stored, _ := v.store.Load(ctxT(t), entry.Name); stored.Token == nil {
		t.Errorf("tokens dropped after network error")
	}
}

// TestNoSecretsInMessages collects every error and notification across
// failure paths and checks none carries a token, code or secret.
func TestNoSecretsInMessages(t *testing.T) {
	var msgs []string
	collect := func(err error) {
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	rw := []string{"read", "write"}
	var secrets []string
	for _, tc := range []struct {
		o     oauthtest.Options
		grant string // FailGrant(grant, code)
		code  string
	}{
		{grant: "authorization_code", code: "invalid_grant"},
		{grant: "authorization_code", code: "invalid_client"},
		{o: oauthtest.Options{AuthorizationResponseIss: func(string) string { return "https://evil.example" }}},
		{grant: "refresh_token", code: "server_error"},
		{o: oauthtest.Options{Scopes: rw, ChallengeScope: "read", RequiredScope: "write", GrantScope: func([]string) []string { return []string{"read"} }}},
		{},
	} {
		s := startAS(t, tc.o)
		if tc.code != "" {
			s.FailGrant(tc.grant, tc.code)
		}
		v := newEnv(t, "", nil)
		entry := testEntry(t, s.MCPURL)
		c, err := v.e.Authenticate(ctxT(t), entry)
		collect(err)
		if err != nil {
			if !strings.Contains(err.Error(), "srv") {
				t.Errorf("error does not name the server: %v", err)
			}
			msgs = append(msgs, v.notes.all())
			secrets = append(secrets, s.Secrets()...)
			continue
		}
		v.clock.Advance(2 * time.Hour)
		_, err = v.e.Token(ctxT(t), entry)
		collect(err)
		// invalid_client on refresh.
		s.SetClientSecret(c.Client.ClientID, "changed")
		v.clock.Advance(2 * time.Hour)
		_, err = v.e.Token(ctxT(t), entry)
		collect(err)
		msgs = append(msgs, v.notes.all())
		secrets = append(secrets, s.Secrets()...)
	}
	if len(msgs) < 6 || len(secrets) < 10 {
		t.Fatalf("too few messages or secrets collected: %d, %d", len(msgs), len(secrets))
	}
	for _, m := range msgs {
		for _, secret := range secrets {
			if strings.Contains(m, secret) {
				t.Errorf("secret in message: %s", m)
			}
		}
	}
}

// TestCrossProcessAdoptionUnderLock forces the interleaving where process B
// has read the expired token, then process A refreshes, then B takes the
// store lock: B must adopt A's token instead of refreshing with a rotated
// refresh token.
func TestCrossProcessAdoptionUnderLock(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	dir := t.TempDir()
	a, b := newEnv(t, dir, nil), newEnv(t, dir, nil)
	hs := &hookStore{Store: b.store}
	b.e.opts.Store = hs
	entry := testEntry(t, s.MCPURL)
	if _, err := a.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(2 * time.Hour)
	b.clock.Advance(2 * time.Hour)
	var ta *authstore.Token
	hs.afterLoad = func() {
		var err error
		if ta, err = a.e.Token(ctxT(t), entry); err != nil {
			t.Error(err)
		}
	}
	tb, err := b.e.Token(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	if ta == nil || ta.AccessToken != tb.AccessToken {
		t.Errorf("b did not adopt a's token")
	}
	if n := s.Stats().TokenRequests["refresh_token"]; n != 1 {
		t.Errorf("%d refresh requests, want 1", n)
	}
}

// TestTwoProcessesConcurrentRefresh: two engines on one file store, 50
// callers each, at expiry → one refresh.
func TestTwoProcessesConcurrentRefresh(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	dir := t.TempDir()
	a, b := newEnv(t, dir, nil), newEnv(t, dir, nil)
	entry := testEntry(t, s.MCPURL)
	if _, err := a.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(2 * time.Hour)
	b.clock.Advance(2 * time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]bool{}
	for i := range 100 {
		eng := a.e
		if i%2 == 1 {
			eng = b.e
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := eng.Token(context.Background(), entry)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seen[tok.AccessToken] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if n := s.Stats().TokenRequests["refresh_token"]; n != 1 || len(seen) != 1 {
		t.Errorf("%d refresh requests, %d distinct tokens; want 1, 1", n, len(seen))
	}
}

func TestE2EHandlerClientRegistrationError(t *testing.T) {
	s := startAS(t, oauthtest.Options{DisableDCR: true})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	h, err := v.e.Handler(entry)
	if err != nil {
		t.Fatal(err)
	}
	err = connectAndEcho(ctxT(t), s.MCPURL, h)
	var ce *ClientRegistrationError
	if !errors.As(err, &ce) || ce.Issuer != s.IssuerURL {
		t.Fatalf("err = %v", err)
	}
	if s.Stats().AuthorizeRequests != 0 {
		t.Errorf("non-interactive handler started an authorization")
	}
}
