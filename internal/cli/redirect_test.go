package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/internal/testenv"
)

// Secrets of the redirect tests: the stored access token and a configured
// header. Neither may reach another origin.
const (
	redirToken  = "tok-redirect-5b7e"
	redirAPIKey = "key-redirect-c41d"
)

// reqLog records every request a test server received.
type reqLog struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (l *reqLog) add(r *http.Request) {
	l.mu.Lock()
	l.reqs = append(l.reqs, r.Clone(context.Background()))
	l.mu.Unlock()
}

func (l *reqLog) snapshot() []*http.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*http.Request(nil), l.reqs...)
}

// leaks lists the credentials in l's requests.
func (l *reqLog) leaks() []string {
	var out []string
	for _, r := range l.snapshot() {
		for k, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, redirToken) || strings.Contains(v, redirAPIKey) ||
					strings.EqualFold(k, "Authorization") || strings.EqualFold(k, "DPoP") || strings.EqualFold(k, "Mcp-Session-Id") {
					out = append(out, fmt.Sprintf("%s %s: %s: %s", r.Method, r.URL, k, v))
				}
			}
		}
	}
	return out
}

// redirectEnv runs the real mcplink binary (this test binary) against a
// configured server "s0" at front (with a configured X-Api-Key header and a
// valid token stored for its URL), in an environment built from scratch.
type redirectEnv struct{ binEnv }

func newRedirectEnv(t *testing.T, serverURL string) *redirectEnv {
	t.Helper()
	dir := t.TempDir()
	port := testenv.FreePort(t)
	cfg := filepath.Join(dir, "mcplink.json")
	entry := fmt.Sprintf(`{"mcp": {"s0": {"type": "remote", "url": %q, "timeout": 10000, "headers": {"X-Api-Key": %q}, "oauth": {"callbackPort": %d}}}}`, serverURL, redirAPIKey, port)
	if err := os.WriteFile(cfg, []byte(entry), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: filepath.Join(dir, ".data", "mcplink")})
	if err != nil {
		t.Fatal(err)
	}
	err = store.Update(t.Context(), "s0", func(*authstore.Credentials) (*authstore.Credentials, error) {
		return &authstore.Credentials{ServerURL: serverURL, Token: &authstore.Token{
			AccessToken: redirToken, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour), IssuedAt: time.Now()}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// PATH: testscript's directory holding this binary as mcplink.
	return &redirectEnv{binEnv{dir: dir, env: homeEnv(t, dir,
		"XDG_STATE_HOME="+filepath.Join(dir, ".state"), "XDG_CACHE_HOME="+filepath.Join(dir, ".cache"),
		"MCPLINK_CONFIG="+cfg,
	)}}
}

func (d *redirectEnv) run(t *testing.T, stdin io.Reader, args ...string) (string, string) {
	t.Helper()
	out, errb, _ := d.runIn(t, stdin, args...) // these commands fail: the server is not where it is configured
	return out, errb
}

// proxy runs `mcplink proxy s0`, sends an initialize request and returns
// the proxy's answer.
func (d *redirectEnv) proxy(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := d.cmd(ctx, "proxy", "--no-browser", "--auth-timeout", "3s", "s0")
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(in, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	line, err := bufio.NewReader(out).ReadString('\n')
	in.Close()
	_ = c.Wait()
	if err != nil {
		t.Fatalf("no answer from the proxy: %v; stderr:\n%s", err, errb.String())
	}
	return line
}

// TestCrossOriginRedirectEveryPath: the configured server answers every
// request with a redirect to another origin (another port of 127.0.0.1)
// that records what it receives — with 307, with 308, and (for the SSE
// fallback, whose event stream is a GET) with 405 to POSTs and a 307 to
// the GET, and with a 401 naming protected resource metadata that
// redirects (discovery). Through list, tools, call, debug (with its discovery) and the
// proxy with a stored token, the other origin never gets the token, the
// configured header, a DPoP proof or the session, while the configured
// origin does get the token and the header; POSTs are refused with an
// error naming both URLs.
func TestCrossOriginRedirectEveryPath(t *testing.T) {
	for _, mode := range []string{"307", "308", "sse", "prm"} {
		t.Run(mode, func(t *testing.T) {
			var other, home reqLog
			b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				other.add(r)
				http.NotFound(w, r)
			}))
			defer b.Close()
			a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				home.add(r)
				_, _ = io.Copy(io.Discard, r.Body)
				switch {
				case mode == "308":
					http.Redirect(w, r, b.URL+r.URL.Path, http.StatusPermanentRedirect)
				case mode == "sse" && r.Method == http.MethodPost:
					w.WriteHeader(http.StatusMethodNotAllowed)
				case mode == "prm" && r.Method == http.MethodPost:
					// The token is refused; the metadata it names has moved.
					w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", resource_metadata="http://`+r.Host+`/.well-known/oauth-protected-resource/mcp"`)
					w.WriteHeader(http.StatusUnauthorized)
				default:
					http.Redirect(w, r, b.URL+r.URL.Path, http.StatusTemporaryRedirect)
				}
			}))
			defer a.Close()
			d := newRedirectEnv(t, a.URL+"/mcp")

			for _, args := range [][]string{{"list"}, {"tools", "s0"}, {"call", "s0", "echo", "text=hi"}, {"debug", "s0"}} {
				out, errOut := d.run(t, nil, args...)
				t.Logf("mcplink %s:\n%s%s", strings.Join(args, " "), out, errOut)
				if mode == "307" && args[0] == "list" && !strings.Contains(out+errOut, "refusing the redirect from "+a.URL+"/mcp to "+b.URL+"/mcp") {
					t.Errorf("mcplink list: the error does not name both URLs:\n%s%s", out, errOut)
				}
				if strings.Contains(out+errOut, redirToken) {
					t.Errorf("mcplink %s printed the token", args[0])
				}
			}
			answer := d.proxy(t)
			t.Logf("proxy: %s", answer)
			if !strings.Contains(answer, `"error"`) {
				t.Errorf("proxy answered %s, want a JSON-RPC error", answer)
			}
			if (mode == "307" || mode == "308") && !strings.Contains(answer, b.URL) {
				t.Errorf("proxy error %s does not name the redirect target", answer)
			}

			if l := other.leaks(); len(l) > 0 {
				t.Errorf("the other origin received credentials:\n%s", strings.Join(l, "\n"))
			}
			gets := 0
			for _, r := range other.snapshot() {
				if r.Method == http.MethodPost {
					t.Errorf("a POST reached the other origin: %s", r.URL)
				}
				gets++
			}
			if gets == 0 && (mode == "sse" || mode == "prm") {
				t.Errorf("the other origin got no request: a GET (discovery metadata, SSE stream) should be followed there")
			}
			withToken, withKey := 0, 0
			for _, r := range home.snapshot() {
				if r.Header.Get("Authorization") == "Bearer "+redirToken {
					withToken++
				}
				if r.Header.Get("X-Api-Key") == redirAPIKey {
					withKey++
				}
			}
			if withToken == 0 || withKey == 0 {
				t.Errorf("the configured origin got the token %d times and the header %d times; want both", withToken, withKey)
			}
		})
	}
}
