package proxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
)

// Environment of the test browser (testBrowser), inherited through the
// proxy subprocess.
const (
	// browserDelayEnv makes the browser wait this long (a duration) before
	// loading the page: a user taking their time.
	browserDelayEnv = "MCPLINK_PROXY_TEST_BROWSER_DELAY"
	// browserDropScopeEnv removes this scope from the authorization
	// request: a user unticking it on the consent screen.
	browserDropScopeEnv = "MCPLINK_PROXY_TEST_BROWSER_DROP_SCOPE"
	// browserOnceEnv names a file: the browser completes a sign-in only
	// when it does not exist yet (creating it); later it shows the page and
	// the user walks away.
	browserOnceEnv = "MCPLINK_PROXY_TEST_BROWSER_ONCE"
)

// testBrowser plays the browser $BROWSER opens, following the
// authorization redirects back to the proxy's callback.
func testBrowser(authURL string) int {
	if d, err := time.ParseDuration(os.Getenv(browserDelayEnv)); err == nil {
		time.Sleep(d)
	}
	if once := os.Getenv(browserOnceEnv); once != "" {
		if _, err := os.Stat(once); err == nil {
			return 0
		}
		if err := os.WriteFile(once, nil, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "test browser:", err)
			return 1
		}
	}
	if drop := os.Getenv(browserDropScopeEnv); drop != "" {
		u, err := url.Parse(authURL)
		if err != nil {
			fmt.Fprintln(os.Stderr, "test browser:", err)
			return 1
		}
		q := u.Query()
		q.Set("scope", strings.Join(slices.DeleteFunc(strings.Fields(q.Get("scope")), func(s string) bool { return s == drop }), " "))
		u.RawQuery = q.Encode()
		authURL = u.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := oauthtest.FollowRedirects(ctx, authURL); err != nil {
		fmt.Fprintln(os.Stderr, "test browser:", err)
		return 1
	}
	return 0
}

// freePort returns a loopback port nothing listens on (for --callback-port,
// so that tests running at once do not share the default callback port).
func freePort(t *testing.T) string {
	t.Helper()
	return fmt.Sprint(testenv.FreePort(t))
}

