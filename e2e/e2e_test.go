package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/mcplink/mcplink/authstore"
)

// shortTTL is the access-token lifetime of the refresh test's provider
// (the others use an hour): short enough to wait out. Being under
// oauth.RefreshMargin, mcplink refreshes such a token before every use.
const shortTTL = 5 * time.Second

// signInOptions changes what the user does in the browser.
type signInOptions struct {
	// wrongPasswordFirst types a wrong password once and checks the
	// provider refuses it.
	wrongPasswordFirst bool
	// unreachable makes every request to URLs starting with it fail to
	// reach the network: the browser shows a page of its own instead, as a
	// browser on another machine would for a loopback redirect URI.
	unreachable string
	// deny presses Deny instead of Approve on the consent page.
	deny bool
}

const unreachableText = "this browser cannot reach that address"

// interceptInBrowser answers, inside the browser, every request to URLs
// starting with prefix with a page of its own; the returned func stops it.
func interceptInBrowser(ctx context.Context, tb testing.TB, prefix string) func() {
	tb.Helper()
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: prefix + "*"}}}); err != nil {
		tb.Fatalf("intercepting %s in the browser: %v", prefix, err)
	}
	evCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { // owned by the returned func
		defer close(done)
		for ev, err := range chromedp.Events(evCtx, fetch.RequestPaused) {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(evCtx, fetch.FulfillRequest, fetch.FulfillRequestParams{
				RequestID:       ev.RequestID,
				ResponseCode:    200,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html; charset=utf-8"}},
				Body:            []byte("<!DOCTYPE html><title>unreachable</title><p>" + unreachableText + "</p>"),
			})
		}
	}()
	return func() { stop(); <-done }
}

// signedIn is what signIn saw.
type signedIn struct {
	Final string // the browser's final address
	Text  string // the final page's text
	// UserTime is the time the user steps took, from opening the URL to
	// pressing Approve; Approved is when Approve was pressed.
	UserTime time.Duration
	Approved time.Time
}

// signIn plays the user: it opens authURL, signs in, approves, and waits
// until the browser's address satisfies landed.
func signIn(tb testing.TB, authURL string, opts signInOptions, landed func(string) bool) signedIn {
	tb.Helper()
	b := sharedBrowser(tb)
	ctx, cancel := b.tab(tb, 30*time.Second)
	defer cancel()
	if opts.unreachable != "" {
		defer interceptInBrowser(ctx, tb, opts.unreachable)()
	}
	t0 := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(authURL)); err != nil {
		tb.Fatalf("opening the authorization URL: %v", err)
	}
	if opts.wrongPasswordFirst {
		if err := login(ctx, idpUser, "not-"+idpPassword); err != nil {
			tb.Fatalf("login form: %v", err)
		}
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#error"))); err != nil {
			tb.Fatalf("the provider did not refuse a wrong password: %v", err)
		}
	}
	if err := login(ctx, idpUser, idpPassword); err != nil {
		tb.Fatalf("login form: %v", err)
	}
	decide := approve
	if opts.deny {
		decide = deny
	}
	if err := decide(ctx); err != nil {
		t, _ := pageText(ctx)
		tb.Fatalf("consent page: %v\npage: %s", err, t)
	}
	var r signedIn
	r.Approved = time.Now()
	r.UserTime = r.Approved.Sub(t0)
	final, err := waitLocation(ctx, landed)
	if err != nil {
		t, _ := pageText(ctx)
		tb.Fatalf("%v\npage: %s", err, t)
	}
	// The redirect target may still be rendering; wait for its body.
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("body"))); err != nil {
		tb.Fatal(err)
	}
	text, err := pageText(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	r.Final, r.Text = final, text
	return r
}

// callbackPrefix is the start of the client's redirect URI.
func (c *client) callbackPrefix() string {
	return "http://127.0.0.1:" + strconv.Itoa(c.callbackPort) + "/"
}

// landed reports whether the browser reached the callback port.
func (c *client) landed(loc string) bool { return strings.HasPrefix(loc, c.callbackPrefix()) }

