package oauth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/internal/oauthtest"
)

// loopRun makes calls sessions (connect, then one tools/call, as a manager
// or proxy reconnecting after each failure) through h, the test clock
// advancing every between them, and counts the errors by kind.
type loopRun struct {
	fresh, attempts, refreshes, ok, other int
}

func runCalls(t *testing.T, v *env, url string, h auth.OAuthHandler, calls int, every time.Duration) loopRun {
	t.Helper()
	var r loopRun
	for range calls {
		err := connectAndEcho(ctxT(t), url, h)
		switch {
		case err == nil:
			r.ok++
		case errors.Is(err, ErrFreshTokenRefused):
			r.fresh++
		case errors.Is(err, ErrTooManyAttempts):
			r.attempts++
		case errors.Is(err, ErrTooManyRefreshes):
			r.refreshes++
		default:
			r.other++
		}
		v.clock.Advance(every)
	}
	return r
}

// TestLoopAlways403: after sign-in, every tools/call is answered 403
// insufficient_scope for scopes the token has. The old brake opened the
// browser 5 times per 30 s window (15 times in 75 s); now a token obtained
// for exactly those scopes is not re-authorized within FreshTokenWindow,
// doubled per consecutive trip: 24 calls over 72 s open it twice.
func TestLoopAlways403(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	h := v.e.InteractiveHandler(entry)
	if err := connectAndEcho(ctxT(t), s.MCPURL, h); err != nil {
		t.Fatal(err)
	}
	s.SetRefuse(http.StatusForbidden, "tools/call")
	before := s.Stats()
	r := runCalls(t, v, s.MCPURL, h, 24, 3*time.Second)
	st := s.Stats()
	if n := st.AuthorizeRequests - before.AuthorizeRequests; n != 2 {
		t.Errorf("%d authorization requests in 72 s, want 2 (at 21 s and 66 s)", n)
	}
	if r.ok != 0 || r.fresh != 22 {
		t.Errorf("outcomes %+v; want 22 calls refused by the fresh-token brake", r)
	}
	// The error says what happened and carries the server, for the
	// surface's fix (internal/fix).
	err := connectAndEcho(ctxT(t), s.MCPURL, h)
	var fe *FreshTokenRefusedError
	if !errors.As(err, &fe) || errors.Is(err, ErrNeedsAuth) || fe.Status != http.StatusForbidden || fe.Server != "srv" ||
		!strings.Contains(err.Error(), "to avoid a loop") || !strings.Contains(err.Error(), "scope mcp:read") {
		t.Fatalf("err = %v; want a *FreshTokenRefusedError, not needs-auth", err)
	}
}

// TestLoopAlways401Refresh: after sign-in, every tools/call is answered 401
// invalid_token. The old code refreshed on every call (28 refresh grants for
// 30 calls); now a refreshed token the server refuses before ever accepting
// it is not refreshed again within the (doubling) fresh window.
func TestLoopAlways401Refresh(t *testing.T) {
	for _, interactive := range []bool{false, true} {
		name := "non-interactive"
		if interactive {
			name = "interactive"
		}
		t.Run(name, func(t *testing.T) {
			s := startAS(t, oauthtest.Options{})
			v := newEnv(t, "", nil)
			entry := testEntry(t, s.MCPURL)
			if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
				t.Fatal(err)
			}
			h, _ := v.e.Handler(entry)
			if interactive {
				h = v.e.InteractiveHandler(entry)
			}
			s.SetRefuse(http.StatusUnauthorized, "tools/call")
			before := s.Stats()
			r := runCalls(t, v, s.MCPURL, h, 30, 2500*time.Millisecond)
			st := s.Stats()
			if n := st.Refreshes - before.Refreshes; n != 3 {
				t.Errorf("%d refresh grants for 30 calls over 75 s, want 3 (at 0, 20 and 60 s)", n)
			}
			if st.AuthorizeRequests != before.AuthorizeRequests {
				t.Errorf("%d authorization requests, want none", st.AuthorizeRequests-before.AuthorizeRequests)
			}
			if r.fresh != 27 || r.ok != 0 {
				t.Errorf("outcomes %+v; want 27 calls refused by the fresh-token brake", r)
			}
		})
	}
}

