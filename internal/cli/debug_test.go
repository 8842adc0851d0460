package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
)

// debugEnv runs the real mcplink binary (this test binary, on the $PATH
// testscript.Main sets up) with its own config, home and file store.
type debugEnv struct{ binEnv }

func newDebugEnv(t *testing.T, serverURL string) *debugEnv {
	t.Helper()
	dir := t.TempDir()
	port := testenv.FreePort(t)
	cfg := filepath.Join(dir, "mcplink.json")
	entry := fmt.Sprintf(`{"mcp": {"s0": {"type": "remote", "url": %q, "headers": {"X-Debug-Check": "on"}, "oauth": {"callbackPort": %d}}}}`, serverURL, port)
	if err := os.WriteFile(cfg, []byte(entry), 0o600); err != nil {
		t.Fatal(err)
	}
	return &debugEnv{binEnv{dir: dir, env: homeEnv(t, dir,
		"MCPLINK_CONFIG="+cfg, "BROWSER=follow-redirects", "DISPLAY=", "WAYLAND_DISPLAY=")}}
}

// secrets returns the stored access and refresh tokens of s0.
func (d *debugEnv) secrets(t *testing.T) []string {
	t.Helper()
	st, err := authstore.NewFileStore(authstore.FileOptions{Dir: filepath.Join(d.dir, ".data", "mcplink")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.Load(t.Context(), "s0")
	if err != nil || c.Token == nil || c.Token.AccessToken == "" || c.Token.RefreshToken == "" {
		t.Fatalf("stored credentials of s0: %+v, %v", c, err)
	}
	return []string{c.Token.AccessToken, c.Token.RefreshToken}
}

// TestDebugTriesStoredToken: with a token stored, debug sends one initialize
// request with it and shows the answer: 200 while the server accepts it,
// then 403 insufficient_scope with the scope the server requires once it
// requires one the token lacks. The token is never printed.
func TestDebugTriesStoredToken(t *testing.T) {
	as, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	d := newDebugEnv(t, as.MCPURL)

	// Nothing stored: no request with a token.
	out, stderr, err := d.run(t, "debug", "s0")
	if err != nil || strings.Contains(out, "Request with the stored token") {
		t.Fatalf("debug without a token: %v\n%s%s", err, out, stderr)
	}

	if out, stderr, err := d.run(t, "auth", "s0"); err != nil {
		t.Fatalf("auth: %v\n%s%s", err, out, stderr)
	}
	secrets := d.secrets(t)
	noSecrets := func(what, s string) {
		t.Helper()
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Fatalf("%s prints a stored token:\n%s", what, s)
			}
		}
	}

	before := as.Stats().MCPRequests
	out, stderr, err = d.run(t, "debug", "s0")
	if err != nil {
		t.Fatalf("debug: %v\n%s%s", err, out, stderr)
	}
	noSecrets("debug", out+stderr)
	for _, re := range []string{
		`(?m)^Request with the stored token:$`,
		`(?m)^  request: +POST ` + regexp.QuoteMeta(as.MCPURL) + ` \(MCP initialize; Authorization: Bearer <stored token>; the configured headers\)$`,
		`(?m)^  status: +200 OK \(the server accepts the stored token\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Fatalf("debug output lacks %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "WWW-Authenticate:") {
		t.Fatalf("a 200 shows a challenge:\n%s", out)
	}
	// The initialize and the DELETE ending its session passed the token check.
	if n := as.Stats().MCPRequests - before; n < 2 {
		t.Fatalf("the MCP server saw %d authorized requests, want the initialize and its session's DELETE", n)
	}

	// The server now requires a scope the token lacks.
	as.SetRequiredScope("mcp:admin")
	out, stderr, err = d.run(t, "debug", "s0")
	if err != nil {
		t.Fatalf("debug: %v\n%s%s", err, out, stderr)
	}
	noSecrets("debug", out+stderr)
	for _, re := range []string{
		`(?m)^  status: +403 Forbidden `,
		`(?m)^  WWW-Authenticate: +Bearer .*error="insufficient_scope"`,
		`(?m)^  error: +insufficient_scope$`,
		`(?m)^  scope: +mcp:admin$`,
		`(?m)^  granted: +mcp:read mcp:write offline_access$`,
		`(?m)^  error_description: +the access token lacks scope mcp:admin$`,
		`(?m)^  → the token lacks mcp:admin: sign in again with ` + "`mcplink auth s0`",
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Fatalf("debug output lacks %s:\n%s", re, out)
		}
	}
	// The unauthenticated probe still comes first, with its 401.
	if !strings.Contains(out, "probe") || strings.Index(out, "Request with the stored token") < strings.Index(out, "Stored credentials:") {
		t.Fatalf("steps out of order:\n%s", out)
	}
}
