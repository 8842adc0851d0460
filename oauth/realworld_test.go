package oauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
)

// remoteBrowser plays a browser on another machine: the user signs in, but
// the redirect to our loopback callback cannot arrive; the URL it was
// redirected to is sent on urls (for pasting).
func remoteBrowser(urls chan<- string) func(ctx context.Context, u string) error {
	return func(ctx context.Context, u string) error {
		go func() {
			r, err := oauthtest.RedirectURL(ctx, u)
			if err != nil {
				r = "error: " + err.Error()
			}
			select {
			case urls <- r:
			case <-ctx.Done():
			}
		}()
		return nil
	}
}

func waitNote(t *testing.T, v *env, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		all, added := v.notes.get()
		if m := re.FindStringSubmatch(all); m != nil {
			return m
		}
		select {
		case <-added:
		case <-timeout.C:
			t.Fatalf("no note matching %s in:\n%s", re, v.notes.all())
			return nil
		}
	}
}

func TestPasteFullRedirectURL(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	urls := make(chan string, 1)
	v := newEnv(t, "", remoteBrowser(urls))
	entry := testEntry(t, s.MCPURL)
	paste := make(chan string)
	go func() {
		ctx := ctxT(t)
		u := <-urls
		for _, line := range []string{
			"   ",              // ignored
			"not a redirect=1", // neither a redirect nor a code: reported, still pending
			"http://127.0.0.1:9/mcp/oauth/callback?state=S", // a URL without a code: reported
			strings.Replace(u, "state=", "state=X", 1),      // another flow's state
			u,
		} {
			select {
			case paste <- line:
			case <-ctx.Done():
				return
			}
		}
	}()
	c, err := v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Paste: paste})
	if err != nil {
		t.Fatalf("paste sign-in: %v\nnotes:\n%s", err, v.notes.all())
	}
	if c.Token == nil || c.Token.AccessToken == "" || c.Resource != s.MCPURL {
		t.Fatalf("stored credentials = %+v", c)
	}
	n := v.notes.all()
	for _, want := range []string{"paste the full URL it was redirected to", "not a URL or an authorization code", "neither a code nor an error", "belongs to no pending sign-in"} {
		if !strings.Contains(n, want) {
			t.Errorf("notes lack %q:\n%s", want, n)
		}
	}
	h, _ := v.e.Handler(entry)
	if err := connectAndEcho(ctxT(t), s.MCPURL, h); err != nil {
		t.Fatalf("connect with pasted-flow token: %v", err)
	}
}

func TestPasteBareCodeAndIssMismatch(t *testing.T) {
	s := startAS(t, oauthtest.Options{}) // advertises RFC 9207 iss
	urls := make(chan string, 1)
	v := newEnv(t, "", remoteBrowser(urls))
	entry := testEntry(t, s.MCPURL)

	// A bare code: no iss to check; accepted.
	paste := make(chan string, 1)
	go func() {
		u, _ := url.Parse(<-urls)
		paste <- u.Query().Get("code")
	}()
	if _, err := v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Paste: paste}); err != nil {
		t.Fatalf("bare code: %v", err)
	}

	// A full URL whose iss is wrong is refused before anything is delivered
	// (the same RFC 9207 check as a real redirect), the user is told, and the
	// flow stays pending: the right URL pasted next completes it.
	paste = make(chan string, 2)
	go func() {
		u, _ := url.Parse(<-urls)
		good := u.String()
		q := u.Query()
		q.Set("iss", "https://evil.example")
		u.RawQuery = q.Encode()
		paste <- u.String()
		paste <- good
	}()
	codesBefore := s.Stats().CodesIssued
	tokensBefore := s.Stats().TokenRequests["authorization_code"]
	if _, err := v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Paste: paste}); err != nil {
		t.Fatalf("wrong iss, then the right URL: %v", err)
	}
	if !strings.Contains(v.notes.all(), "https://evil.example") {
		t.Fatalf("the refused paste was not reported: %q", v.notes.all())
	}
	if st := s.Stats(); st.CodesIssued != codesBefore+1 || st.TokenRequests["authorization_code"] != tokensBefore+1 {
		t.Fatalf("codes %d→%d, token requests %d→%d: the wrong-iss paste must not reach the token endpoint", codesBefore, st.CodesIssued, tokensBefore, st.TokenRequests["authorization_code"])
	}
	// And the Pending API refuses it directly, leaving the flow pending.
	p, err := v.e.Begin(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	perr := p.Paste("http://127.0.0.1:1/cb?code=x&state=" + p.State + "&iss=https%3A%2F%2Fevil.example")
	var ie *IssuerResponseError
	if !errors.As(perr, &ie) || ie.Got != "https://evil.example" {
		t.Fatalf("Pending.Paste with a wrong iss: %v", perr)
	}
	select {
	case <-p.flow.Done():
		t.Fatal("a refused paste ended the flow")
	default:
	}
}