// TestRefreshBrake: tokens that the server accepts once and then refuses
// (here: expired server-side before every call) are refreshed at most
// MaxRefreshesPerWindow times per RefreshWindow. A trip doubles the window;
// a refreshed token the server accepts resets it.
func TestRefreshBrake(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	h, _ := v.e.Handler(entry)
	call := func() error {
		s.ExpireAccessTokens()
		return connectAndEcho(ctxT(t), s.MCPURL, h)
	}
	for i := range MaxRefreshesPerWindow {
		if err := call(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		v.clock.Advance(time.Second)
	}
	err := call()
	var be *BrakeError
	if !errors.Is(err, ErrTooManyRefreshes) || errors.Is(err, ErrNeedsAuth) || !errors.As(err, &be) || !be.Refresh || be.Server != "srv" || be.Count != MaxRefreshesPerWindow {
		t.Fatalf("call %d: %v; want the refresh brake", MaxRefreshesPerWindow, err)
	}
	if n := s.Stats().Refreshes; n != MaxRefreshesPerWindow {
		t.Fatalf("%d refreshes, want %d", n, MaxRefreshesPerWindow)
	}
	// One window later the brake still holds: the trip doubled it.
	v.clock.Advance(RefreshWindow)
	if err := call(); !errors.Is(err, ErrTooManyRefreshes) {
		t.Fatalf("after one window: %v; want the doubled brake", err)
	}
	v.clock.Advance(RefreshWindow)
	if err := call(); err != nil {
		t.Fatalf("after the doubled window: %v", err)
	}
	// That refreshed token was accepted: the window is back to its base.
	for range MaxRefreshesPerWindow - 1 {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	if err := call(); !errors.Is(err, ErrTooManyRefreshes) {
		t.Fatalf("6th refresh in the window: %v", err)
	}
	v.clock.Advance(2 * RefreshWindow)
	if err := call(); err != nil {
		t.Fatalf("after twice the base window (the backoff was reset): %v", err)
	}
	if n := s.Stats().Refreshes; n != 2*MaxRefreshesPerWindow+1 {
		t.Errorf("%d refreshes in all, want %d", n, 2*MaxRefreshesPerWindow+1)
	}
}

// TestBrakeBackoffResetAndCap: consecutive trips of the authorization brake
// double its window up to MaxBrakeWindow; the server accepting a token we
// obtained resets it.
func TestBrakeBackoffResetAndCap(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	auth := func() error { _, err := v.e.Authenticate(ctxT(t), entry); return err }
	trip := func() {
		t.Helper()
		for i := 0; ; i++ {
			err := auth()
			if errors.Is(err, ErrTooManyAttempts) {
				return
			}
			if err != nil || i > MaxAttemptsPerWindow {
				t.Fatalf("attempt %d: %v", i, err)
			}
		}
	}
	trip() // window 60 s
	v.clock.Advance(AttemptWindow + time.Second)
	if err := auth(); !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("30 s after the first trip: %v", err)
	}
	v.clock.Advance(AttemptWindow)
	trip() // window 120 s
	v.clock.Advance(2*AttemptWindow + time.Second)
	if err := auth(); !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("60 s after the second trip: %v", err)
	}
	v.clock.Advance(2 * AttemptWindow)
	if err := auth(); err != nil {
		t.Fatalf("after the 120 s window: %v", err)
	}
	// The server accepts the new token: back to the base window.
	h, _ := v.e.Handler(entry)
	if err := connectAndEcho(ctxT(t), s.MCPURL, h); err != nil {
		t.Fatal(err)
	}
	trip() // the first trip since the success: 60 s, not 240 s
	v.clock.Advance(2*AttemptWindow + time.Second)
	if err := auth(); err != nil {
		t.Fatalf("60 s after the first trip following a success: %v", err)
	}

	for trips, want := range map[int]time.Duration{0: 30 * time.Second, 1: time.Minute, 4: 8 * time.Minute, 5: MaxBrakeWindow, 40: MaxBrakeWindow} {
		if got := backoff(AttemptWindow, trips); got != want {
			t.Errorf("backoff(30s, %d) = %s, want %s", trips, got, want)
		}
	}
}

