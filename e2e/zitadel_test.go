package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcplink/mcplink/authstore"
)

// The Zitadel OIDC example OP (github.com/zitadel/oidc/v3/example/server),
// built by e2e/zitadel/build.sh from e2e/zitadel/op, behind an MCP server
// that checks every access token by introspection, as a resource server of
// an OP with opaque tokens must.

// envZitadelOP overrides where the OP binary is found.
const envZitadelOP = "MCPLINK_E2E_ZITADEL_OP"

// The example's user (storage.NewUserStore) and the clients e2e/zitadel/op
// registers for the tests.
const (
	zitadelUser      = "test-user@127.0.0.1" // the issuer's host name is part of it
	zitadelUserID    = "id1"
	zitadelPassword  = "verysecure"
	zitadelNative    = "mcplink-native"
	zitadelDevice    = "mcplink-device"
	zitadelAPI       = "mcp-resource-server"
	zitadelRedirect  = "http://127.0.0.1/mcp/oauth/callback" // any port (RFC 8252 §7.3)
	zitadelStartWait = 20 * time.Second
)

// zitadelScopes are the scopes the MCP server requires (its 401 challenge
// names them) and lists in its metadata.
var zitadelScopes = []string{"openid", "profile"}

// zitadelOPPath returns the OP binary built by e2e/zitadel/build.sh, or skips
// (fails under CI). The binary's name is the build script's cache key: the
// pinned version and a hash of the module's sources.
func zitadelOPPath(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv(envZitadelOP); p != "" {
		if _, err := os.Stat(p); err != nil {
			unavailable(tb, "e2e: %s=%s: %v", envZitadelOP, p, err)
		}
		return p
	}
	dir := filepath.Join("zitadel", "op")
	var sources []byte
	for _, name := range []string{"go.mod", "go.sum", "main.go"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			tb.Fatal(err)
		}
		sources = append(sources, b...)
	}
	m := regexp.MustCompile(`(?m)^require github\.com/zitadel/oidc/v3 (v\S+)$`).FindSubmatch(sources)
	if m == nil {
		tb.Fatalf("%s/go.mod has no 'require github.com/zitadel/oidc/v3 vX.Y.Z' line", dir)
	}
	sum := sha256.Sum256(sources)
	cache := os.Getenv("MCPLINK_ZITADEL_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			base = filepath.Join(os.Getenv("HOME"), ".cache")
		}
		cache = filepath.Join(base, "mcplink-zitadel")
	}
	p := filepath.Join(cache, "op-"+string(m[1])+"-"+hex.EncodeToString(sum[:])[:16])
	if _, err := os.Stat(p); err != nil {
		unavailable(tb, "e2e: the Zitadel example OP is not built (%s); run e2e/zitadel/build.sh", p)
	}
	return p
}

// zitadelOP is a running Zitadel example OP.
type zitadelOP struct {
	Issuer string // http://127.0.0.1:PORT/ (the example's trailing slash)
	Meta   idpMeta

	bin          string
	dir          string // its working directory and HOME
	deviceSecret string
	apiSecret    string
	cmd          *exec.Cmd
	stdin        io.WriteCloser
	logs         *lockedBuffer
	done         chan struct{} // closed when the process has exited
}

func randomSecret(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// startZitadel starts the OP on a free loopback port; the test's cleanup
// stops it. A start that fails is a failure, not a skip: the binary exists.
func startZitadel(tb testing.TB) *zitadelOP {
	tb.Helper()
	op := &zitadelOP{bin: zitadelOPPath(tb), dir: tb.TempDir(), deviceSecret: randomSecret(tb), apiSecret: randomSecret(tb), logs: &lockedBuffer{}}
	op.launch(tb, "")
	tb.Cleanup(op.close)
	if t, ok := tb.(*testing.T); ok {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("Zitadel example OP log:\n%s", op.logs.String())
			}
		})
	}
	for name, v := range map[string]string{
		"revocation_endpoint":           op.Meta.RevocationEndpoint,
		"introspection_endpoint":        op.Meta.IntrospectionEndpoint,
		"device_authorization_endpoint": op.Meta.DeviceAuthorizationEndpoint,
	} {
		if v == "" {
			tb.Fatalf("the Zitadel example OP advertises no %s", name)
		}
	}
	return op
}