func TestPasteWhenCallbackPortBusy(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	urls := make(chan string, 1)
	v := newEnv(t, "", remoteBrowser(urls))
	entry := testEntry(t, s.MCPURL)
	ln := listenOn(t, entry.OAuth.CallbackPort) // not mcplink: does not answer the probe
	defer ln.Close()

	// Without paste the busy port stops the flow before any browser opens.
	if _, err := v.e.Authenticate(ctxT(t), entry); !errors.As(err, new(*callback.PortInUseError)) {
		t.Fatalf("busy port without paste: %v", err)
	}
	paste := make(chan string, 1)
	go func() { paste <- <-urls }()
	if _, err := v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Paste: paste}); err != nil {
		t.Fatalf("busy port with paste: %v\n%s", err, v.notes.all())
	}
	n := v.notes.all()
	if !strings.Contains(n, "could not start the OAuth callback listener") || !strings.Contains(n, "Paste the full URL") {
		t.Errorf("notes do not explain the paste fallback:\n%s", n)
	}
}

// TestPasteStdinClosedWhenCallbackPortBusy: with the callback port held by
// another program and nothing left to paste (stdin at its end: a script or
// CI), the flow fails at once with the busy-port reason, not after the flow
// timeout.
func TestPasteStdinClosedWhenCallbackPortBusy(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", func(context.Context, string) error { return nil }) // a browser that never comes back
	entry := testEntry(t, s.MCPURL)
	ln := listenOn(t, entry.OAuth.CallbackPort)
	defer ln.Close()
	paste := make(chan string)
	close(paste)
	t0 := time.Now()
	_, err := v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Paste: paste})
	if !errors.As(err, new(*callback.PortInUseError)) || !strings.Contains(err.Error(), "standard input ended") {
		t.Fatalf("stdin closed, port busy: %v; want the busy-port error saying stdin ended", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("failed after %s, want at once (the flow timeout is 10 s here)", d)
	}
	// With the listener running, stdin's end changes nothing: the browser
	// can still come back by itself.
	ln.Close()
	v2 := newEnv(t, "", oauthtest.FollowRedirects)
	closed := make(chan string)
	close(closed)
	if _, err := v2.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Paste: closed}); err != nil {
		t.Fatalf("listener running, stdin closed: %v", err)
	}
}

func TestPasteRacesListenerListenerWins(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", oauthtest.FollowRedirects) // the redirect arrives by itself
	entry := testEntry(t, s.MCPURL)
	paste := make(chan string) // nobody pastes
	if _, err := v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Paste: paste}); err != nil {
		t.Fatal(err)
	}
}