// authURLIn returns the provider's authorization URL found in line.
func (e *env) authURLIn(line string) (string, bool) {
	i := strings.Index(line, e.IdP.Meta.AuthorizationEndpoint+"?")
	if i < 0 {
		return "", false
	}
	u := line[i:]
	if j := strings.IndexAny(u, " \t\"'<>"); j >= 0 {
		u = u[:j]
	}
	return u, true
}

// authenticate runs `mcplink auth` with the browser flow and returns what
// was stored.
func authenticate(tb testing.TB, c *client, opts signInOptions) *authstore.Credentials {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	p := c.start(tb, "auth", serverName)
	authURL, err := c.waitBrowserURL(ctx)
	tURL := time.Since(t0)
	if err != nil {
		tb.Fatalf("%v\nstderr:\n%s", err, p.stderr.String())
	}
	printed, err := p.stderr.waitFor(ctx, c.env.authURLIn)
	if err != nil {
		tb.Fatalf("the authorization URL was not printed on stderr: %v\nstderr:\n%s", err, p.stderr.String())
	}
	if printed != authURL {
		tb.Errorf("stderr shows %s, the browser got %s", redactURL(printed), redactURL(authURL))
	}
	checkAuthURL(tb, authURL, c)
	si := signIn(tb, authURL, opts, c.landed)
	tSignedIn := time.Since(t0)
	if !strings.Contains(si.Text, "Signed in") {
		tb.Errorf("mcplink's callback page says %q, want it to contain %q", si.Text, "Signed in")
	}
	p.mustSucceed(tb, 30*time.Second)
	tb.Logf("mcplink auth: URL after %s, browser %s (user steps %s), exit after %s",
		tURL.Round(time.Millisecond), (tSignedIn - tURL).Round(time.Millisecond), si.UserTime.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	out := p.stdout.String()
	if !strings.Contains(out, "authenticated") {
		tb.Errorf("mcplink auth printed %q, want a line saying it authenticated", out)
	}
	cr := c.creds(tb)
	assertNoSecrets(tb, cr, out, p.stderr.String())
	return cr
}

// checkAuthURL checks the authorization request mcplink made.
func checkAuthURL(tb testing.TB, authURL string, c *client) {
	tb.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		tb.Fatalf("authorization URL: %v", err)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"response_type":         "code",
		"code_challenge_method": "S256",
		"resource":              c.env.RS.URL,
	} {
		if got := q.Get(k); got != want {
			tb.Errorf("authorization request %s = %q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(q.Get("redirect_uri"), c.callbackPrefix()) {
		tb.Errorf("authorization request redirect_uri = %q, want one on %s", q.Get("redirect_uri"), c.callbackPrefix())
	}
	if q.Get("code_challenge") == "" || len(q.Get("state")) < 16 {
		tb.Errorf("authorization request lacks a PKCE challenge or a strong state")
	}
	if s := " " + q.Get("scope") + " "; !strings.Contains(s, " "+resourceScope+" ") || !strings.Contains(s, " offline_access ") {
		tb.Errorf("authorization request scope = %q, want %s and offline_access", q.Get("scope"), resourceScope)
	}
}

// checkStored checks the credentials mcplink stored after a sign-in.
func checkStored(tb testing.TB, c *client, cr *authstore.Credentials) {
	tb.Helper()
	if cr.ServerURL != c.env.RS.URL || cr.Issuer != c.env.IdP.Issuer {
		tb.Errorf("stored for %q at %q, want %q at %q", cr.ServerURL, cr.Issuer, c.env.RS.URL, c.env.IdP.Issuer)
	}
	if cr.Client == nil || cr.Client.ClientID == "" || !cr.Client.Dynamic {
		tb.Fatalf("no dynamically registered client stored: %+v", cr.Client)
	}
	if cr.Token == nil || cr.Token.AccessToken == "" || cr.Token.RefreshToken == "" {
		tb.Fatalf("no access and refresh token stored")
	}
	if cr.Token.Expiry.IsZero() {
		tb.Errorf("stored token has no expiry")
	}
}

// callWhoami runs `mcplink call idp whoami` and checks the MCP server saw
// the signed-in user.
func callWhoami(tb testing.TB, c *client) {
	tb.Helper()
	out := c.mustRun(tb, "call", serverName, "whoami")
	if !strings.Contains(out, "sub="+idpUser) {
		tb.Fatalf("mcplink call printed %q, want sub=%s", out, idpUser)
	}
}

// probe sends an MCP initialize with token straight to the MCP server.
func probe(tb testing.TB, rs *resourceServer, token string) (int, string) {
	tb.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"probe","version":"1"}}}`
	req, err := http.NewRequest(http.MethodPost, rs.URL, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// TestAuthCodeFlowInBrowser: `mcplink auth` opens the browser on the
// provider's authorization URL (PKCE, resource indicator, offline_access),
// the user is refused with a wrong password, signs in, consents, and lands on
// mcplink's success page; the stored JWT works for `mcplink call`.
func TestAuthCodeFlowInBrowser(t *testing.T) {
	e := sharedEnv(t, relaxedShort)
	dumpLogsOnFailure(t, e)
	c := newClient(t, e)

	// Unauthenticated, the MCP server challenges with its metadata.
	if code, www := probe(t, e.RS, "not-a-token"); code != http.StatusUnauthorized || !strings.Contains(www, `resource_metadata="`+e.RS.MetadataURL+`"`) {
		t.Fatalf("MCP server answered %d %q to a bad token, want 401 with resource_metadata", code, www)
	}

	cr := authenticate(t, c, signInOptions{wrongPasswordFirst: true})
	checkStored(t, c, cr)
	if !strings.HasPrefix(cr.Client.RedirectURI, c.callbackPrefix()) {
		t.Errorf("registered redirect URI %q, want one on %s", cr.Client.RedirectURI, c.callbackPrefix())
	}
	callWhoami(t, c)
}

// TestRefreshRotation: once the access token has expired (the MCP server
// refuses it), `mcplink call` still works: mcplink refreshes before sending
// (no 401), stores the rotated refresh token, and the provider refuses the
// old one.
func TestRefreshRotation(t *testing.T) {
	e := sharedEnv(t, relaxedShort)
	dumpLogsOnFailure(t, e)
	c := newClient(t, e)
	t0 := time.Now()
	first := authenticate(t, c, signInOptions{})
	checkStored(t, c, first)
	t.Logf("signed in after %s; the access token expires in %s", time.Since(t0).Round(time.Millisecond), time.Until(first.Token.Expiry).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Let the access token expire, and check the MCP server now refuses it.
	time.Sleep(time.Until(first.Token.Expiry) + 300*time.Millisecond)
	if code, www := probe(t, e.RS, first.Token.AccessToken); code != http.StatusUnauthorized || !strings.Contains(www, "resource_metadata=") {
		t.Fatalf("MCP server answered %d %q to the expired token, want 401 with resource_metadata", code, www)
	}

	rejectedBefore := e.RS.rejections()
	callWhoami(t, c)
	if n := e.RS.rejections() - rejectedBefore; n != 0 {
		t.Errorf("the MCP server answered 401 %d times during the call: mcplink sent an expired token instead of refreshing first", n)
	}
	second := c.creds(t)
	checkStored(t, c, second)
	if second.Token.AccessToken == first.Token.AccessToken || !second.Token.Expiry.After(first.Token.Expiry) {
		t.Fatalf("the stored access token was not renewed")
	}
	if e.RS.usedToken(second.Token.AccessToken) == 0 {
		t.Errorf("the MCP server never saw the refreshed access token")
	}
	if second.Token.RefreshToken == first.Token.RefreshToken {
		t.Fatalf("the refresh token was not rotated (the provider rotates every use)")
	}
	if second.Client.ClientID != first.Client.ClientID {
		t.Errorf("the client registration changed during refresh")
	}

	// The provider's view: the new refresh token is live, the old one spent.
	if active, err := e.IdP.introspect(ctx, second.Token.RefreshToken); err != nil || !active {
		t.Fatalf("introspecting the new refresh token: active=%v err=%v, want active", active, err)
	}
	if active, err := e.IdP.introspect(ctx, first.Token.RefreshToken); err != nil || active {
		t.Fatalf("introspecting the old refresh token: active=%v err=%v, want inactive", active, err)
	}
	// A direct token request with the old refresh token is refused. (The
	// provider treats that as token theft and revokes the whole grant, so
	// this comes last.)
	_, te, err := e.IdP.refresh(ctx, first.Client, first.Token.RefreshToken, e.RS.URL)
	if err != nil {
		t.Fatal(err)
	}
	if te == nil || te.Error != "invalid_grant" {
		t.Fatalf("refreshing with the old refresh token: %+v, want invalid_grant", te)
	}
}

// TestLogoutRevokes: `mcplink logout` revokes the refresh token at the
// provider (RFC 7009) and deletes the local credentials; the old refresh
// token is refused afterwards.
func TestLogoutRevokes(t *testing.T) {
	e := sharedEnv(t, relaxed)
	dumpLogsOnFailure(t, e)
	c := newClient(t, e)
	cr := authenticate(t, c, signInOptions{})
	checkStored(t, c, cr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if active, err := e.IdP.introspect(ctx, cr.Token.RefreshToken); err != nil || !active {
		t.Fatalf("before logout the refresh token should be active: active=%v err=%v", active, err)
	}

	out, errOut, logoutErr := c.run(t, "logout", serverName)
	assertNoSecrets(t, cr, out, errOut)
	// The client registration may stay (re-authentication reuses it); the
	// tokens must be gone.
	if left, err := c.loadCreds(); err == nil && left.Token != nil {
		t.Errorf("after logout tokens are still stored")
	} else if err != nil && !errors.Is(err, authstore.ErrNotFound) {
		t.Errorf("reading the store after logout: %v", err)
	}
	if active, err := e.IdP.introspect(ctx, cr.Token.RefreshToken); err != nil || active {
		t.Fatalf("after logout the provider still considers the refresh token active (active=%v err=%v): logout did not revoke it\nlogout stderr:\n%s", active, err, errOut)
	}
	_, te, err := e.IdP.refresh(ctx, cr.Client, cr.Token.RefreshToken, e.RS.URL)
	if err != nil {
		t.Fatal(err)
	}
	if te == nil || te.Error != "invalid_grant" {
		t.Fatalf("refreshing with the logged-out refresh token: %+v, want invalid_grant", te)
	}
	// The refresh token (and with it the grant) is revoked; the JWT access
	// token cannot be revoked at all (the provider answers
	// unsupported_token_type, RFC 7009 §2.2.1): that is no failure.
	if logoutErr != nil {
		t.Fatalf("mcplink logout: %v, although the refresh token was revoked and the credentials deleted\nstdout:\n%s\nstderr:\n%s", logoutErr, out, errOut)
	}
}

// userCodeRE matches oidc-provider's user codes (base-20, ****-****).
var userCodeRE = regexp.MustCompile(`\b[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}\b`)

// TestDeviceFlow: `mcplink auth --device` shows the verification URI and
// user code; the user opens the URI in the browser, types the code, confirms,
// signs in and consents; mcplink's polling then stores the tokens.
func TestDeviceFlow(t *testing.T) {
	e := sharedEnv(t, relaxed)
	dumpLogsOnFailure(t, e)
	if e.IdP.Meta.DeviceAuthorizationEndpoint == "" {
		t.Fatal("the provider does not advertise device_authorization_endpoint")
	}
	c := newClient(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	p := c.start(t, "auth", serverName, "--device")
	verifyURI := e.IdP.Issuer + "/device"
	code, err := p.stderr.waitFor(ctx, func(line string) (string, bool) {
		m := userCodeRE.FindString(line)
		return m, m != ""
	})
	if err != nil {
		_ = p.wait(t, 5*time.Second)
		t.Fatalf("mcplink auth --device showed no user code (%v)\nstdout:\n%s\nstderr:\n%s", err, p.stdout.String(), p.stderr.String())
	}
	if !strings.Contains(p.stderr.String()+p.stdout.String(), verifyURI) {
		t.Errorf("mcplink auth --device did not show the verification URI %s\nstderr:\n%s", verifyURI, p.stderr.String())
	}

	b := sharedBrowser(t)
	tab, closeTab := b.tab(t, 30*time.Second)
	defer closeTab()
	if err := chromedp.Do(tab,
		chromedp.Navigate(verifyURI),
		chromedp.WaitVisible(chromedp.CSS(`input[name="user_code"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="user_code"]`), code),
		chromedp.Click(chromedp.CSS("#continue")),
		chromedp.WaitVisible(chromedp.CSS("#confirm")),
		chromedp.Click(chromedp.CSS("#confirm")),
	); err != nil {
		txt, _ := pageText(tab)
		t.Fatalf("entering the user code: %v\npage: %s", err, txt)
	}
	if err := login(tab, idpUser, idpPassword); err != nil {
		t.Fatalf("login form: %v", err)
	}
	if err := approve(tab); err != nil {
		t.Fatalf("consent: %v", err)
	}
	if err := chromedp.Do(tab, chromedp.WaitVisible(chromedp.CSS("#device-success"))); err != nil {
		txt, _ := pageText(tab)
		t.Fatalf("the provider did not show the device success page: %v\npage: %s", err, txt)
	}
	p.mustSucceed(t, 30*time.Second)
	cr := c.creds(t)
	checkStored(t, c, cr)
	assertNoSecrets(t, cr, p.stdout.String(), p.stderr.String())
	callWhoami(t, c)
}

// TestPasteRedirectWhenCallbackPortBusy: another program holds the callback
// port, so mcplink cannot listen; with --no-browser it prints the URL, the
// user signs in elsewhere, the browser lands on the other program's page,
// and the user pastes that address into mcplink, which completes the flow.
func TestPasteRedirectWhenCallbackPortBusy(t *testing.T) {
	e := sharedEnv(t, relaxed)
	dumpLogsOnFailure(t, e)
	c := newClient(t, e)
	busy := occupy(t, c.callbackPort)

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	p := c.start(t, "auth", serverName, "--no-browser")
	authURL, err := p.stderr.waitFor(ctx, e.authURLIn)
	if err != nil {
		_ = p.wait(t, 5*time.Second)
		t.Fatalf("mcplink auth --no-browser printed no authorization URL (%v)\nstderr:\n%s", err, p.stderr.String())
	}
	checkAuthURL(t, authURL, c)
	if !strings.Contains(p.stderr.String(), strconv.Itoa(c.callbackPort)) {
		t.Errorf("mcplink did not say that callback port %d is unavailable\nstderr:\n%s", c.callbackPort, p.stderr.String())
	}
	si := signIn(t, authURL, signInOptions{}, c.landed)
	final := si.Final
	if !strings.Contains(si.Text, busyPageText) {
		t.Fatalf("the browser should have landed on the other program's page, got %q", si.Text)
	}
	if busy.hits() == 0 {
		t.Fatal("the browser never reached the port's owner")
	}
	if q, _ := url.Parse(final); q == nil || q.Query().Get("code") == "" || q.Query().Get("state") == "" {
		t.Fatalf("the final address %s carries no code and state", redactURL(final))
	}
	if _, err := io.WriteString(p.stdin, final+"\n"); err != nil {
		t.Fatalf("pasting into mcplink: %v\nstderr:\n%s", err, p.stderr.String())
	}
	p.mustSucceed(t, 30*time.Second)
	cr := c.creds(t)
	checkStored(t, c, cr)
	assertNoSecrets(t, cr, p.stdout.String(), p.stderr.String())
	callWhoami(t, c)
}

// TestPasteRedirectWhileListening: the browser runs where it cannot reach
// mcplink's callback listener (SSH, containers). mcplink listens and reads
// stdin at once; the user pastes the address the browser ended on.
func TestPasteRedirectWhileListening(t *testing.T) {
	e := sharedEnv(t, relaxed)
	dumpLogsOnFailure(t, e)
	c := newClient(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	p := c.start(t, "auth", serverName, "--no-browser")
	authURL, err := p.stderr.waitFor(ctx, e.authURLIn)
	if err != nil {
		_ = p.wait(t, 5*time.Second)
		t.Fatalf("mcplink auth --no-browser printed no authorization URL (%v)\nstderr:\n%s", err, p.stderr.String())
	}
	if _, err := os.Stat(c.urlFile); err == nil {
		t.Errorf("mcplink auth --no-browser opened the browser")
	}
	si := signIn(t, authURL, signInOptions{unreachable: c.callbackPrefix()}, c.landed)
	if !strings.Contains(si.Text, unreachableText) {
		t.Fatalf("the browser reached mcplink's listener; the test needs it not to (page: %q)", si.Text)
	}
	if _, err := io.WriteString(p.stdin, si.Final+"\n"); err != nil {
		t.Fatalf("pasting into mcplink: %v\nstderr:\n%s", err, p.stderr.String())
	}
	p.mustSucceed(t, 30*time.Second)
	cr := c.creds(t)
	checkStored(t, c, cr)
	assertNoSecrets(t, cr, p.stdout.String(), p.stderr.String())
	callWhoami(t, c)
}

const busyPageText = "another program owns this port"

// portOwner is another program's HTTP server on a port.
type portOwner struct {
	srv *http.Server
	n   chan struct{}
}

func (o *portOwner) hits() int { return len(o.n) }

// occupy serves a plain page on 127.0.0.1:port until the test ends.
func occupy(tb testing.TB, port int) *portOwner {
	tb.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		tb.Fatalf("occupying port %d: %v", port, err)
	}
	o := &portOwner{n: make(chan struct{}, 100)}
	o.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case o.n <- struct{}{}:
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!DOCTYPE html><title>busy</title><p>%s</p>", busyPageText)
	})}
	go o.srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed at cleanup
	tb.Cleanup(func() { _ = o.srv.Close() })
	return o
}

// dumpLogsOnFailure logs the provider's log when t fails.
func dumpLogsOnFailure(t *testing.T, e *env) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("provider log:\n%s", e.IdP.logs.String())
		}
	})
}

// TestConsentDenied: the user presses Deny; mcplink's callback page says the
// sign-in failed, mcplink exits non-zero naming access_denied, and no token
// is stored.
func TestConsentDenied(t *testing.T) {
	e := sharedEnv(t, relaxed)
	dumpLogsOnFailure(t, e)
	c := newClient(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := c.start(t, "auth", serverName)
	authURL, err := c.waitBrowserURL(ctx)
	if err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, p.stderr.String())
	}
	si := signIn(t, authURL, signInOptions{deny: true}, c.landed)
	if !strings.Contains(si.Text, "failed") || !strings.Contains(si.Text, "access_denied") {
		t.Errorf("mcplink's callback page says %q, want a failed sign-in naming access_denied", si.Text)
	}
	if err := p.wait(t, 30*time.Second); err == nil {
		t.Fatalf("mcplink auth succeeded although the user denied consent\nstdout:\n%s", p.stdout.String())
	}
	if !strings.Contains(p.stderr.String(), "access_denied") {
		t.Errorf("mcplink auth did not name the provider's error access_denied\nstderr:\n%s", p.stderr.String())
	}
	if cr, err := c.loadCreds(); err == nil && cr.Token != nil {
		t.Errorf("a token was stored although the user denied consent")
	}
}

// TestStockProviderOfflineAccess: against oidc-provider's stock rule (OpenID
// Connect Core 1.0 §11: offline_access is ignored unless the request has
// prompt=consent), mcplink still obtains a refresh token.
func TestStockProviderOfflineAccess(t *testing.T) {
	e := sharedEnv(t, idpConfig{AccessTokenTTL: time.Hour, StrictOfflineAccess: true})
	dumpLogsOnFailure(t, e)
	c := newClient(t, e)
	cr := authenticate(t, c, signInOptions{})
	if cr.Token == nil || cr.Token.RefreshToken == "" {
		t.Fatalf("the provider issued no refresh token: it drops offline_access from requests without prompt=consent (OpenID Connect Core 1.0 §11), so mcplink must send prompt=consent when it asks for offline_access")
	}
	callWhoami(t, c)
}

// TestStockProviderDPoPWithBearerOnlyServer: the provider offers DPoP (stock
// oidc-provider does) but the MCP server, like most, takes only Bearer
// tokens and says nothing about DPoP in its resource metadata (RFC 9728
// dpop_signing_alg_values_supported). mcplink must still reach it.
func TestStockProviderDPoPWithBearerOnlyServer(t *testing.T) {
	e := sharedEnv(t, idpConfig{AccessTokenTTL: time.Hour, DPoP: true})
	dumpLogsOnFailure(t, e)
	c := newClient(t, e)
	p := c.start(t, "auth", serverName)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	authURL, err := c.waitBrowserURL(ctx)
	if err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, p.stderr.String())
	}
	signIn(t, authURL, signInOptions{}, c.landed)
	if err := p.wait(t, 30*time.Second); err != nil {
		cr, _ := c.loadCreds()
		tokenType := ""
		if cr != nil && cr.Token != nil {
			tokenType = cr.Token.TokenType
		}
		t.Fatalf("mcplink auth: %v (stored token type %q; the MCP server's last refusal: %v): mcplink bound the token with DPoP because the authorization server offers it, but the MCP server does not advertise DPoP support (dpop_signing_alg_values_supported in its RFC 9728 metadata), so it must use a Bearer token\nstdout:\n%s\nstderr:\n%s",
			err, tokenType, e.RS.lastRejection(), p.stdout.String(), p.stderr.String())
	}
	callWhoami(t, c)
}

// TestDPoPBoundTokens: provider and MCP server both support DPoP (the server
// says so in its metadata): mcplink obtains a DPoP-bound token, calls with
// valid proofs, and the bound token alone, sent as Bearer, is refused.
func TestDPoPBoundTokens(t *testing.T) {
	e := sharedEnv(t, idpConfig{AccessTokenTTL: time.Hour, DPoP: true, ServerDPoP: true})
	dumpLogsOnFailure(t, e)
	c := newClient(t, e)
	cr := authenticate(t, c, signInOptions{})
	checkStored(t, c, cr)
	if !strings.EqualFold(cr.Token.TokenType, "DPoP") {
		t.Fatalf("stored token type %q, want DPoP (provider and server both support it)", cr.Token.TokenType)
	}
	before := e.RS.validProofs()
	callWhoami(t, c)
	if e.RS.validProofs() == before {
		t.Fatalf("the MCP server saw no valid DPoP proof during the call")
	}
	if code, _ := probe(t, e.RS, cr.Token.AccessToken); code != http.StatusUnauthorized {
		t.Fatalf("the DPoP-bound token sent as Bearer got HTTP %d, want 401 (the test server must enforce the binding)", code)
	}
}

// TestDPoPBoundTokensOverSSE: against a server that speaks only the
// 2024-11-05 SSE transport, mcplink falls back to SSE and still sends the
// DPoP-bound token with a valid proof on the event stream and on every
// message (the SSE transport has no OAuth support of its own).
func TestDPoPBoundTokensOverSSE(t *testing.T) {
	e := sharedEnv(t, idpConfig{AccessTokenTTL: time.Hour, DPoP: true, ServerDPoP: true, ServerSSE: true})
	dumpLogsOnFailure(t, e)
	c := newClient(t, e)
	cr := authenticate(t, c, signInOptions{})
	if !strings.EqualFold(cr.Token.TokenType, "DPoP") {
		t.Fatalf("stored token type %q, want DPoP", cr.Token.TokenType)
	}
	before, rejected := e.RS.validProofs(), e.RS.rejections()
	out := c.mustRun(t, "call", serverName, "whoami")
	if !strings.Contains(out, "sub=") {
		t.Fatalf("mcplink call printed %q, want the whoami answer", out)
	}
	// GET (event stream), POST initialize, POST initialized, POST tools/list
	// (mcplink lists tools on connect), POST tools/call: at least 4 proofs.
	if got := e.RS.validProofs() - before; got < 4 {
		t.Fatalf("the MCP server saw %d valid DPoP proofs over SSE, want at least 4 (stream and messages)", got)
	}
	if got := e.RS.rejections() - rejected; got != 0 {
		t.Errorf("the MCP server refused %d requests after sign-in", got)
	}
	out = c.mustRun(t, "list", "--json")
	if !strings.Contains(out, `"transport": "sse"`) {
		t.Errorf("mcplink list --json does not report the sse transport:\n%s", out)
	}
}