// restart stops the OP and starts it again on its port: same issuer and
// clients, but every token it issued is gone (its storage is in memory).
func (op *zitadelOP) restart(tb testing.TB) {
	tb.Helper()
	op.close()
	u, err := url.Parse(op.Issuer)
	if err != nil {
		tb.Fatal(err)
	}
	issuer := op.Issuer
	op.launch(tb, u.Port())
	if op.Issuer != issuer {
		tb.Fatalf("the restarted OP's issuer is %s, want %s", op.Issuer, issuer)
	}
}

// launch starts the OP process (on port, or a free one) and waits for its
// discovery document.
func (op *zitadelOP) launch(tb testing.TB, port string) {
	tb.Helper()
	cmd := exec.Command(op.bin)
	cmd.Dir = op.dir
	cmd.Env = append(minimalEnv(filepath.Join(filepath.Dir(mcplinkBin), "zitadel-env")),
		"HOME="+op.dir,
		"OP_NATIVE_CLIENT_ID="+zitadelNative,
		"OP_NATIVE_REDIRECT_URI="+zitadelRedirect,
		"OP_DEVICE_CLIENT_ID="+zitadelDevice,
		"OP_DEVICE_CLIENT_SECRET="+op.deviceSecret,
		"OP_INTROSPECTOR_ID="+zitadelAPI,
		"OP_INTROSPECTOR_SECRET="+op.apiSecret,
		"OP_PORT="+port,
		"OP_WATCH_STDIN=1",
	)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = op.logs
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting the Zitadel example OP (%s): %v", op.bin, err)
	}
	done := make(chan struct{})
	op.cmd, op.stdin, op.done = cmd, stdin, done
	issuerCh := make(chan string, 1)
	go func() { // owned by op: ends when the process closes stdout
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "OP_ISSUER="); ok && !sent {
				issuerCh <- v
				sent = true
				continue
			}
			op.logs.Write([]byte(sc.Text() + "\n"))
		}
		_ = cmd.Wait()
		close(done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), zitadelStartWait)
	defer cancel()
	select {
	case op.Issuer = <-issuerCh:
	case <-done:
		tb.Fatalf("the Zitadel example OP exited before it was ready:\n%s", op.logs.String())
	case <-ctx.Done():
		tb.Fatalf("the Zitadel example OP printed no issuer within %s:\n%s", zitadelStartWait, op.logs.String())
	}
	var meta idpMeta
	if err := getJSON(ctx, op.Issuer+".well-known/openid-configuration", &meta); err != nil {
		tb.Fatalf("the Zitadel example OP's discovery document: %v\n%s", err, op.logs.String())
	}
	if meta.Issuer != op.Issuer {
		tb.Fatalf("discovery names issuer %q, want %q", meta.Issuer, op.Issuer)
	}
	if op.Meta.Issuer == "" {
		op.Meta = meta // set once: the MCP server reads it concurrently
	}
	tb.Logf("Zitadel example OP ready at %s after %s", op.Issuer, time.Since(t0).Round(time.Millisecond))
}

// close stops the OP: stdin's end, then SIGTERM, then SIGKILL.
func (op *zitadelOP) close() {
	_ = op.stdin.Close()
	for _, next := range []func(){
		func() { _ = op.cmd.Process.Signal(syscall.SIGTERM) },
		func() { _ = op.cmd.Process.Kill() },
	} {
		select {
		case <-op.done:
			return
		case <-time.After(2 * time.Second):
		}
		next()
	}
	<-op.done
}

// checkSent fails unless the OP logged a request to path with grantType and
// the resource indicator resource (e2e/zitadel/op logs them; the example OP
// itself ignores resource indicators).
func (op *zitadelOP) checkSent(tb testing.TB, path, grantType, resource string) {
	tb.Helper()
	want := fmt.Sprintf("OP_REQUEST %s grant_type=%q resource=%q", path, grantType, resource)
	logs := op.logs.String()
	if !strings.Contains(logs, want+"\n") {
		var seen []string
		for _, l := range strings.Split(logs, "\n") {
			if strings.HasPrefix(l, "OP_REQUEST ") {
				seen = append(seen, l)
			}
		}
		tb.Errorf("the OP saw no %s request with grant_type %q and resource %q; it saw:\n%s", path, grantType, resource, strings.Join(seen, "\n"))
	}
}

