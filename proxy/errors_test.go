package proxy_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/oauth"
)

const initLine = `{"jsonrpc":"2.0","id":%q,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// initialize sends an initialize request with id and returns the error
// message of the answer (failing when it is not an error).
func (r *rawProxy) initializeError(t *testing.T, id string) string {
	t.Helper()
	r.send(t, strings.Replace(initLine, "%q", `"`+id+`"`, 1))
	m := r.recv(t)
	e, _ := m["error"].(map[string]any)
	if m["id"] != id || e == nil {
		t.Fatalf("answer to initialize %s = %v, want an error\n%s", id, m, r.stderr)
	}
	msg, _ := e["message"].(string)
	return msg
}

// statusServer answers every request with status.
func statusServer(t *testing.T, status int) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "nope", status)
	}))
	t.Cleanup(s.Close)
	return s.URL + "/mcp"
}

// TestFailuresNameTheCause: a request the proxy cannot forward gets a
// JSON-RPC error that says what went wrong and what to do, telling a
// server that cannot be reached from one that refuses the credentials
// (401), refuses access (403), answers with an error, or asks for scopes
// the sign-in does not grant — and a sign-in loop stopped by the brake.
func TestFailuresNameTheCause(t *testing.T) {
	hdr, err := mcptest.StartHTTP(mcptest.HTTPOptions{RequireAuthorization: "Bearer s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hdr.Close)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"401 with a header", []string{hdr.URL, "--header", "Authorization: Bearer wrong"},
			[]string{"refused the credentials (HTTP 401 Unauthorized)", "check the Authorization header given with --header"}},
		{"403 with a header", []string{statusServer(t, http.StatusForbidden), "--header", "Authorization: Bearer x"},
			[]string{"refused access (HTTP 403 Forbidden)", "use other credentials"}},
		{"403 with OAuth", []string{statusServer(t, http.StatusForbidden)},
			[]string{"refused access (HTTP 403 Forbidden): the signed-in account is not allowed", "mcplink logout"}},
		{"500", []string{statusServer(t, http.StatusInternalServerError), "--header", "Authorization: Bearer x"},
			[]string{"answered HTTP 500 Internal Server Error", "nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRaw(t, tc.args...)
			msg := r.initializeError(t, "i1")
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error message %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "could not be reached") {
				t.Errorf("error message %q says the server could not be reached", msg)
			}
		})
	}
}

// TestUnreachable: a server that goes away mid-session "could not be
// reached".
func TestUnreachable(t *testing.T) {
	s, err := mcptest.StartHTTP(mcptest.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := startRaw(t, s.URL, "--transport", "http-only")
	r.send(t, strings.Replace(initLine, "%q", `"i1"`, 1))
	if m := r.recv(t); m["result"] == nil {
		t.Fatalf("initialize = %v\n%s", m, r.stderr)
	}
	s.Close()
	r.send(t, `{"jsonrpc":"2.0","id":"t1","method":"tools/list"}`)
	m := r.recv(t)
	e, _ := m["error"].(map[string]any)
	msg, _ := e["message"].(string)
	if m["id"] != "t1" || !strings.Contains(msg, "the remote server could not be reached") {
		t.Fatalf("answer to tools/list with the server gone = %v\n%s", m, r.stderr)
	}
}

// TestScopeFailuresAndSignInLoop: a server that requires a scope the user
// never grants. The sign-in before serving gets a token without it, and so
// do the step-up sign-ins of the first request (insufficient scope); soon
// a loop brake of the oauth package stops signing in, and the request says
// so instead of opening the browser again and again.
func TestScopeFailuresAndSignInLoop(t *testing.T) {
	as, err := oauthtest.Start(oauthtest.Options{
		Scopes:        []string{"mcp:read", "mcp:admin", oauthtest.ScopeOfflineAccess},
		RequiredScope: "mcp:admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	r := startRawEnv(t, []string{browserDropScopeEnv + "=mcp:admin"}, as.MCPURL, "--callback-port", freePort(t))
	msg := r.initializeError(t, "i1")
	if !strings.Contains(msg, "requires scopes the sign-in did not grant (HTTP 403 insufficient_scope)") && !strings.Contains(msg, "to avoid a sign-in loop") {
		t.Errorf("first error %q names neither the missing scope nor the loop brake", msg)
	}
	stopped := false
	for i := 2; i <= 6 && !stopped; i++ {
		msg = r.initializeError(t, fmt.Sprintf("i%d", i))
		if strings.Contains(msg, "could not be reached") || !strings.Contains(msg, "HTTP 403") && !strings.Contains(msg, "sign-in") {
			t.Fatalf("error %d: %q", i, msg)
		}
		stopped = strings.Contains(msg, "to avoid a sign-in loop") && strings.Contains(msg, "retry the request later") || strings.Contains(msg, "a new sign-in would not help")
	}
	if !stopped {
		t.Fatalf("no request said the sign-in loop was stopped; last error %q\n%s", msg, r.stderr)
	}
	if n := as.Stats().AuthorizeRequests; n > oauth.MaxAttemptsPerWindow {
		t.Errorf("%d authorization requests, want at most %d (the brake's limit)", n, oauth.MaxAttemptsPerWindow)
	}
}

// TestSignInTimeoutMidSession: when the credentials stop working and the
// new sign-in is not finished within --auth-timeout, the request gets an
// error saying so (and how to start again), not "could not be reached".
func TestSignInTimeoutMidSession(t *testing.T) {
	as, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	once := filepath.Join(t.TempDir(), "signed-in-once")
	r := startRawEnv(t, []string{browserOnceEnv + "=" + once}, as.MCPURL, "--callback-port", freePort(t), "--auth-timeout", "2s")
	r.send(t, strings.Replace(initLine, "%q", `"i1"`, 1))
	if m := r.recv(t); m["result"] == nil {
		t.Fatalf("initialize = %v\n%s", m, r.stderr)
	}
	if _, err := os.Stat(once); err != nil {
		t.Fatal("the browser never signed in")
	}
	as.RevokeAll()
	start := time.Now()
	msg := r.initializeError(t, "i2")
	for _, w := range []string{"no sign-in to", "completed within 2s (--auth-timeout)", "retry the request"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q lacks %q", msg, w)
		}
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("answered after %s, before --auth-timeout", d)
	}
}