func TestCallbackHostSeparateFromRedirectHost(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	port := testenv.FreePort(t)
	// A forwarded port: the browser's request to 127.0.0.1:port reaches the
	// listener on 127.0.0.2:port (for example docker -p or an SSH tunnel).
	v := newEnv(t, "", func(ctx context.Context, u string) error {
		r, err := oauthtest.RedirectURL(ctx, u)
		if err != nil {
			return err
		}
		fwd := strings.Replace(r, "127.0.0.1:", "127.0.0.2:", 1)
		resp, err := http.Get(fwd)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("callback answered %d", resp.StatusCode)
		}
		return nil
	})
	entry := testEntry(t, s.MCPURL)
	entry.OAuth.CallbackPort = port
	entry.OAuth.CallbackHost = "127.0.0.2"
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatalf("sign-in through callbackHost: %v", err)
	}
	if got, want := s.Stats().LastRedirectURI, fmt.Sprintf("http://127.0.0.1:%d/mcp/oauth/callback", port); got != want {
		t.Errorf("redirect_uri = %q, want %q (the redirect host is unchanged)", got, want)
	}
	if strings.Contains(v.notes.all(), "not a loopback address") {
		t.Errorf("loopback callbackHost produced a non-loopback notice")
	}
	// A non-loopback callbackHost is allowed only explicitly, and said so.
	reg := callback.New(callback.Options{})
	defer reg.Close()
	f, err := reg.Begin(ctxT(t), callback.Request{RedirectURI: mustRedirect(t, entry), State: "s1", ListenHost: "127.0.0.3"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.ListenAddr() != fmt.Sprintf("127.0.0.3:%d", port) {
		t.Errorf("listen addr = %q", f.ListenAddr())
	}
	entry.OAuth.CallbackHost = "0.0.0.0"
	if msg := listenNotice(entry, "0.0.0.0:1"); !strings.Contains(msg, "not a loopback address") || !strings.Contains(msg, entry.Source) {
		t.Errorf("non-loopback notice = %q", msg)
	}
	entry.OAuth.CallbackHost = "::1"
	if msg := listenNotice(entry, "[::1]:1"); msg != "" {
		t.Errorf("loopback notice = %q", msg)
	}
}

var userCodeRE = regexp.MustCompile(`enter the code ([A-Z]{4}-[A-Z]{4}) \(or open (\S+), which carries the code\)`)

func deviceEnv(t *testing.T, o oauthtest.Options) (*oauthtest.Server, *env) {
	o.DeviceFlow = true
	s := startAS(t, o)
	v := newEnv(t, "", nil)
	v.e.opts.OpenURL = nil // no browser here: the user signs in elsewhere
	return s, v
}

func TestDeviceFlow(t *testing.T) {
	s, v := deviceEnv(t, oauthtest.Options{})
	entry := testEntry(t, s.MCPURL)
	done := make(chan error, 1)
	go func() {
		m := waitNote(t, v, userCodeRE)
		done <- oauthtest.FollowRedirects(ctxT(t), m[2]) // the browser enters the code
	}()
	start := time.Now()
	c, err := v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Device: true})
	if err != nil {
		t.Fatalf("device flow: %v\n%s", err, v.notes.all())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c.Resource != s.MCPURL || c.Token.RefreshToken == "" || c.Client == nil || !c.Client.Dynamic {
		t.Fatalf("stored = %+v", c)
	}
	st := s.Stats()
	if st.DeviceAuthorizations != 1 || st.DeviceSlowDowns != 0 || st.DevicePolls < 1 || st.AuthorizeRequests != 0 {
		t.Errorf("stats = %+v", st)
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("first poll after %s, before the 1 s interval", el)
	}
	if !strings.Contains(v.notes.all(), s.DeviceVerificationURI()) {
		t.Errorf("verification URI not shown:\n%s", v.notes.all())
	}
	h, _ := v.e.Handler(entry)
	if err := connectAndEcho(ctxT(t), s.MCPURL, h); err != nil {
		t.Fatal(err)
	}
	// The refresh token works like the code flow's.
	v.clock.Advance(2 * time.Hour)
	if _, err := v.e.Token(ctxT(t), entry); err != nil || s.Stats().Refreshes != 1 {
		t.Fatalf("refresh after device flow: %v (refreshes %d)", err, s.Stats().Refreshes)
	}
}