// introspection is the part of an RFC 7662 answer the tests use.
type introspection struct {
	Active   bool   `json:"active"`
	Subject  string `json:"sub"`
	Username string `json:"preferred_username"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	Exp      int64  `json:"exp"`
}

// introspect asks the OP about token as the MCP server's client.
func (op *zitadelOP) introspect(ctx context.Context, token string) (*introspection, error) {
	status, body, err := postForm(ctx, op.Meta.IntrospectionEndpoint, url.Values{"token": {token}}, zitadelAPI, op.apiSecret)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("introspection answered HTTP %d: %.200s", status, body)
	}
	var out introspection
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("introspection answer: %w", err)
	}
	return &out, nil
}

// postForm posts form to endpoint, with Basic client authentication when id
// is set, and returns the status and (bounded) body.
func postForm(ctx context.Context, endpoint string, form url.Values, id, secret string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// tokenCall posts a token request for the public native client and returns
// the OAuth error code ("" on success).
func (op *zitadelOP) tokenCall(tb testing.TB, form url.Values) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	form.Set("client_id", zitadelNative)
	status, body, err := postForm(ctx, op.Meta.TokenEndpoint, form, "", "")
	if err != nil {
		tb.Fatal(err)
	}
	if status == http.StatusOK {
		return ""
	}
	var te struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &te); err != nil || te.Error == "" {
		tb.Fatalf("token endpoint answered HTTP %d without an OAuth error: %.200s", status, body)
	}
	return te.Error
}

// zitadelEnv is the OP with an MCP server that accepts its tokens.
type zitadelEnv struct {
	OP *zitadelOP
	RS *resourceServer
	e  *env // for the shared client helpers (the RS only)
}

// startZitadelEnv starts the OP and an MCP server protected by it: the
// server's RFC 9728 metadata names the OP and the scopes openid and profile,
// and it takes a Bearer token only when the OP's introspection endpoint says
// it is active (which the OP says only of tokens issued to the project's
// clients) and carries both scopes (without openid the example's
// introspection gives no sub). It reuses resourceServer's bookkeeping (accepted tokens, 401s, the last
// refusal) with introspection in place of JWT validation.
func startZitadelEnv(tb testing.TB) *zitadelEnv {
	tb.Helper()
	op := startZitadel(tb)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	rs := &resourceServer{
		URL:         base + "/mcp",
		MetadataURL: base + "/.well-known/oauth-protected-resource/mcp",
		ln:          ln,
		issuer:      op.Issuer,
		accepted:    map[[32]byte]int{},
		jtis:        map[string]bool{},
	}
	verify := func(ctx context.Context, raw string, _ *http.Request) (*auth.TokenInfo, error) {
		ti, err := introspectionVerify(ctx, op, raw)
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if err != nil {
			rs.lastErr = err
			return nil, err
		}
		rs.accepted[sha256.Sum256([]byte(raw))]++
		return ti, nil
	}

	server := mcp.NewServer(&mcp.Implementation{Name: "e2e-zitadel-protected", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "Returns the subject and user name of the caller's access token."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			sub, user := "", ""
			if req.Extra != nil && req.Extra.TokenInfo != nil {
				sub = req.Extra.TokenInfo.UserID
				user, _ = req.Extra.TokenInfo.Extra["preferred_username"].(string)
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sub=" + sub + " user=" + user}}}, nil, nil
		})
	protect := auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: rs.MetadataURL,
		Scopes:              zitadelScopes,
	})
	mux := http.NewServeMux()
	mux.Handle("/mcp", rs.count(protect(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))))
	mux.Handle("/.well-known/oauth-protected-resource/mcp", auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               rs.URL,
		AuthorizationServers:   []string{op.Issuer},
		ScopesSupported:        zitadelScopes,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "e2e MCP server behind the Zitadel example OP",
	}))
	rs.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go rs.srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed in close
	tb.Cleanup(rs.close)
	return &zitadelEnv{OP: op, RS: rs, e: &env{RS: rs}}
}

// introspectionVerify is the MCP server's token check.
func introspectionVerify(ctx context.Context, op *zitadelOP, raw string) (*auth.TokenInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	in, err := op.introspect(ctx, raw)
	if err != nil {
		// Not the token's fault: go-sdk answers 500, not 401, for an
		// error that is not ErrInvalidToken.
		return nil, fmt.Errorf("introspecting the token: %w", err)
	}
	switch {
	case !in.Active:
		return nil, fmt.Errorf("%w: the OP says the token is not active", auth.ErrInvalidToken)
	case in.Exp == 0:
		return nil, fmt.Errorf("%w: introspection gave no exp", auth.ErrInvalidToken)
	}
	return &auth.TokenInfo{
		Scopes:     strings.Fields(in.Scope),
		Expiration: time.Unix(in.Exp, 0),
		UserID:     in.Subject,
		Extra:      map[string]any{"preferred_username": in.Username},
	}, nil
}

// newZitadelClient is a mcplink user whose config names the MCP server with
// the OAuth client registered at the OP (the example has no dynamic
// registration, so the client is pre-registered, as with Zitadel proper).
func newZitadelClient(tb testing.TB, z *zitadelEnv, oauth map[string]any) *client {
	tb.Helper()
	c := newClient(tb, z.e)
	oauth["callbackPort"] = c.callbackPort
	cfg := map[string]any{"mcp": map[string]any{serverName: map[string]any{
		"type":    "remote",
		"url":     z.RS.URL,
		"timeout": 20000,
		"oauth":   oauth,
	}}}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(c.configFile, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return c
}

// zitadelLogin fills the example's login form (its inputs have ids
// username and password; the error shows in the form's red paragraph).
func zitadelLogin(ctx context.Context, user, password string) error {
	return chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
}

// zitadelSignIn plays the user on the OP's login page (a wrong password
// first when wrongFirst: the OP must refuse it) and waits until the browser
// reaches the address landed accepts. The example OP asks for no consent.
func zitadelSignIn(tb testing.TB, authURL string, wrongFirst bool, unreachable string, landed func(string) bool) signedIn {
	tb.Helper()
	b := sharedBrowser(tb)
	ctx, cancel := b.tab(tb, 30*time.Second)
	defer cancel()
	if unreachable != "" {
		defer interceptInBrowser(ctx, tb, unreachable)()
	}
	t0 := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(authURL)); err != nil {
		tb.Fatalf("opening the authorization URL: %v", err)
	}
	if wrongFirst {
		if err := zitadelLogin(ctx, zitadelUser, "not-"+zitadelPassword); err != nil {
			tb.Fatalf("login form: %v", err)
		}
		// The OP renders the form again, empty, with its error.
		for text := ""; !strings.Contains(text, "username or password wrong"); {
			select {
			case <-ctx.Done():
				tb.Fatalf("the OP did not refuse a wrong password; page: %q", text)
			case <-time.After(25 * time.Millisecond):
			}
			text, _ = pageText(ctx)
		}
	}
	if err := zitadelLogin(ctx, zitadelUser, zitadelPassword); err != nil {
		tb.Fatalf("login form: %v", err)
	}
	r := signedIn{Approved: time.Now()}
	r.UserTime = r.Approved.Sub(t0)
	final, err := waitLocation(ctx, landed)
	if err != nil {
		t, _ := pageText(ctx)
		tb.Fatalf("%v\npage: %s", err, t)
	}
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

// checkZitadelAuthURL checks the authorization request mcplink made: the
// pre-registered public client, PKCE S256, the resource indicator, the
// scopes of the server's metadata plus offline_access (the OP lists it).
func checkZitadelAuthURL(tb testing.TB, z *zitadelEnv, c *client, authURL string) url.Values {
	tb.Helper()
	if !strings.HasPrefix(authURL, z.OP.Meta.AuthorizationEndpoint+"?") {
		tb.Fatalf("authorization URL %s is not at the OP's authorization endpoint %s", redactURL(authURL), z.OP.Meta.AuthorizationEndpoint)
	}
	u, err := url.Parse(authURL)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"client_id":             zitadelNative,
		"response_type":         "code",
		"code_challenge_method": "S256",
		"resource":              z.RS.URL,
		"redirect_uri":          c.callbackPrefix() + "mcp/oauth/callback",
	} {
		if got := q.Get(k); got != want {
			tb.Errorf("authorization request %s = %q, want %q", k, got, want)
		}
	}
	if len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 16 {
		tb.Errorf("authorization request lacks an S256 code_challenge (43 characters) or a strong state")
	}
	scopes := strings.Fields(q.Get("scope"))
	for _, s := range append(slices.Clone(zitadelScopes), "offline_access") {
		if !slices.Contains(scopes, s) {
			tb.Errorf("authorization request scope = %q, want it to include %s", q.Get("scope"), s)
		}
	}
	return q
}

// zitadelAuth runs `mcplink auth` through the browser and returns what was
// stored and the authorization URL's query.
func zitadelAuth(tb testing.TB, z *zitadelEnv, c *client, wrongFirst bool) (*authstore.Credentials, url.Values) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := c.start(tb, "auth", serverName)
	authURL, err := c.waitBrowserURL(ctx)
	if err != nil {
		tb.Fatalf("%v\nstderr:\n%s", err, p.stderr.String())
	}
	q := checkZitadelAuthURL(tb, z, c, authURL)
	si := zitadelSignIn(tb, authURL, wrongFirst, "", c.landed)
	if !strings.Contains(si.Text, "Signed in") {
		tb.Errorf("mcplink's callback page says %q, want it to contain %q", si.Text, "Signed in")
	}
	p.mustSucceed(tb, 30*time.Second)
	cr := c.creds(tb)
	assertNoSecrets(tb, cr, p.stdout.String(), p.stderr.String())
	checkZitadelStored(tb, z, cr, zitadelNative)
	z.OP.checkSent(tb, "/oauth/token", "authorization_code", z.RS.URL)
	return cr, q
}

// checkZitadelStored checks what mcplink stored after a sign-in.
func checkZitadelStored(tb testing.TB, z *zitadelEnv, cr *authstore.Credentials, clientID string) {
	tb.Helper()
	if cr.ServerURL != z.RS.URL || cr.Issuer != z.OP.Issuer {
		tb.Errorf("stored for %q at %q, want %q at %q", cr.ServerURL, cr.Issuer, z.RS.URL, z.OP.Issuer)
	}
	if cr.Client == nil || cr.Client.ClientID != clientID || cr.Client.Dynamic {
		tb.Errorf("stored client %+v, want the pre-registered %s", cr.Client, clientID)
	}
	if cr.Token == nil || cr.Token.AccessToken == "" {
		tb.Fatalf("no access token stored")
	}
	if cr.Token.Expiry.IsZero() {
		tb.Errorf("stored token has no expiry")
	}
}

// zitadelWhoami runs `mcplink call idp whoami` and checks the MCP server saw
// the example's user.
func zitadelWhoami(tb testing.TB, c *client) {
	tb.Helper()
	out := c.mustRun(tb, "call", serverName, "whoami")
	if want := "sub=" + zitadelUserID + " user=" + zitadelUser; !strings.Contains(out, want) {
		tb.Fatalf("mcplink call printed %q, want %q", out, want)
	}
}

// TestZitadelBrowserSignInRefreshRotation: against the Zitadel example OP
// with mcplink's pre-registered public client, `mcplink auth` sends the user
// to the OP's login page (PKCE S256, resource indicator, offline_access); a
// wrong password is refused, the right one lands on mcplink's callback page;
// the opaque token works through the MCP server's introspection. Once the
// stored access token has expired, `mcplink call` refreshes first (no 401),
// the OP rotates the refresh token, and the spent one is refused.
func TestZitadelBrowserSignInRefreshRotation(t *testing.T) {
	z := startZitadelEnv(t)
	c := newZitadelClient(t, z, map[string]any{"clientId": zitadelNative})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if code, www := probe(t, z.RS, "not-a-token"); code != http.StatusUnauthorized || !strings.Contains(www, `resource_metadata="`+z.RS.MetadataURL+`"`) {
		t.Fatalf("MCP server answered %d %q to a bad token, want 401 with resource_metadata", code, www)
	}
	first, _ := zitadelAuth(t, z, c, true)
	if first.Token.RefreshToken == "" {
		t.Fatalf("no refresh token stored: the OP issues one only for offline_access, which mcplink must request when the OP lists it")
	}
	in, err := z.OP.introspect(ctx, first.Token.AccessToken)
	if err != nil || !in.Active || in.Subject != zitadelUserID || in.ClientID != zitadelNative {
		t.Fatalf("introspecting the stored access token: %+v, %v; want active, sub %s, client %s", in, err, zitadelUserID, zitadelNative)
	}
	zitadelWhoami(t, c)
	if z.RS.usedToken(first.Token.AccessToken) == 0 {
		t.Fatalf("the MCP server never accepted the stored access token")
	}

	// The example OP's access tokens live 5 minutes: expire the stored one
	// in mcplink's store, as time would.
	st, err := authstore.NewFileStore(authstore.FileOptions{Dir: c.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, serverName, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		cur.Token.Expiry = time.Now().Add(-time.Second)
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	rejected := z.RS.rejections()
	zitadelWhoami(t, c)
	if n := z.RS.rejections() - rejected; n != 0 {
		t.Errorf("the MCP server answered 401 %d times: mcplink sent the expired token instead of refreshing first", n)
	}
	second := c.creds(t)
	checkZitadelStored(t, z, second, zitadelNative)
	switch {
	case second.Token.AccessToken == first.Token.AccessToken:
		t.Fatalf("the access token was not refreshed")
	case second.Token.RefreshToken == "" || second.Token.RefreshToken == first.Token.RefreshToken:
		t.Fatalf("the refresh token was not rotated (the example OP rotates on every use)")
	case z.RS.usedToken(second.Token.AccessToken) == 0:
		t.Fatalf("the MCP server never saw the refreshed access token")
	}
	z.OP.checkSent(t, "/oauth/token", "refresh_token", z.RS.URL)
	// The OP's view: the old access token went with its refresh token.
	if in, err := z.OP.introspect(ctx, first.Token.AccessToken); err != nil || in.Active {
		t.Errorf("introspecting the replaced access token: %+v, %v; want inactive", in, err)
	}
	if in, err := z.OP.introspect(ctx, second.Token.AccessToken); err != nil || !in.Active {
		t.Errorf("introspecting the new access token: %+v, %v; want active", in, err)
	}
	if code := z.OP.tokenCall(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.Token.RefreshToken}}); code != "invalid_grant" {
		t.Fatalf("refreshing with the spent refresh token: error %q, want invalid_grant", code)
	}
	// The example OP does not revoke the grant on reuse: mcplink goes on.
	zitadelWhoami(t, c)
}

// TestZitadelPKCE: the OP binds the code to mcplink's S256 challenge. The
// browser cannot reach mcplink's listener, so the user pastes the address it
// ended on; before that, the test redeems the code itself with a wrong
// verifier (refused), then mcplink redeems it with its own (accepted), and
// the code cannot be used again.
func TestZitadelPKCE(t *testing.T) {
	z := startZitadelEnv(t)
	c := newZitadelClient(t, z, map[string]any{"clientId": zitadelNative})
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	p := c.start(t, "auth", serverName, "--no-browser")
	authURL, err := p.stderr.waitFor(ctx, func(line string) (string, bool) {
		i := strings.Index(line, z.OP.Meta.AuthorizationEndpoint+"?")
		if i < 0 {
			return "", false
		}
		u := line[i:]
		if j := strings.IndexAny(u, " \t\"'<>"); j >= 0 {
			u = u[:j]
		}
		return u, true
	})
	if err != nil {
		_ = p.wait(t, 5*time.Second)
		t.Fatalf("mcplink auth --no-browser printed no authorization URL (%v)\nstderr:\n%s", err, p.stderr.String())
	}
	q := checkZitadelAuthURL(t, z, c, authURL)
	si := zitadelSignIn(t, authURL, false, c.callbackPrefix(), c.landed)
	if !strings.Contains(si.Text, unreachableText) {
		t.Fatalf("the browser reached mcplink's listener; the test needs it not to (page: %q)", si.Text)
	}
	final, err := url.Parse(si.Final)
	if err != nil {
		t.Fatal(err)
	}
	code := final.Query().Get("code")
	if code == "" || final.Query().Get("state") != q.Get("state") {
		t.Fatalf("the OP's redirect %s carries no code or another state", redactURL(si.Final))
	}
	redeem := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {q.Get("redirect_uri")}}
	wrong := url.Values{"code_verifier": {strings.Repeat("x", 43)}}
	for k, v := range redeem {
		wrong[k] = v
	}
	if got := z.OP.tokenCall(t, wrong); got != "invalid_grant" {
		t.Fatalf("redeeming the code with a wrong PKCE verifier: error %q, want invalid_grant (the OP must check the S256 challenge)", got)
	}

	if _, err := io.WriteString(p.stdin, si.Final+"\n"); err != nil {
		t.Fatalf("pasting into mcplink: %v\nstderr:\n%s", err, p.stderr.String())
	}
	p.mustSucceed(t, 30*time.Second)
	cr := c.creds(t)
	checkZitadelStored(t, z, cr, zitadelNative)
	assertNoSecrets(t, cr, p.stdout.String(), p.stderr.String())
	zitadelWhoami(t, c)
	if got := z.OP.tokenCall(t, redeem); got != "invalid_grant" {
		t.Fatalf("redeeming the code a second time: error %q, want invalid_grant", got)
	}
}

// zitadelDeviceSignIn runs `mcplink auth --device` with the OP's
// pre-registered confidential device client: mcplink shows the verification
// URI and user code; the user enters the code on the OP's device page,
// signs in and allows; mcplink's polling stores the token.
func zitadelDeviceSignIn(tb testing.TB, z *zitadelEnv, c *client) *authstore.Credentials {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t0 := time.Now()
	p := c.start(tb, "auth", serverName, "--device")
	code, err := p.stderr.waitFor(ctx, func(line string) (string, bool) {
		m := userCodeRE.FindString(line)
		return m, m != ""
	})
	if err != nil {
		_ = p.wait(tb, 5*time.Second)
		tb.Fatalf("mcplink auth --device showed no user code (%v)\nstdout:\n%s\nstderr:\n%s", err, p.stdout.String(), p.stderr.String())
	}
	verifyURI := z.OP.Issuer + "device"
	if !strings.Contains(p.stderr.String()+p.stdout.String(), verifyURI) {
		tb.Errorf("mcplink auth --device did not show the verification URI %s\nstderr:\n%s", verifyURI, p.stderr.String())
	}

	b := sharedBrowser(tb)
	tab, closeTab := b.tab(tb, 30*time.Second)
	defer closeTab()
	if err := chromedp.Do(tab,
		chromedp.Navigate(verifyURI),
		chromedp.WaitVisible(chromedp.CSS("#user_code")),
		chromedp.SendKeys(chromedp.CSS("#user_code"), code),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), zitadelUser),
		chromedp.SendKeys(chromedp.CSS("#password"), zitadelPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("button.green")),
	); err != nil {
		txt, _ := pageText(tab)
		tb.Fatalf("entering the user code and signing in: %v\npage: %s", err, txt)
	}
	if txt, _ := pageText(tab); !strings.Contains(txt, zitadelDevice) {
		tb.Errorf("the OP's confirmation page does not name the client %s: %q", zitadelDevice, txt)
	}
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS("button.green"))); err != nil {
		tb.Fatalf("allowing the device: %v", err)
	}
	p.mustSucceed(tb, 30*time.Second)
	z.OP.checkSent(tb, "/device_authorization", "", z.RS.URL)
	z.OP.checkSent(tb, "/oauth/token", "urn:ietf:params:oauth:grant-type:device_code", z.RS.URL)
	tb.Logf("device flow: %s from start to stored token (the OP asks for a 5 s poll interval)", time.Since(t0).Round(time.Millisecond))
	cr := c.creds(tb)
	checkZitadelStored(tb, z, cr, zitadelDevice)
	assertNoSecrets(tb, cr, p.stdout.String(), p.stderr.String())
	if strings.Contains(p.stdout.String()+p.stderr.String(), z.OP.deviceSecret) {
		tb.Errorf("mcplink printed the client secret")
	}
	return cr
}

// TestZitadelDeviceFlow: the device flow (zitadelDeviceSignIn) with the
// OP's device client gives a token the MCP server accepts. The example OP
// then refuses to revoke that token (it records no client for device-flow
// tokens, so "token was not issued for this client"): `mcplink logout`
// deletes the local tokens anyway, keeps the client, exits 1 and passes on
// the OP's answer.
func TestZitadelDeviceFlow(t *testing.T) {
	z := startZitadelEnv(t)
	c := newZitadelClient(t, z, map[string]any{"clientId": zitadelDevice, "clientSecret": z.OP.deviceSecret})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cr := zitadelDeviceSignIn(t, z, c)
	// (The example OP records no client for device-flow tokens: its
	// introspection gives no client_id, and its revocation endpoint refuses
	// them as "not issued for this client".)
	if in, err := z.OP.introspect(ctx, cr.Token.AccessToken); err != nil || !in.Active || in.Subject != zitadelUserID {
		t.Fatalf("introspecting the device flow's access token: %+v, %v; want active for %s", in, err, zitadelUserID)
	}
	zitadelWhoami(t, c)

	out, errOut, err := c.run(t, "logout", serverName)
	assertNoSecrets(t, cr, out, errOut)
	if strings.Contains(out+errOut, z.OP.deviceSecret) {
		t.Errorf("mcplink logout printed the client secret")
	}
	if err == nil {
		t.Errorf("mcplink logout succeeded although the OP refused the revocation\nstderr:\n%s", errOut)
	}
	for _, want := range []string{"invalid_client", "token was not issued for this client", "locally"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("mcplink logout's message lacks %q:\n%s", want, errOut)
		}
	}
	left, err := c.loadCreds()
	switch {
	case err != nil:
		t.Fatalf("reading the store after logout: %v", err)
	case left.Token != nil:
		t.Errorf("the tokens are still stored after logout")
	case left.Client == nil || left.Client.ClientID != zitadelDevice || left.Client.ClientSecret != "":
		// A pre-registered client's secret lives in the config, not the store.
		t.Errorf("after logout the stored client is %+v, want %s kept (without its secret)", left.Client, zitadelDevice)
	}
	if in, err := z.OP.introspect(ctx, cr.Token.AccessToken); err != nil || !in.Active {
		t.Errorf("the OP refused the revocation, yet introspection says the token is inactive (%+v, %v): the test no longer exercises a refused revocation", in, err)
	}
}

// TestZitadelRefusedTokenWithoutRefreshToken: the OP forgets every token (it
// restarts; its storage is in memory) while mcplink holds an unexpired
// access token and no refresh token (the example's device client may not
// refresh). `mcplink call` fails saying that the server refused the token
// and how to sign in again, not that the token expired.
func TestZitadelRefusedTokenWithoutRefreshToken(t *testing.T) {
	z := startZitadelEnv(t)
	c := newZitadelClient(t, z, map[string]any{"clientId": zitadelDevice, "clientSecret": z.OP.deviceSecret})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cr := zitadelDeviceSignIn(t, z, c)
	if cr.Token.RefreshToken != "" {
		t.Fatalf("the device client got a refresh token; this test needs a token without one")
	}
	zitadelWhoami(t, c)
	z.OP.restart(t)
	if in, err := z.OP.introspect(ctx, cr.Token.AccessToken); err != nil || in.Active {
		t.Fatalf("after the restart the OP should not know the token: %+v, %v", in, err)
	}
	if time.Until(cr.Token.Expiry) < time.Minute {
		t.Fatalf("the stored token expires at %s; this test needs one that has not expired", cr.Token.Expiry)
	}
	out, errOut, err := c.run(t, "call", serverName, "whoami")
	if err == nil {
		t.Fatalf("mcplink call succeeded with a token the OP no longer knows\nstdout:\n%s", out)
	}
	if !strings.Contains(errOut, "refused the access token") || strings.Contains(errOut, "access token expired") {
		t.Errorf("mcplink call should say that the server refused the (unexpired) access token, not that it expired:\n%s", errOut)
	}
	if !strings.Contains(errOut, "mcplink auth "+serverName) {
		t.Errorf("mcplink call does not say how to sign in again (mcplink auth %s):\n%s", serverName, errOut)
	}
}

// TestZitadelLogoutRevokes: `mcplink logout` revokes at the OP's revocation
// endpoint (RFC 7009) as the public client: afterwards introspection says
// the access token is inactive, the MCP server refuses it, and the refresh
// token is refused.
func TestZitadelLogoutRevokes(t *testing.T) {
	z := startZitadelEnv(t)
	c := newZitadelClient(t, z, map[string]any{"clientId": zitadelNative})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cr, _ := zitadelAuth(t, z, c, false)
	if cr.Token.RefreshToken == "" {
		t.Fatalf("no refresh token stored")
	}
	if in, err := z.OP.introspect(ctx, cr.Token.AccessToken); err != nil || !in.Active {
		t.Fatalf("before logout the access token should be active: %+v, %v", in, err)
	}
	if code, _ := probe(t, z.RS, cr.Token.AccessToken); code != http.StatusOK {
		t.Fatalf("before logout the MCP server answered HTTP %d to the token, want 200", code)
	}

	out, errOut, err := c.run(t, "logout", serverName)
	assertNoSecrets(t, cr, out, errOut)
	if err != nil {
		t.Fatalf("mcplink logout: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	if left, err := c.loadCreds(); err == nil && left.Token != nil {
		t.Errorf("after logout tokens are still stored")
	} else if err != nil && !errors.Is(err, authstore.ErrNotFound) {
		t.Errorf("reading the store after logout: %v", err)
	}
	if in, err := z.OP.introspect(ctx, cr.Token.AccessToken); err != nil || in.Active {
		t.Fatalf("after logout the OP still considers the access token active (%+v, %v): logout did not revoke\nlogout stderr:\n%s", in, err, errOut)
	}
	if code, _ := probe(t, z.RS, cr.Token.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("after logout the MCP server answered HTTP %d to the old token, want 401", code)
	}
	if code := z.OP.tokenCall(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {cr.Token.RefreshToken}}); code != "invalid_grant" {
		t.Fatalf("refreshing with the logged-out refresh token: error %q, want invalid_grant", code)
	}
}
