package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
)

// TestPickersInTmux runs `mcplink logout` and `mcplink auth` without a server
// name in a real terminal (tmux): each asks which server, like `opencode mcp
// auth`, and acts on the one chosen. The mcplink here is this test binary
// (TestMain runs it as mcplink when invoked under that name).
func TestPickersInTmux(t *testing.T) {
	dir := t.TempDir()
	tm := tmuxHere(t, dir, []string{"mcplink", "follow-redirects"}, "BROWSER=follow-redirects", "K=k1")
	as, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	// Two servers signed in with opencode, one not signed in.
	port := testenv.FreePort(t) // a free callback port (not the shared default)
	cfg := fmt.Sprintf(`{"mcp": {"alpha": {"type": "remote", "url": %[1]q}, "beta": {"type": "remote", "url": %[1]q, "oauth": {"callbackPort": %[2]d}},
  "gamma": {"type": "remote", "url": %[1]q, "oauth": {"callbackPort": %[2]d}}}}`, as.MCPURL, port)
	write := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(".config/mcplink/mcplink.json", []byte(cfg))
	auth := map[string]*ocEntry{}
	for _, n := range []string{"alpha", "beta"} {
		if auth[n], err = opencodeSignin(as.MCPURL); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := json.MarshalIndent(auth, "", "  ")
	write(".data/opencode/mcp-auth.json", data)

	// logout: the servers with stored credentials (opencode's here).
	lo := tm.Run("lo", 100, 20, "mcplink logout")
	s := lo.WaitFor("Log out of which MCP server?")
	if !strings.Contains(s, "> alpha") || !strings.Contains(s, "beta") || strings.Contains(s, "gamma") {
		t.Fatalf("logout picker:\n%s", s)
	}
	t.Logf("logout picker:\n%s", s)
	lo.Key("Down", "> beta")
	lo.Key("Enter")
	s = lo.WaitFor("EXIT=")
	if !strings.Contains(s, "Logged out of beta") || !strings.Contains(s, "EXIT=0") || strings.Contains(s, "alpha:") {
		t.Fatalf("after choosing beta:\n%s", s)
	}

	// auth: the servers that need a sign-in (beta now, and gamma), plus all.
	au := tm.Run("au", 100, 20, "mcplink auth")
	s = au.WaitFor("Sign in to which MCP server?")
	if !strings.Contains(s, "all of them (2)") || !strings.Contains(s, "beta") || !strings.Contains(s, "gamma") || strings.Contains(s, "alpha") {
		t.Fatalf("auth picker:\n%s", s)
	}
	t.Logf("auth picker:\n%s", s)
	au.Key("Down", "> beta")
	au.Key("Down", "> gamma")
	au.Key("Enter")
	s = au.WaitFor("EXIT=")
	t.Logf("after the sign-in:\n%s", s)
	if !strings.Contains(s, "gamma: authenticated") || !strings.Contains(s, "EXIT=0") || strings.Contains(s, "beta: authenticated") {
		t.Fatalf("after choosing gamma:\n%s", s)
	}

	// add without arguments: the guided form. A remote server with a header.
	add := tm.Run("add", 100, 20, "mcplink add")
	add.WaitFor("Server name")
	add.Key("tools", "┃ > tools")
	add.Key("Enter", "┃ Type", "/ filter") // a select's help line offers the filter
	add.Key("Enter", "┃ Save in")          // remote (the default)
	add.Key("Enter", "┃ URL")              // this project
	add.Key(as.MCPURL+"/x", "┃ > "+as.MCPURL+"/x")
	add.Key("Enter", "┃ Authentication", "/ filter")
	add.Key("Down", "┃ > a header")
	add.Key("Enter", "┃ Header")
	add.Key("X-Api-Key: {env:K}", "┃ > X-Api-Key: {env:K}")
	add.Key("Enter")
	s = add.WaitFor("EXIT=")
	if !strings.Contains(s, `Added remote server "tools"`) || !strings.Contains(s, "EXIT=0") {
		t.Fatalf("guided add:\n%s", s)
	}
	b, err := os.ReadFile(filepath.Join(dir, "mcplink.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		MCP map[string]struct {
			Type    string            `json:"type"`
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
			OAuth   any               `json:"oauth"`
		} `json:"mcp"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if e := doc.MCP["tools"]; e.Type != "remote" || e.URL != as.MCPURL+"/x" || e.Headers["X-Api-Key"] != "{env:K}" || e.OAuth != false {
		t.Fatalf("written entry: %s", b)
	}
	// A local one, and a taken name is refused in the form.
	add2 := tm.Run("add2", 100, 20, "mcplink add")
	add2.WaitFor("Server name")
	add2.Key("alpha", "┃ > alpha")
	add2.Key("Enter", "already configured")
	for range len("alpha") {
		add2.Key("BSpace")
	}
	add2.Key("fs", "┃ > fs")
	add2.Key("Enter", "┃ Type", "/ filter")
	add2.Key("Down", "┃ > local")
	add2.Key("Enter", "┃ Save in")
	add2.Key("Enter", "┃ Command")
	add2.Key("npx -y server-fs /tmp", "┃ > npx -y server-fs /tmp")
	add2.Key("Enter")
	s = add2.WaitFor("EXIT=")
	if !strings.Contains(s, `Added local server "fs" (npx -y server-fs /tmp)`) || !strings.Contains(s, "EXIT=0") {
		t.Fatalf("guided add of a local server:\n%s", s)
	}

	// Esc leaves without doing anything (exit 2: nothing chosen).
	esc := tm.Run("esc", 100, 20, "mcplink logout")
	esc.WaitFor("Log out of which MCP server?")
	esc.Key("Escape")
	if s = esc.WaitFor("EXIT="); !strings.Contains(s, "nothing chosen") || !strings.Contains(s, "EXIT=2") {
		t.Fatalf("after Esc:\n%s", s)
	}
}