func TestDeviceFlowSlowDown(t *testing.T) {
	s, v := deviceEnv(t, oauthtest.Options{})
	v.e.deviceSlowDown = 1500 * time.Millisecond
	entry := testEntry(t, s.MCPURL)
	go func() {
		m := waitNote(t, v, userCodeRE)
		s.SetNextTokenError("slow_down")
		s.ApproveDevice(m[1])
	}()
	start := time.Now()
	if _, err := v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Device: true}); err != nil {
		t.Fatal(err)
	}
	// Poll 1 at 1 s gets slow_down, so poll 2 waits 1 s + 1.5 s.
	if el := time.Since(start); el < 3400*time.Millisecond {
		t.Errorf("finished after %s: slow_down did not lengthen the interval", el)
	}
	if st := s.Stats(); st.DevicePolls != 1 || st.TokenRequests[GrantDeviceCode] != 2 || st.DeviceSlowDowns != 0 {
		t.Errorf("polls %d requests %d natural slow_downs %d", st.DevicePolls, st.TokenRequests[GrantDeviceCode], st.DeviceSlowDowns)
	}
}

func TestDeviceFlowDeniedAndExpired(t *testing.T) {
	s, v := deviceEnv(t, oauthtest.Options{})
	entry := testEntry(t, s.MCPURL)
	go func() { s.DenyDevice(waitNote(t, v, userCodeRE)[1]) }()
	_, err := v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Device: true})
	var ae *callback.AuthorizationError
	if !errors.As(err, &ae) || ae.Code != "access_denied" {
		t.Fatalf("denied: %v", err)
	}

	s2, v2 := deviceEnv(t, oauthtest.Options{DeviceCodeLifetime: time.Second})
	entry2 := testEntry(t, s2.MCPURL)
	_, err = v2.e.AuthenticateWith(ctxT(t), entry2, AuthOptions{Device: true})
	if !errors.Is(err, ErrDeviceCodeExpired) {
		t.Fatalf("expired: %v", err)
	}

	// No device endpoint: a clear error, no request.
	s3 := startAS(t, oauthtest.Options{})
	v3 := newEnv(t, "", nil)
	_, err = v3.e.AuthenticateWith(ctxT(t), testEntry(t, s3.MCPURL), AuthOptions{Device: true})
	if !errors.Is(err, ErrDeviceNotSupported) {
		t.Fatalf("no device endpoint: %v", err)
	}
}

func TestLogoutRevokesAndKeepsRegistration(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	c, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.e.LogoutServer(ctxT(t), entry.Name, LogoutOptions{Entry: entry})
	if err != nil || res.RevocationErr != nil {
		t.Fatalf("logout: %v %+v", err, res)
	}
	if strings.Join(res.Revoked, ",") != "refresh_token,access_token" || !res.HadTokens {
		t.Errorf("revoked = %q", res.Revoked)
	}
	if st := s.Stats(); st.Revocations != 2 || s.ActiveAccessTokens() != 0 {
		t.Errorf("revocations %d, active access tokens %d", st.Revocations, s.ActiveAccessTokens())
	}
	// The old refresh token is refused by the AS.
	m, _ := v.e.metaFor(ctxT(t), c.Issuer)
	_, err = v.e.tokenRequest(ctxT(t), m.TokenEndpoint, fromStored(c.Client), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.Token.RefreshToken}})
	var te *TokenError
	if !errors.As(err, &te) || te.Code != "invalid_grant" {
		t.Fatalf("old refresh token after logout: %v", err)
	}
	// Tokens gone, registration kept and reused.
	got, err := v.store.Load(ctxT(t), entry.Name)
	if err != nil || got.Token != nil || got.Client == nil || got.Client.ClientID != c.Client.ClientID {
		t.Fatalf("stored after logout = %+v, %v", got, err)
	}
	if st, _ := v.e.Status(ctxT(t), entry); st.State != StateNotAuthenticated {
		t.Errorf("status after logout = %s", st.State)
	}
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Registrations != 1 {
		t.Errorf("registrations = %d, want the kept one reused", st.Registrations)
	}
	// --local-only: nothing revoked.
	res, err = v.e.LogoutServer(ctxT(t), entry.Name, LogoutOptions{LocalOnly: true, Entry: entry})
	if err != nil || len(res.Revoked) != 0 || res.RevocationSkipped == "" || s.Stats().Revocations != 2 {
		t.Fatalf("local-only: %v %+v revocations %d", err, res, s.Stats().Revocations)
	}
}

