package fix

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// TestMessages pins each surface's sentence for each typed error: the
// library's problem, then the fix for where it is shown.
func TestMessages(t *testing.T) {
	busy := &callback.PortInUseError{Port: 19876, Addr: "127.0.0.1:19876", Server: "notion", ConfigFile: "./mcplink.json"}
	other := &callback.PortInUseError{Port: 19876, Server: "notion", OtherMcplink: true, PID: 42}
	reg := &oauth.ClientRegistrationError{Server: "svc", ConfigFile: "/c/mcplink.json", Issuer: "https://as", Reason: "no registration_endpoint"}
	needs := &oauth.NeedsAuthError{Server: "jira", Reason: "no stored token"}
	for _, c := range []struct {
		err  error
		s    Surface
		want string
	}{
		{busy, CLI, `OAuth callback port 19876 is already in use by another process: set "oauth.callbackPort" (or "oauth.redirectUri") on the MCP server entry "notion" in ./mcplink.json to use a different port`},
		{fmt.Errorf("signing in: %w", busy), Proxy, `signing in: OAuth callback port 19876 is already in use by another process: set "oauth.callbackPort" (or "oauth.redirectUri") on the MCP server entry "notion" in ./mcplink.json to use a different port`},
		{busy, ProxyFlags, "OAuth callback port 19876 is already in use by another process: pass --callback-port with a free port (or --redirect-uri) to `mcplink proxy`"},
		{other, TUI, `OAuth callback port 19876 is still held by another mcplink process (pid 42) finishing its own sign-in: wait for it to finish and retry, or set "oauth.callbackPort" (or "oauth.redirectUri") on the MCP server entry "notion" in the mcplink config file to use a different port`},
		{&callback.ListenError{Addr: "[::1]:1", Server: "s", Err: errors.New("denied")}, ProxyFlags, "cannot listen on [::1]:1 for the OAuth callback: denied: pass --callback-port with a free port (or --redirect-uri) to `mcplink proxy`"},
		{reg, API, "authorization server https://as does not support dynamic client registration (no registration_endpoint): register a client with the provider and add it to the MCP server entry \"svc\" in /c/mcplink.json:\n  \"oauth\": {\"clientId\": \"<client id>\", \"clientSecret\": \"<client secret, if any>\"}"},
		{reg, ProxyFlags, "authorization server https://as does not support dynamic client registration (no registration_endpoint): register a client with the provider and pass it to `mcplink proxy` with --client-id (and --client-secret, if it has one)"},
		{needs, CLI, "MCP server \"jira\" needs authorization (no stored token): run `mcplink auth jira`"},
		{needs, Proxy, `MCP server "jira" needs authorization (no stored token)`},
		{&oauth.BrakeError{Server: "srv", Count: 5}, CLI, "run `mcplink debug srv`"},
		{&oauth.BrakeError{Server: "srv", Refresh: true}, CLI, "check the server's configuration with its admin, or run `mcplink debug srv`"},
		{&oauth.FreshTokenRefusedError{Server: "srv"}, CLI, "check the server's scope requirements with its admin, or run `mcplink debug srv`"},
		{&manager.HeaderRefusedError{Server: "h", Status: 401, Headers: []string{"Authorization"}}, CLI, "remove it to let mcplink sign in with OAuth: run `mcplink auth h`"},
		{&manager.HeaderRefusedError{Server: "h", Status: 401, Headers: []string{"Authorization"}, OAuthDisabled: true}, CLI, `(and remove "oauth": false)`},
		{&manager.TimeoutError{Server: "h", Timeout: time.Second, ConfigFile: "/c/mcplink.json"}, CLITimeout, `no response within 1s: raise "timeout" (in milliseconds) on the MCP server entry "h" in /c/mcplink.json, or pass --timeout`},
		{&manager.TimeoutError{Server: "h", Timeout: time.Second, Override: true}, CLITimeout, "no response within 1s: pass a longer --timeout"},
		{&manager.TimeoutError{Server: "h", Timeout: time.Second, ConfigFile: "/c/mcplink.json"}, CLI, `no response within 1s: raise "timeout" (in milliseconds) on the MCP server entry "h" in /c/mcplink.json`},
		{&manager.TimeoutError{Server: "h", Timeout: time.Second, ConfigFile: "/c/mcplink.json"}, API, `no response within 1s: raise "timeout" (in milliseconds) on the MCP server entry "h" in /c/mcplink.json`},
		{&manager.TimeoutError{Server: "h", Timeout: time.Second, Override: true}, TUI, `no response within 1s: this mcplink gives every server 1s to answer, whatever its "timeout"`},
		{errors.New("plain"), CLI, "plain"},
	} {
		got := Message(c.err, c.s)
		if !strings.HasSuffix(got, c.want) {
			t.Errorf("Message(%T, %d):\n got %s\nwant …%s", c.err, c.s, got, c.want)
		}
	}
}

// TestWrap keeps the error's identity and adds the fix once, however often
// a surface words it again.
func TestWrap(t *testing.T) {
	busy := &callback.PortInUseError{Port: 1, Server: "a"}
	w := Wrap(busy, ProxyFlags)
	var pe *callback.PortInUseError
	if !errors.As(w, &pe) || pe != busy {
		t.Fatalf("Wrap lost the error: %v", w)
	}
	outer := fmt.Errorf("signing in to a: %w", w)
	if got := Message(outer, CLI); got != outer.Error() || strings.Count(got, "--callback-port") != 1 {
		t.Errorf("Message of a wrapped error = %s", got)
	}
	if plain := errors.New("x"); Wrap(plain, CLI) != plain || Wrap(nil, CLI) != nil {
		t.Error("Wrap changed an error without a fix")
	}
}

// TestState adds the fix for State.Err to State.Error.
func TestState(t *testing.T) {
	st := manager.State{Name: "jira", Status: manager.StatusNeedsAuth, Error: "server answered 401 Unauthorized", Err: &oauth.NeedsAuthError{Server: "jira"}}
	if got, want := State(st, CLI), "server answered 401 Unauthorized: run `mcplink auth jira`"; got != want {
		t.Errorf("State = %q, want %q", got, want)
	}
	if State(manager.State{}, CLI) != "" {
		t.Error("State of no error is not empty")
	}
}

// TestNoFlagsOffTheCommandLine: the fix the TUI and the API show for a
// timeout names no command-line flag (their users cannot pass one).
func TestNoFlagsOffTheCommandLine(t *testing.T) {
	for _, te := range []*manager.TimeoutError{{Server: "h", Timeout: time.Second}, {Server: "h", Timeout: time.Second, Override: true}} {
		for _, s := range []Surface{TUI, API, Proxy} {
			if got := Message(te, s); strings.Contains(got, "--") || got == te.Error() {
				t.Errorf("Message(%+v, %d) = %q, want a fix without a flag", te, s, got)
			}
		}
	}
}
