package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/internal/oauthtest"
)

// listEntry is one server of `mcplink list --json`.
type listEntry struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Error  string `json:"error"`
	Auth   *struct {
		State          string   `json:"state"`
		Scopes         []string `json:"scopes"`
		RequiredScopes []string `json:"requiredScopes"`
	} `json:"auth"`
}

func listJSON(t *testing.T, a *authEnv) map[string]listEntry {
	t.Helper()
	out, stderr, _ := a.run(t, "list", "--json")
	var list []listEntry
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("list --json: %v\n%s%s", err, out, stderr)
	}
	m := map[string]listEntry{}
	for _, e := range list {
		m[e.Name] = e
	}
	return m
}

// TestStepUpThroughCLI: the server's 401 challenge names mcp:read, but once
// signed in its requests need mcp:read mcp:write (403 insufficient_scope).
// `list` says so and names the scopes, `call` keeps the reason, and `auth`
// requests the union of the challenged, granted and required scopes, after
// which the server is connected and the call works.
func TestStepUpThroughCLI(t *testing.T) {
	s := startAuthAS(t, oauthtest.Options{ChallengeScope: "mcp:read"})
	a := newAuthEnv(t, "follow-redirects", s.MCPURL)

	out, stderr, err := a.run(t, "auth", "s0")
	if err != nil || !strings.Contains(out, "✓ s0: authenticated; connected") {
		t.Fatalf("first sign-in: %v\n%s%s", err, out, stderr)
	}
	if got := s.Stats().LastAuthorizeScope; got != "mcp:read offline_access" {
		t.Fatalf("first sign-in requested %q, want the challenged scope plus offline_access", got)
	}

	// The tools now need mcp:write too.
	s.SetRequiredScope("mcp:read mcp:write")
	l := listJSON(t, a)["s0"]
	if l.Status != "needs_auth" || !strings.Contains(l.Error, "mcp:read mcp:write") || !strings.Contains(l.Error, "mcplink auth s0") {
		t.Fatalf("list: status %q error %q; want needs_auth naming the scopes and the fix", l.Status, l.Error)
	}
	if l.Auth == nil || strings.Join(l.Auth.RequiredScopes, " ") != "mcp:write" {
		t.Errorf("list: auth %+v; want requiredScopes [mcp:write]", l.Auth)
	}
	_, stderr, err = a.run(t, "call", "s0", "whoami")
	if err == nil || !strings.Contains(stderr, "requires more scopes (mcp:read mcp:write)") || !strings.Contains(stderr, "mcplink auth s0") {
		t.Fatalf("call: err %v; stderr lacks the reason or the fix:\n%s", err, stderr)
	}

	before := s.Stats().AuthorizeRequests
	out, stderr, err = a.run(t, "auth", "s0")
	if err != nil || !strings.Contains(out, "✓ s0: authenticated; connected") {
		t.Fatalf("step-up sign-in: %v\n%s%s", err, out, stderr)
	}
	st := s.Stats()
	if st.AuthorizeRequests != before+1 {
		t.Errorf("step-up sign-in made %d authorization requests, want 1", st.AuthorizeRequests-before)
	}
	if got := strings.Fields(st.LastAuthorizeScope); !sameSet(got, []string{"mcp:read", "mcp:write", "offline_access"}) {
		t.Errorf("step-up sign-in requested %q, want mcp:read mcp:write offline_access", st.LastAuthorizeScope)
	}
	out, stderr, err = a.run(t, "call", "s0", "whoami")
	if err != nil || !strings.Contains(out, "mcp:write") {
		t.Fatalf("call after step-up: %v\n%s%s", err, out, stderr)
	}
	if l := listJSON(t, a)["s0"]; l.Status != "connected" || l.Auth == nil || len(l.Auth.RequiredScopes) != 0 {
		t.Errorf("after step-up: %+v; want connected with no required scopes left", l)
	}

	// Logout forgets the required scopes with the tokens.
	s.SetRequiredScope("mcp:admin")
	if l := listJSON(t, a)["s0"]; l.Auth == nil || strings.Join(l.Auth.RequiredScopes, " ") != "mcp:admin" {
		t.Fatalf("after a 403 for mcp:admin: auth %+v; want requiredScopes [mcp:admin]", l.Auth)
	}
	if _, stderr, err := a.run(t, "logout", "s0", "--local-only"); err != nil {
		t.Fatalf("logout: %v\n%s", err, stderr)
	}
	if l := listJSON(t, a)["s0"]; l.Auth == nil || l.Auth.State != "not_authenticated" || len(l.Auth.RequiredScopes) != 0 {
		t.Errorf("after logout: auth %+v; want not_authenticated without required scopes", l.Auth)
	}
}

// TestStepUpDuringAuth: the sign-in scope (401 challenge) is narrower than
// what the server needs from the start. One `mcplink auth` signs in, sees
// the 403 while connecting, and signs in once more with the union.
func TestStepUpDuringAuth(t *testing.T) {
	s := startAuthAS(t, oauthtest.Options{ChallengeScope: "mcp:read", RequiredScope: "mcp:read mcp:write"})
	a := newAuthEnv(t, "follow-redirects", s.MCPURL)
	out, stderr, err := a.run(t, "auth", "s0")
	if err != nil || !strings.Contains(out, "✓ s0: authenticated; connected") {
		t.Fatalf("auth: %v\n%s%s", err, out, stderr)
	}
	if !strings.Contains(stderr, "requires more scopes (mcp:write); signing in again") {
		t.Errorf("auth did not say why it signs in again:\n%s", stderr)
	}
	st := s.Stats()
	if st.AuthorizeRequests != 2 || !sameSet(strings.Fields(st.LastAuthorizeScope), []string{"mcp:read", "mcp:write", "offline_access"}) {
		t.Errorf("%d authorization requests, last scope %q; want 2, the last for mcp:read mcp:write offline_access", st.AuthorizeRequests, st.LastAuthorizeScope)
	}
	if out, stderr, err := a.run(t, "call", "s0", "whoami"); err != nil || !strings.Contains(out, "mcp:write") {
		t.Fatalf("call: %v\n%s%s", err, out, stderr)
	}
}

// TestStepUpDuringAuthGivesUp: an authorization server that never grants
// what the server requires: `auth` signs in twice at most and reports the
// failure with the reason.
func TestStepUpDuringAuthGivesUp(t *testing.T) {
	s := startAuthAS(t, oauthtest.Options{Scopes: []string{"mcp:read", "offline_access"}, ChallengeScope: "mcp:read", RequiredScope: "mcp:read mcp:admin"})
	a := newAuthEnv(t, "follow-redirects", s.MCPURL)
	out, stderr, err := a.run(t, "auth", "s0")
	if err == nil || !strings.Contains(stderr, "s0") || strings.Contains(out, "connected,") {
		t.Fatalf("auth: %v\n%s%s", err, out, stderr)
	}
	if n := s.Stats().AuthorizeRequests; n > 2 {
		t.Errorf("%d authorization requests, want at most 2", n)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !strings.Contains(" "+strings.Join(b, " ")+" ", " "+x+" ") {
			return false
		}
	}
	return true
}