// serveCmd connects a client to the proxy subprocess cmd.
func serveCmd(t *testing.T, cmd *exec.Cmd, stderr *syncBuffer) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "proxy-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 3 * time.Second}, &mcp.ClientSessionOptions{ProtocolVersion: legacy})
	if err != nil {
		t.Fatalf("connecting through the proxy: %v\nproxy stderr:\n%s", err, stderr.String())
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// runWithClient runs the proxy cmd with a client that stays until it
// exits: its stdin is open (stdin's end would stop the proxy at once).
func runWithClient(t *testing.T, cmd *exec.Cmd) error {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	cmd.Stdin = inR
	err = cmd.Run()
	inR.Close()
	return err
}

// storedNames lists the server names in the credentials file of dataDir.
func storedNames(t *testing.T, dataDir string) []string {
	t.Helper()
	var doc struct {
		Servers map[string]json.RawMessage `json:"servers"`
	}
	data, err := os.ReadFile(filepath.Join(dataDir, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range doc.Servers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// TestURLTargetsKeepTheirOwnCredentials: two URLs on one host (here one
// endpoint with and without a query string) get a credential entry each,
// keyed by host and a hash of the URL, so signing in to one does not sign
// the other out; a configured entry with exactly the URL is used as it is,
// credentials included; and credentials an earlier version stored under the
// bare host name are moved, not signed in again.
func TestURLTargetsKeepTheirOwnCredentials(t *testing.T) {
	as, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	data := t.TempDir()
	port := freePort(t)
	a, b := as.MCPURL, as.MCPURL+"?tenant=b"
	run := func(config, target string) *syncBuffer {
		t.Helper()
		cmd, stderr := proxyCmdConfig(t, data, config, target, "--callback-port", port)
		cmd.Env = append(cmd.Env, "MCPLINK_CREDENTIALS_STORE=file")
		cs := serveCmd(t, cmd, stderr)
		if got := callText(t, cs, "echo", map[string]any{"text": target}); got != target {
			t.Fatalf("echo through %s = %q", target, got)
		}
		cs.Close()
		return stderr
	}
	authorizations := func() int { return as.Stats().AuthorizeRequests }
	const noConfig = `{"mcp": {}}`

	run(noConfig, a)
	run(noConfig, b)
	if n := authorizations(); n != 2 {
		t.Fatalf("after proxying %s and %s: %d authorization requests, want 2", a, b, n)
	}
	stderr := run(noConfig, a)
	if n := authorizations(); n != 2 {
		t.Fatalf("proxying %s again: %d authorization requests, want still 2 (its credentials were overwritten)\n%s", a, n, stderr)
	}
	host := strings.ReplaceAll(strings.TrimPrefix(strings.TrimSuffix(as.MCPURL, "/mcp"), "http://"), ":", "-")
	names := storedNames(t, data)
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(host) + `-[0-9a-f]{8}$`)
	if len(names) != 2 || !re.MatchString(names[0]) || !re.MatchString(names[1]) {
		t.Fatalf("stored names %q, want two %s-<8 hex digits>", names, host)
	}

	// A configured entry with exactly this URL: the proxy uses it (and its
	// credentials, from a run by name); the URL's own entry is not touched.
	config := fmt.Sprintf(`{"mcp": {"svc": {"type": "remote", "url": %q}}}`, a)
	run(config, "svc")
	if n := authorizations(); n != 3 {
		t.Fatalf("proxying the configured server svc: %d authorization requests, want 3", n)
	}
	stderr = run(config, a)
	if n := authorizations(); n != 3 {
		t.Fatalf("proxying %s, configured as svc, which is signed in: %d authorization requests, want still 3\n%s", a, n, stderr)
	}
	if !strings.Contains(stderr.String(), `configured as "svc"`) {
		t.Errorf("stderr does not say the configured entry is used:\n%s", stderr)
	}

	// Credentials an earlier version stored under the host name alone.
	raw, err := os.ReadFile(filepath.Join(data, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	servers := doc["servers"].(map[string]any)
	for _, n := range names {
		if c := servers[n].(map[string]any); c["serverUrl"] == b {
			servers[host] = c
			delete(servers, n)
		}
	}
	if raw, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "credentials.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	stderr = run(noConfig, b)
	if n := authorizations(); n != 3 {
		t.Fatalf("proxying %s with credentials under the old name %q: %d authorization requests, want still 3\n%s", b, host, n, stderr)
	}
	if !strings.Contains(stderr.String(), "moved the credentials stored as") {
		t.Errorf("stderr does not report the move:\n%s", stderr)
	}
	if got := storedNames(t, data); slices.Contains(got, host) || len(got) != 3 {
		t.Errorf("stored names after the move: %q", got)
	}
}

// TestProxiesStartedTogetherSignInOnce: two proxies for one server started
// at the same moment (as a client starts its servers) run one browser
// sign-in; the second waits for it, says so, and serves with its
// credentials.
func TestProxiesStartedTogetherSignInOnce(t *testing.T) {
	as, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	data := t.TempDir()
	port := freePort(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var stderrs []string
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd, stderr := proxyCmd(t, data, as.MCPURL, "--callback-port", port)
			// A user who takes a second and a half to finish signing in.
			cmd.Env = append(cmd.Env, browserDelayEnv+"=1500ms")
			cs := serveCmd(t, cmd, stderr)
			text := fmt.Sprintf("proxy %d", i)
			if got := callText(t, cs, "echo", map[string]any{"text": text}); got != text {
				t.Errorf("echo = %q, want %q", got, text)
			}
			cs.Close()
			mu.Lock()
			stderrs = append(stderrs, stderr.String())
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if n := as.Stats().AuthorizeRequests; n != 1 {
		t.Fatalf("%d authorization requests, want 1\n%s", n, strings.Join(stderrs, "\n----\n"))
	}
	all := strings.Join(stderrs, "\n")
	if !strings.Contains(all, "another mcplink is signing in to") || !strings.Contains(all, "another mcplink process signed in; using its credentials") {
		t.Fatalf("no proxy said it waited for the other's sign-in:\n%s", strings.Join(stderrs, "\n----\n"))
	}
}

// TestNoBrowserListsTheAlternatives: when the browser cannot be opened
// ($BROWSER fails, or there is none), the proxy says so on stderr with the
// ways to sign in anyway — the SSH port forward naming the actual callback
// port, --device, and signing in beforehand — instead of waiting silently.
func TestNoBrowserListsTheAlternatives(t *testing.T) {
	as, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		env    []string
		reason string
	}{
		{"failing $BROWSER", []string{"BROWSER=" + exe + " " + failingBrowserFlag}, "failed: exit status 3"},
		{"no browser", []string{"BROWSER=", "DISPLAY=", "WAYLAND_DISPLAY="}, "no $BROWSER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			cmd, stderr := proxyCmd(t, t.TempDir(), as.MCPURL, "--callback-port", port, "--auth-timeout", "2s")
			cmd.Env = append(cmd.Env, tc.env...)
			start := time.Now()
			if err := runWithClient(t, cmd); err == nil {
				t.Fatalf("the proxy served without a sign-in:\n%s", stderr)
			}
			out := stderr.String()
			for _, want := range []string{
				"Open this URL to sign in",
				"could not open a browser (",
				tc.reason,
				fmt.Sprintf("ssh -L %s:127.0.0.1:%s", port, port),
				"--device",
				"mcplink auth NAME",
				"no sign-in to",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("stderr lacks %q:\n%s", want, out)
				}
			}
			if n := strings.Count(out, "could not open a browser"); n != 1 {
				t.Errorf("%d lines about the browser, want 1:\n%s", n, out)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("the proxy took %s to give up with --auth-timeout 2s", d)
			}
		})
	}
}

// TestBusyCallbackPortNamesTheFlags: when another program holds the
// callback port, the error for a URL target names the proxy's flags that
// move it; for a configured server it names the entry's settings.
func TestBusyCallbackPortNamesTheFlags(t *testing.T) {
	as, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	config := fmt.Sprintf(`{"mcp": {"svc": {"type": "remote", "url": %q, "oauth": {"callbackPort": %s}}}}`, as.MCPURL, port)
	for _, tc := range []struct {
		target       string
		want, refuse string
	}{
		{as.MCPURL + "?by=url", "pass --callback-port with a free port (or --redirect-uri) to `mcplink proxy`", "oauth.callbackPort"},
		{"svc", `"oauth.callbackPort" (or "oauth.redirectUri") on the MCP server entry "svc"`, "--callback-port"},
	} {
		args := []string{tc.target, "--auth-timeout", "5s"}
		if tc.target != "svc" {
			args = append(args, "--callback-port", port)
		}
		cmd, stderr := proxyCmdConfig(t, t.TempDir(), config, args...)
		if err := runWithClient(t, cmd); err == nil {
			t.Fatalf("%s: the proxy served with its callback port taken", tc.target)
		}
		out := stderr.String()
		if !strings.Contains(out, "OAuth callback port "+port+" is already in use") || !strings.Contains(out, tc.want) || strings.Contains(out, tc.refuse) {
			t.Errorf("%s: stderr should name %q and not %q:\n%s", tc.target, tc.want, tc.refuse, out)
		}
	}
}

// TestOAuthFlags: the OAuth flags of a URL target reach the authorization
// server: a pre-registered client and its secret (no registration), extra
// scopes, no resource indicator, and the redirect URI.
func TestOAuthFlags(t *testing.T) {
	redirect := "http://127.0.0.1:" + freePort(t) + "/cb"
	as, err := oauthtest.Start(oauthtest.Options{
		Scopes:           []string{"mcp:read", "mcp:write", oauthtest.ScopeOfflineAccess},
		RequiredScope:    "mcp:read",
		DisableDCR:       true,
		ResourceOptional: true,
		PreRegistered:    []oauthtest.Client{{ClientID: "pre", ClientSecret: "s3cret", RedirectURIs: []string{redirect}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	cmd, stderr := proxyCmd(t, t.TempDir(), as.MCPURL, "--client-id", "pre", "--client-secret", "s3cret",
		"--scope", "mcp:write", "--resource", "none", "--redirect-uri", redirect, "--callback-host", "127.0.0.1")
	cs := serveCmd(t, cmd, stderr)
	if got := callText(t, cs, "echo", map[string]any{"text": "flags"}); got != "flags" {
		t.Fatalf("echo = %q", got)
	}
	st := as.Stats()
	scopes := strings.Fields(st.LastAuthorizeScope)
	switch {
	case st.Registrations != 0:
		t.Errorf("%d client registrations, want 0 (--client-id)", st.Registrations)
	case st.LastClientAuthMethod != "client_secret_basic":
		t.Errorf("client authentication %q, want client_secret_basic (--client-secret)", st.LastClientAuthMethod)
	case !slices.Contains(scopes, "mcp:write") || !slices.Contains(scopes, "mcp:read"):
		t.Errorf("requested scopes %q, want mcp:write (--scope) besides mcp:read (the challenge)", st.LastAuthorizeScope)
	case st.LastAuthorizeResource != "" || st.LastTokenResource != "":
		t.Errorf("resource %q / %q sent, want none (--resource none)", st.LastAuthorizeResource, st.LastTokenResource)
	case st.LastRedirectURI != redirect:
		t.Errorf("redirect URI %q, want %q", st.LastRedirectURI, redirect)
	}
}