func TestLogoutRevocationFailureStillDeletes(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	s.Close() // the AS is gone (metadata is cached): revocation fails
	res, err := v.e.LogoutServer(ctxT(t), entry.Name, LogoutOptions{Entry: entry})
	if err != nil {
		t.Fatal(err)
	}
	if res.RevocationErr == nil || len(res.Revoked) != 0 {
		t.Fatalf("result = %+v", res)
	}
	if got, err := v.store.Load(ctxT(t), entry.Name); err != nil || got.Token != nil {
		t.Fatalf("tokens kept after failed revocation: %+v %v", got, err)
	}
	// Logout (the API's) reports it through Notify and succeeds.
	if err := v.e.Logout(ctxT(t), entry.Name); err != nil {
		t.Fatal(err)
	}
}

func TestResourceOverrideAndOmit(t *testing.T) {
	s := startAS(t, oauthtest.Options{ResourceOptional: true})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	entry.OAuth.OmitResource = true
	c, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.LastAuthorizeResource != "" || st.LastTokenResource != "" || c.Resource != "" {
		t.Errorf("resource sent although oauth.resource is false: %q %q %q", st.LastAuthorizeResource, st.LastTokenResource, c.Resource)
	}
	v.clock.Advance(2 * time.Hour)
	if _, err := v.e.Token(ctxT(t), entry); err != nil || s.Stats().LastRefreshResource != "" {
		t.Errorf("refresh: %v, resource %q", err, s.Stats().LastRefreshResource)
	}

	entry2 := testEntry(t, s.MCPURL)
	entry2.Name = "other"
	entry2.OAuth.Resource = "https://api.example.com/"
	_, err = v.e.Authenticate(ctxT(t), entry2) // the AS refuses that resource
	if err == nil {
		t.Fatal("unknown resource accepted")
	}
	if got := s.Stats().LastAuthorizeResource; got != "https://api.example.com/" {
		t.Errorf("authorize resource = %q, want the override", got)
	}
}

// TestRefusedFlowNotRestarted: go-sdk sends server/discover, then falls
// back to initialize; both 401s reach Authorize. A sign-in the user refused
// must open one browser tab, not two.
func TestRefusedFlowNotRestarted(t *testing.T) {
	s := startAS(t, oauthtest.Options{ConsentPage: true})
	v := newEnv(t, "", func(ctx context.Context, u string) error { return oauthtest.Consent(ctx, u, false) })
	entry := testEntry(t, s.MCPURL)
	err := connectAndEcho(ctxT(t), s.MCPURL, v.e.InteractiveHandler(entry))
	if err == nil || !strings.Contains(err.Error(), "access_denied") {
		t.Fatalf("connect after refused sign-in: %v", err)
	}
	if n := s.Stats().AuthorizeRequests; n != 1 {
		t.Fatalf("authorize requests = %d, want exactly one browser flow", n)
	}
	err = connectAndEcho(ctxT(t), s.MCPURL, v.e.InteractiveHandler(entry))
	if err == nil || s.Stats().AuthorizeRequests != 1 {
		t.Fatalf("reconnect within the window: %v, authorize requests %d", err, s.Stats().AuthorizeRequests)
	}
	// After the window a new attempt opens the browser again.
	v.clock.Advance(RefusedFlowWindow + time.Second)
	_ = connectAndEcho(ctxT(t), s.MCPURL, v.e.InteractiveHandler(entry))
	if n := s.Stats().AuthorizeRequests; n != 2 {
		t.Fatalf("authorize requests after the window = %d, want 2", n)
	}
}