// TestStepUpStillWorks: a 401 challenge narrower than what the tools need:
// the interactive handler signs in, gets the 403 and steps up with the union
// once; the fresh-token brake does not stand in the way.
func TestStepUpStillWorks(t *testing.T) {
	s := startAS(t, oauthtest.Options{ChallengeScope: "mcp:read", RequiredScope: "mcp:read mcp:write"})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	if err := connectAndEcho(ctxT(t), s.MCPURL, v.e.InteractiveHandler(entry)); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.AuthorizeRequests != 2 || !sameScopes(st.LastAuthorizeScope, "mcp:read mcp:write offline_access") {
		t.Errorf("%d authorizations, last scope %q; want 2, the second for the union", st.AuthorizeRequests, st.LastAuthorizeScope)
	}
}

// TestRequiredScopesRecordedAndRequested: a non-interactive handler that
// meets a 403 insufficient_scope records the scopes with the credentials;
// Begin (API, TUI), Authenticate and the device grant then request the union
// of the challenged, granted and required scopes. Refreshes keep them; a
// sign-in that grants them and logout drop them.
func TestRequiredScopesRecordedAndRequested(t *testing.T) {
	s := startAS(t, oauthtest.Options{ChallengeScope: "mcp:read", DeviceFlow: true})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().LastAuthorizeScope; got != "mcp:read offline_access" {
		t.Fatalf("first sign-in scope %q", got)
	}
	s.SetRequiredScope("mcp:read mcp:write")
	h, _ := v.e.Handler(entry)
	err := connectAndEcho(ctxT(t), s.MCPURL, h)
	var ne *NeedsAuthError
	if !errors.As(err, &ne) || !strings.Contains(ne.Reason, "mcp:read mcp:write") || !sameScopes(strings.Join(ne.Scopes, " "), "mcp:read offline_access mcp:write") {
		t.Fatalf("err = %v; want needs-auth naming the scopes", err)
	}
	c, _ := v.store.Load(ctxT(t), entry.Name)
	if !slices.Equal(c.RequiredScopes, []string{"mcp:write"}) {
		t.Fatalf("stored required scopes %q, want [mcp:write]", c.RequiredScopes)
	}
	// A refresh keeps them.
	v.clock.Advance(2 * time.Hour)
	if _, err := v.e.Token(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	if c, _ := v.store.Load(ctxT(t), entry.Name); !slices.Equal(c.RequiredScopes, []string{"mcp:write"}) {
		t.Fatalf("after a refresh: required scopes %q", c.RequiredScopes)
	}
	if st, _ := v.e.Status(ctxT(t), entry); !slices.Equal(st.RequiredScopes, []string{"mcp:write"}) {
		t.Errorf("status required scopes %q", st.RequiredScopes)
	}

	// Begin, as the API and the TUI use it.
	p, err := v.e.Begin(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	if !sameScopes(strings.Join(p.Scopes, " "), "mcp:read mcp:write offline_access") || !strings.Contains(p.AuthorizationURL, "mcp%3Awrite") {
		t.Errorf("Begin requests %q", p.Scopes)
	}
	p.Close()

	// The device grant.
	go func() {
		m := waitNote(t, v, userCodeRE)
		oauthtest.FollowRedirects(context.Background(), m[2])
	}()
	dc, err := v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Device: true})
	if err != nil {
		t.Fatalf("device: %v\n%s", err, v.notes.all())
	}
	if !sameScopes(dc.Token.Scope, "mcp:read mcp:write offline_access") || len(dc.RequiredScopes) != 0 {
		t.Errorf("device grant: scope %q, still required %q", dc.Token.Scope, dc.RequiredScopes)
	}
	if err := connectAndEcho(ctxT(t), s.MCPURL, h); err != nil {
		t.Fatalf("after the device sign-in: %v", err)
	}

	// Authenticate with the browser, after the server asked for more again.
	s.SetRequiredScope("mcp:admin")
	if err := connectAndEcho(ctxT(t), s.MCPURL, h); !errors.Is(err, ErrNeedsAuth) {
		t.Fatalf("after mcp:admin became required: %v", err)
	}
	v.clock.Advance(time.Minute)
	if _, err := v.e.Authenticate(ctxT(t), entry); err == nil || !strings.Contains(err.Error(), "invalid_scope") || !strings.Contains(err.Error(), "forgotten") {
		t.Fatalf("sign-in for a scope the AS does not know: %v", err)
	}
	if got := s.Stats().LastAuthorizeScope; !sameScopes(got, "mcp:read mcp:write offline_access mcp:admin") {
		t.Errorf("Authenticate requested %q", got)
	}
	if c, _ := v.store.Load(ctxT(t), entry.Name); len(c.RequiredScopes) != 0 {
		t.Errorf("required scopes the AS refuses (invalid_scope) kept: %q", c.RequiredScopes)
	}

	// Logout forgets them.
	if err := connectAndEcho(ctxT(t), s.MCPURL, h); !errors.Is(err, ErrNeedsAuth) {
		t.Fatal(err)
	}
	if _, err := v.e.LogoutServer(ctxT(t), entry.Name, LogoutOptions{LocalOnly: true}); err != nil {
		t.Fatal(err)
	}
	if c, _ := v.store.Load(ctxT(t), entry.Name); c != nil && len(c.RequiredScopes) != 0 {
		t.Errorf("after logout: required scopes %q", c.RequiredScopes)
	}
}

