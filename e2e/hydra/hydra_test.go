//go:build hydra && unix

package hydra

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// mcpScope is the scope Hydra grants for the MCP server.
const mcpScope = "mcp:read"

func TestMain(m *testing.M) {
	if os.Getenv("HYDRA_BIN") == "" {
		fmt.Fprintln(os.Stderr, "e2e/hydra: HYDRA_BIN is not set; run `make test-hydra` (e2e/hydra/run.sh), which builds Hydra")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// hydra is a running Hydra with its login/consent app.
type hydra struct {
	public, admin string // base URLs
	issuer        string
	log           *boundedBuffer
}

// boundedBuffer keeps the first 64 KiB of Hydra's output for failures.
type boundedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *boundedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := 64<<10 - w.b.Len(); room > 0 {
		w.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (w *boundedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// startHydra runs `hydra serve all --dev` with the in-memory DSN on
// loopback ports, dynamic registration on and advertised (Hydra puts
// registration_endpoint in its discovery document only when
// webfinger.oidc_discovery.client_registration_url is set), mcp:read among
// the supported scopes and in the default client scope, and a
// login/consent app that accepts everything through the admin API.
func startHydra(t *testing.T) *hydra {
	t.Helper()
	pub, adm := testenv.FreePort(t), testenv.FreePort(t)
	h := &hydra{
		public: fmt.Sprintf("http://127.0.0.1:%d", pub),
		admin:  fmt.Sprintf("http://127.0.0.1:%d", adm),
		log:    &boundedBuffer{},
	}
	h.issuer = h.public
	app := httptest(t, h.loginConsent())
	dir := t.TempDir()
	cfg := fmt.Sprintf(`dsn: memory
serve:
  public: {host: 127.0.0.1, port: %d}
  admin: {host: 127.0.0.1, port: %d}
urls:
  self: {issuer: %s}
  login: %s/login
  consent: %s/consent
secrets:
  system: [%s]
oidc:
  dynamic_client_registration:
    enabled: true
    default_scope: [%s, offline_access, offline, openid]
webfinger:
  oidc_discovery:
    supported_scope: [%s]
    client_registration_url: %s/oauth2/register
log:
  level: warn
  leak_sensitive_values: false
`, pub, adm, h.issuer, app, app, rand.Text()+rand.Text(), mcpScope, mcpScope, h.public)
	cfgPath := filepath.Join(dir, "hydra.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Getenv("HYDRA_BIN"), "serve", "all", "--dev", "--sqa-opt-out", "-c", cfgPath)
	cmd.Env = testenv.Env(t, "HOME="+dir, "TMPDIR="+dir) // nothing of the user's environment
	cmd.Stdout, cmd.Stderr = h.log, h.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(h.admin + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("hydra exited: %v\n%s", err, h.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hydra not ready within 60 s\n%s", h.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return h
}

// httptest serves handler on a loopback port for the test's lifetime and
// returns its base URL.
func httptest(t *testing.T, handler http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ErrServerClosed on Close
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// adminJSON calls Hydra's admin API.
func (h *hydra) adminJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.admin+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// loginConsent accepts every login (subject "e2e-user") and grants every
// requested scope and audience.
func (h *hydra) loginConsent() http.Handler {
	mux := http.NewServeMux()
	redirect := func(w http.ResponseWriter, r *http.Request, err error, to string) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, to, http.StatusFound)
	}
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		var out struct {
			RedirectTo string `json:"redirect_to"`
		}
		err := h.adminJSON(r.Context(), http.MethodPut, "/admin/oauth2/auth/requests/login/accept?login_challenge="+url.QueryEscape(r.URL.Query().Get("login_challenge")),
			map[string]any{"subject": "e2e-user"}, &out)
		redirect(w, r, err, out.RedirectTo)
	})
	mux.HandleFunc("GET /consent", func(w http.ResponseWriter, r *http.Request) {
		ch := url.QueryEscape(r.URL.Query().Get("consent_challenge"))
		var req struct {
			Scope    []string `json:"requested_scope"`
			Audience []string `json:"requested_access_token_audience"`
		}
		if err := h.adminJSON(r.Context(), http.MethodGet, "/admin/oauth2/auth/requests/consent?consent_challenge="+ch, nil, &req); err != nil {
			redirect(w, r, err, "")
			return
		}
		var out struct {
			RedirectTo string `json:"redirect_to"`
		}
		err := h.adminJSON(r.Context(), http.MethodPut, "/admin/oauth2/auth/requests/consent/accept?consent_challenge="+ch,
			map[string]any{"grant_scope": req.Scope, "grant_access_token_audience": req.Audience}, &out)
		redirect(w, r, err, out.RedirectTo)
	})
	return mux
}

// introspect asks Hydra about an access token.
func (h *hydra) introspect(ctx context.Context, token string) (active bool, scopes []string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.admin+"/admin/oauth2/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return false, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Active bool   `json:"active"`
		Scope  string `json:"scope"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return false, nil, err
	}
	return out.Active, strings.Fields(out.Scope), nil
}

// clients lists the OAuth clients Hydra knows.
func (h *hydra) clients(t *testing.T) []string {
	t.Helper()
	var cs []struct {
		ID string `json:"client_id"`
	}
	if err := h.adminJSON(context.Background(), http.MethodGet, "/admin/clients", nil, &cs); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

// startMCP serves an MCP server that takes Hydra's access tokens (checked
// by introspection, mcp:read required) and publishes its RFC 9728 metadata.
func startMCP(t *testing.T, h *hydra) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	mcpURL := base + "/mcp"
	server := mcptest.NewServer(mcptest.ServerOptions{Name: "hydra-e2e"})
	verify := func(ctx context.Context, tok string, _ *http.Request) (*auth.TokenInfo, error) {
		active, scopes, err := h.introspect(ctx, tok)
		if err != nil {
			return nil, err
		}
		if !active {
			return nil, fmt.Errorf("%w: inactive", auth.ErrInvalidToken)
		}
		return &auth.TokenInfo{Scopes: scopes, Expiration: time.Now().Add(time.Hour)}, nil
	}
	prmURL := base + "/.well-known/oauth-protected-resource/mcp"
	protect := auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{ResourceMetadataURL: prmURL, Scopes: []string{mcpScope}})
	mux := http.NewServeMux()
	mux.Handle("/mcp", protect(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))
	mux.Handle("/.well-known/oauth-protected-resource/mcp", auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource: mcpURL, AuthorizationServers: []string{h.issuer}, ScopesSupported: []string{mcpScope}, BearerMethodsSupported: []string{"header"},
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ErrServerClosed on Close
	t.Cleanup(func() { srv.Close() })
	return mcpURL
}

// browser follows an authorization URL through Hydra, the login/consent
// app and back to mcplink's loopback callback, keeping Hydra's CSRF
// cookies like a browser.
func browser(ctx context.Context, authURL string) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("browser ended at %s with HTTP %d: %s", resp.Request.URL.Redacted(), resp.StatusCode, body)
	}
	return nil
}

// clock is the engine's clock, advanced to make tokens due for refresh.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// engine is one mcplink "process": an engine on the shared store.
func engine(t *testing.T, dataDir string, clk *clock) *oauth.Engine {
	t.Helper()
	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	reg := callback.New(callback.Options{})
	t.Cleanup(func() { reg.Close() })
	return oauth.New(oauth.Options{Store: store, Callbacks: reg, OpenURL: browser, Now: clk.Now,
		Notify: func(server, msg string) { t.Logf("%s: %s", server, msg) }})
}

// TestHydraSignIn: dynamic registration against Hydra (whose answer has
// "jwks": {}), authorization through login and consent, a token with a
// refresh token (offline_access requested from Hydra's metadata), a tool
// call, a refresh, a second process signing in with the stored
// registration (one client at Hydra), and logout revoking the tokens.
func TestHydraSignIn(t *testing.T) {
	h := startHydra(t)
	mcpURL := startMCP(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dataDir := filepath.Join(t.TempDir(), "data")
	clk := &clock{}
	entry := &config.Entry{Name: "hydra", Type: config.TypeRemote, Enabled: true, URL: mcpURL,
		OAuth: &config.OAuth{CallbackPort: testenv.FreePort(t)}, Source: "e2e", Timeout: 20 * time.Second}

	eng := engine(t, dataDir, clk)
	c1, err := eng.Authenticate(ctx, entry)
	if err != nil {
		t.Fatalf("sign-in: %v\nhydra log:\n%s", err, h.log.String())
	}
	if c1.Client.RegistrationAccessToken == "" || !strings.HasSuffix(c1.Client.RegistrationClientURI, "/"+c1.Client.ClientID) {
		t.Errorf("registration management not stored: uri %q", c1.Client.RegistrationClientURI)
	}
	if c1.Token.RefreshToken == "" || !slices.Contains(strings.Fields(c1.Token.Scope), "offline_access") {
		t.Errorf("no refresh token (scope %q)", c1.Token.Scope)
	}

	m := manager.New(&config.Config{Servers: map[string]*config.Entry{"hydra": entry}}, manager.Options{OAuth: eng})
	defer m.Close()
	st, _ := m.Connect(ctx, "hydra")
	if st.Status != manager.StatusConnected {
		t.Fatalf("connect: %s %s", st.Status, st.Error)
	}
	res, err := m.CallTool(ctx, "hydra", mcptest.ToolEcho, map[string]any{"text": "via hydra"})
	if err != nil || res.IsError {
		t.Fatalf("call: %v %+v", err, res)
	}

	clk.advance(2 * time.Hour)
	tok, err := eng.Token(ctx, entry)
	if err != nil {
		t.Fatalf("refresh at Hydra: %v", err)
	}
	if tok.AccessToken == c1.Token.AccessToken {
		t.Error("the token was not refreshed")
	}
	if active, _, err := h.introspect(ctx, tok.AccessToken); err != nil || !active {
		t.Errorf("refreshed token inactive: %v", err)
	}

	// A second process on the same store signs in again: it reuses the
	// registration.
	eng2 := engine(t, dataDir, clk)
	c2, err := eng2.Authenticate(ctx, entry)
	if err != nil {
		t.Fatal(err)
	}
	if ids := h.clients(t); len(ids) != 1 || c2.Client.ClientID != c1.Client.ClientID || ids[0] != c1.Client.ClientID {
		t.Errorf("clients at Hydra %v, signed in with %q then %q; want one", ids, c1.Client.ClientID, c2.Client.ClientID)
	}

	// Logout revokes at Hydra and keeps the registration.
	if err := eng2.Logout(ctx, "hydra"); err != nil {
		t.Fatal(err)
	}
	if active, _, err := h.introspect(ctx, c2.Token.AccessToken); err != nil || active {
		t.Errorf("access token still active after logout (err %v)", err)
	}
	if ids := h.clients(t); len(ids) != 1 {
		t.Errorf("clients after logout: %v", ids)
	}
}

// TestHydraShapesMatchFixture keeps internal/oauthtest's HydraQuirks true
// to the real Hydra: the registration answer has the same members, with the
// same values for those that broke decoders (jwks, metadata, contacts, …),
// and registration and token errors read the same.
func TestHydraShapesMatchFixture(t *testing.T) {
	h := startHydra(t)
	fx, err := oauthtest.Start(oauthtest.Options{HydraQuirks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fx.Close()
	post := func(u, ctype, body string, basic ...string) (int, map[string]json.RawMessage) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if len(basic) == 2 {
			req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]json.RawMessage
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil {
			t.Fatalf("POST %s: %v", u, err)
		}
		return resp.StatusCode, m
	}
	// Discovery: OpenID only; the members mcplink reads agree.
	get := func(u string) (int, map[string]json.RawMessage) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]json.RawMessage
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m)
		return resp.StatusCode, m
	}
	if st, _ := get(h.public + "/.well-known/oauth-authorization-server"); st != http.StatusNotFound {
		t.Errorf("Hydra's RFC 8414 metadata: HTTP %d; the fixture answers 404", st)
	}
	_, hd := get(h.public + "/.well-known/openid-configuration")
	_, fd := get(fx.IssuerURL + "/.well-known/openid-configuration")
	for _, k := range []string{"code_challenge_methods_supported", "token_endpoint_auth_methods_supported", "grant_types_supported",
		"response_modes_supported", "subject_types_supported", "authorization_response_iss_parameter_supported"} {
		if string(hd[k]) != string(fd[k]) {
			t.Errorf("discovery %s: Hydra %s, fixture %s", k, hd[k], fd[k])
		}
	}
	for _, k := range []string{"registration_endpoint", "revocation_endpoint", "scopes_supported"} {
		if _, ok := hd[k]; !ok {
			t.Errorf("Hydra's discovery lacks %s", k)
		}
	}

	reg := `{"redirect_uris":["http://127.0.0.1:19876/callback"],"token_endpoint_auth_method":"client_secret_basic",
"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"mcplink","application_type":"native"}`
	hs, hm := post(h.public+"/oauth2/register", "application/json", reg)
	fs, fm := post(fx.RegistrationEndpoint(), "application/json", reg)
	if hs != http.StatusCreated || fs != hs {
		t.Fatalf("registration status: hydra %d, fixture %d", hs, fs)
	}
	var sdk oauthex.ClientRegistrationResponse
	if data, _ := json.Marshal(hm); json.Unmarshal(data, &sdk) == nil {
		t.Error("go-sdk's ClientRegistrationResponse decodes Hydra's answer now; the tolerant decoder's reason may be gone")
	}
	for k := range hm {
		if _, ok := fm[k]; !ok {
			t.Errorf("Hydra's registration answer has %q (%s), the fixture's not", k, hm[k])
		}
	}
	for k := range fm {
		if _, ok := hm[k]; !ok {
			t.Errorf("the fixture's registration answer has %q, Hydra's not", k)
		}
	}
	for _, k := range []string{"jwks", "metadata", "contacts", "audience", "allowed_cors_origins", "client_secret_expires_at",
		"subject_type", "token_endpoint_auth_method", "skip_consent", "skip_logout_consent", "scope", "owner", "userinfo_signed_response_alg"} {
		if k == "scope" {
			continue // Hydra's default client scope is configured here (mcp:read added)
		}
		if string(hm[k]) != string(fm[k]) {
			t.Errorf("%s: Hydra %s, fixture %s", k, hm[k], fm[k])
		}
	}

	// Registration refused for its content.
	bad := `{"redirect_uris":["http://127.0.0.1:1/cb"],"metadata":{"x":1}}`
	hs, hm = post(h.public+"/oauth2/register", "application/json", bad)
	var code, desc string
	_ = json.Unmarshal(hm["error"], &code)
	_ = json.Unmarshal(hm["error_description"], &desc)
	if hs != http.StatusBadRequest || code != "invalid_client_metadata" || !strings.HasPrefix(desc, "The value of one of the Client Metadata fields is invalid") {
		t.Errorf("Hydra's registration refusal: %d %s %q", hs, code, desc)
	}

	// Token error for a wrong code, with the client registered above.
	var id, secret string
	reg2, _ := json.Marshal(map[string]any{"redirect_uris": []string{"http://127.0.0.1:19876/callback"}, "token_endpoint_auth_method": "client_secret_basic"})
	_, hm = post(h.public+"/oauth2/register", "application/json", string(reg2))
	_ = json.Unmarshal(hm["client_id"], &id)
	_ = json.Unmarshal(hm["client_secret"], &secret)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "redirect_uri": {"http://127.0.0.1:19876/callback"}}.Encode()
	hs, hm = post(h.public+"/oauth2/token", "application/x-www-form-urlencoded", form, id, secret)
	code, desc = "", ""
	_ = json.Unmarshal(hm["error"], &code)
	_ = json.Unmarshal(hm["error_description"], &desc)
	if hs != http.StatusBadRequest || code != "invalid_grant" || !strings.HasPrefix(desc, "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid") {
		t.Errorf("Hydra's token error: %d %s %q", hs, code, desc)
	}
}