// TestConcurrentAuthorizeSharesOneFlow: concurrent 401s share one browser flow.
func TestConcurrentAuthorizeSharesOneFlow(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	gate := make(chan struct{})
	v := newEnv(t, "", func(ctx context.Context, u string) error {
		<-gate
		return oauthtest.FollowRedirects(ctx, u)
	})
	entry := testEntry(t, s.MCPURL)
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- connectAndEcho(ctxT(t), s.MCPURL, v.e.InteractiveHandler(entry)) }()
	}
	// Open the gate once all three were refused (and so are authorizing),
	// not after a guessed pause.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.WaitStats(ctx, func(st oauthtest.Stats) bool { return st.MCPRejected >= 3 }); err != nil {
		t.Fatalf("only %d of 3 requests reached the MCP server: %v", s.Stats().MCPRejected, err)
	}
	close(gate)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Stats().AuthorizeRequests; n != 1 {
		t.Fatalf("authorize requests = %d, want 1", n)
	}
}

// TestRevokedRefreshNeedsAuthNoLoop: a revoked refresh token ends in
// needs_auth for the non-interactive handler, without any browser.
func TestRevokedRefreshNeedsAuthNoLoop(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	s.RevokeAll()
	before := s.Stats().AuthorizeRequests
	h, _ := v.e.Handler(entry)
	for range 3 {
		if err := connectAndEcho(ctxT(t), s.MCPURL, h); !errors.Is(err, ErrNeedsAuth) {
			t.Fatalf("connect with revoked tokens: %v", err)
		}
	}
	if n := s.Stats().AuthorizeRequests; n != before {
		t.Fatalf("a browser flow started (%d authorize requests)", n-before)
	}
	if st, _ := v.e.Status(ctxT(t), entry); st.State != StateNotAuthenticated {
		t.Errorf("status = %s", st.State)
	}
}

var _ = net.Listen
var _ authstore.Store

// TestForgottenRegistrationRedoneOnce: the AS forgot our persisted dynamic
// client. Refreshing meets invalid_client: needs_auth and the registration
// is dropped, so the next sign-in registers again; an invalid_client at the
// code exchange redoes the registration once, then succeeds; later sign-ins
// reuse the registration.
func TestForgottenRegistrationRedoneOnce(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	c1, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	if !s.DeleteClient(c1.Client.ClientID) {
		t.Fatal("client unknown to the AS")
	}
	v.clock.Advance(2 * time.Hour)
	if _, err := v.e.Token(ctxT(t), entry); !errors.Is(err, ErrNeedsAuth) {
		t.Fatalf("refresh with a forgotten client: %v", err)
	}
	c2, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatalf("sign-in after the AS forgot the client: %v", err)
	}
	if c2.Client.ClientID == c1.Client.ClientID || s.Stats().Registrations != 2 {
		t.Fatalf("client %q → %q, registrations %d", c1.Client.ClientID, c2.Client.ClientID, s.Stats().Registrations)
	}
	// invalid_client at the code exchange: registered again, once.
	v.clock.Advance(AttemptWindow)
	s.SetNextTokenError("invalid_client")
	c3, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil || c3.Client.ClientID == c2.Client.ClientID || s.Stats().Registrations != 3 {
		t.Fatalf("invalid_client at exchange: %v, registrations %d", err, s.Stats().Registrations)
	}
	v.clock.Advance(AttemptWindow)
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil || s.Stats().Registrations != 3 {
		t.Fatalf("re-auth: %v, registrations %d", err, s.Stats().Registrations)
	}
}