// TestRequiredScopesSameURL: required scopes stored for another URL under
// the same name are not requested.
func TestRequiredScopesSameURL(t *testing.T) {
	s := startAS(t, oauthtest.Options{ChallengeScope: "mcp:read"})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	other := *entry
	other.URL = s.MCPURL + "/other"
	if err := v.store.Update(ctxT(t), entry.Name, func(*authstore.Credentials) (*authstore.Credentials, error) {
		return &authstore.Credentials{ServerURL: other.URL, RequiredScopes: []string{"mcp:write"}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().LastAuthorizeScope; got != "mcp:read offline_access" {
		t.Errorf("requested %q; the other URL's required scopes leaked in", got)
	}
}

func sameScopes(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// TestLogoutResetsBrakes: a tripped sign-in brake (doubled windows
// included) does not outlive a logout: the next authorization is allowed at
// once, on the same clock.
func TestLogoutResetsBrakes(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	var err error
	for i := 0; i <= MaxAttemptsPerWindow; i++ {
		_, err = v.e.Authenticate(ctxT(t), entry)
	}
	if !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("attempt %d: %v; want the brake tripped", MaxAttemptsPerWindow+1, err)
	}
	if _, err := v.e.LogoutServer(ctxT(t), entry.Name, LogoutOptions{Entry: entry}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatalf("sign-in right after logout: %v; want the brake reset", err)
	}
	// Logging out with nothing stored (no record at all) resets it too.
	for i := 0; i <= MaxAttemptsPerWindow; i++ {
		_, err = v.e.Authenticate(ctxT(t), entry)
	}
	if !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("brake not tripped again: %v", err)
	}
	if err := v.store.Delete(ctxT(t), entry.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.LogoutServer(ctxT(t), entry.Name, LogoutOptions{Entry: entry}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatalf("sign-in after a logout with nothing stored: %v", err)
	}
}