// TestDeviceTimeoutIsNotExpiry: a device sign-in ended by the caller's
// deadline or by FlowTimeout, while the device code (5 minutes) is still
// valid, is a *DeviceTimeoutError naming that bound, not ErrDeviceCodeExpired.
func TestDeviceTimeoutIsNotExpiry(t *testing.T) {
	s, v := deviceEnv(t, oauthtest.Options{})
	entry := testEntry(t, s.MCPURL)
	ctx, cancel := context.WithTimeout(ctxT(t), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := v.e.AuthenticateWith(ctx, entry, AuthOptions{Device: true})
	var dte *DeviceTimeoutError
	if !errors.As(err, &dte) || dte.FlowTimeout || dte.Limit != 2*time.Second && dte.Limit != time.Second || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("caller's deadline: %#v (%v); want a *DeviceTimeoutError for the caller's deadline", err, err)
	}
	if errors.Is(err, ErrDeviceCodeExpired) || strings.Contains(err.Error(), "expired") {
		t.Fatalf("caller's deadline reported as an expired code: %v", err)
	}
	if el := time.Since(start); el > 3*time.Second || dte.Waited < time.Second {
		t.Errorf("gave up after %s (Waited %s), want about 1.5 s", el, dte.Waited)
	}

	// FlowTimeout shorter than the code's lifetime: the same, flagged.
	v.e.opts.FlowTimeout = 1500 * time.Millisecond
	v.clock.Advance(AttemptWindow)
	_, err = v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Device: true})
	if !errors.As(err, &dte) || !dte.FlowTimeout || dte.Limit != 1500*time.Millisecond || errors.Is(err, ErrDeviceCodeExpired) {
		t.Fatalf("FlowTimeout: %v; want a *DeviceTimeoutError with FlowTimeout set", err)
	}

	// A code that really expires is still ErrDeviceCodeExpired.
	s2, v2 := deviceEnv(t, oauthtest.Options{DeviceCodeLifetime: time.Second})
	if _, err := v2.e.AuthenticateWith(ctxT(t), testEntry(t, s2.MCPURL), AuthOptions{Device: true}); !errors.Is(err, ErrDeviceCodeExpired) || errors.As(err, &dte) {
		t.Fatalf("expired code: %v", err)
	}
}

// TestDeviceAuthorizationEndpointErrorNamed: an error answer from the device
// authorization endpoint names that endpoint, not the token endpoint.
func TestDeviceAuthorizationEndpointErrorNamed(t *testing.T) {
	s, v := deviceEnv(t, oauthtest.Options{})
	entry := testEntry(t, s.MCPURL)
	entry.OAuth.Scope = "mcp:admin" // not among the AS's scopes: invalid_scope
	_, err := v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Device: true})
	var te *TokenError
	if !errors.As(err, &te) || te.Kind != EndpointDeviceAuthorization || te.Code != "invalid_scope" || te.Endpoint != s.DeviceAuthorizationEndpoint() {
		t.Fatalf("err = %v (%#v); want a *TokenError from the device authorization endpoint", err, te)
	}
	if msg := err.Error(); !strings.Contains(msg, "device authorization endpoint "+s.DeviceAuthorizationEndpoint()+" returned invalid_scope") || strings.Contains(msg, "token endpoint") {
		t.Fatalf("message %q; want it to name the device authorization endpoint", msg)
	}
	// The token endpoint's own errors keep their name.
	if got := (&TokenError{Endpoint: "https://as/token", Code: "invalid_grant"}).Error(); got != "token endpoint https://as/token returned invalid_grant" {
		t.Errorf("token endpoint error = %q", got)
	}
	if got := (&TokenError{Endpoint: "https://as/revoke", Kind: EndpointRevocation, Status: 500}).Error(); got != "revocation endpoint https://as/revoke answered HTTP 500" {
		t.Errorf("revocation endpoint error = %q", got)
	}
}
