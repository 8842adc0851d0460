package cli_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/internal/testwait"
)

// TestPickersInTmux runs `mcplink logout` and `mcplink auth` without a server
// name in a real terminal (tmux): each asks which server, like `opencode mcp
// auth`, and acts on the one chosen. The mcplink here is this test binary
// (TestMain runs it as mcplink when invoked under that name).
func TestPickersInTmux(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is required in CI (apt-get install -y tmux)")
		}
		t.Skip("tmux not installed")
	}
	as, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	for _, n := range []string{"mcplink", "follow-redirects"} {
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(self, filepath.Join(bin, n)); err != nil {
			t.Fatal(err)
		}
	}
	// Two servers signed in with opencode, one not signed in.
	l, err := net.Listen("tcp", "127.0.0.1:0") // a free callback port (not the shared default)
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
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

	sock := filepath.Join(dir, "tmux.sock")
	env := testenv.Env(t, "MCPLINK_DATA_DIR=",
		"PATH="+bin+":"+os.Getenv("PATH"), "HOME="+dir, "TERM=xterm-256color",
		"XDG_CONFIG_HOME="+filepath.Join(dir, ".config"), "XDG_DATA_HOME="+filepath.Join(dir, ".data"),
		"MCPLINK_CREDENTIALS_STORE=file", "BROWSER=follow-redirects", "K=k1",
	)
	tm := func(args ...string) string {
		c := exec.Command(tmux, append([]string{"-S", sock, "-f", "/dev/null"}, args...)...)
		c.Env, c.Dir = env, dir
		out, err := c.CombinedOutput()
		if err != nil && args[0] != "kill-server" {
			t.Fatalf("tmux %s: %v\n%s", args[0], err, out)
		}
		return string(out)
	}
	defer tm("kill-server")
	run := func(session, command string) {
		tm("new-session", "-d", "-s", session, "-x", "100", "-y", "20", "-c", dir, "sh", "-c", command+"; echo EXIT=$?; sleep 30")
	}
	// The commands draw in another process: the pane is the only signal.
	waitFor := func(session string, want ...string) string {
		t.Helper()
		var s string
		if !testwait.Until(20*time.Second, func() bool {
			s = tm("capture-pane", "-p", "-t", session)
			for _, w := range want {
				if !strings.Contains(s, w) {
					return false
				}
			}
			return true
		}) {
			t.Fatalf("timed out waiting for %q; pane:\n%s", want, s)
		}
		return s
	}
	// key sends k and waits until the pane shows want. Keys typed into one
	// field need no wait (the terminal keeps their order); a key that moves
	// the focus does: huh moves it in a command of its own, and a key sent
	// before the next field has the focus (┃) goes elsewhere.
	key := func(session, k string, want ...string) {
		t.Helper()
		tm("send-keys", "-t", session, k)
		if len(want) > 0 {
			waitFor(session, want...)
		}
	}

	// logout: the servers with stored credentials (opencode's here).
	run("lo", "mcplink logout")
	s := waitFor("lo", "Log out of which MCP server?")
	if !strings.Contains(s, "> alpha") || !strings.Contains(s, "beta") || strings.Contains(s, "gamma") {
		t.Fatalf("logout picker:\n%s", s)
	}
	t.Logf("logout picker:\n%s", s)
	key("lo", "Down", "> beta")
	key("lo", "Enter")
	s = waitFor("lo", "EXIT=")
	if !strings.Contains(s, "Logged out of beta") || !strings.Contains(s, "EXIT=0") || strings.Contains(s, "alpha:") {
		t.Fatalf("after choosing beta:\n%s", s)
	}

	// auth: the servers that need a sign-in (beta now, and gamma), plus all.
	run("au", "mcplink auth")
	s = waitFor("au", "Sign in to which MCP server?")
	if !strings.Contains(s, "all of them (2)") || !strings.Contains(s, "beta") || !strings.Contains(s, "gamma") || strings.Contains(s, "alpha") {
		t.Fatalf("auth picker:\n%s", s)
	}
	t.Logf("auth picker:\n%s", s)
	key("au", "Down", "> beta")
	key("au", "Down", "> gamma")
	key("au", "Enter")
	s = waitFor("au", "EXIT=")
	t.Logf("after the sign-in:\n%s", s)
	if !strings.Contains(s, "gamma: authenticated") || !strings.Contains(s, "EXIT=0") || strings.Contains(s, "beta: authenticated") {
		t.Fatalf("after choosing gamma:\n%s", s)
	}

	// add without arguments: the guided form. A remote server with a header.
	run("add", "mcplink add")
	waitFor("add", "Server name")
	key("add", "tools", "┃ > tools")
	key("add", "Enter", "┃ Type", "/ filter") // a select's help line offers the filter
	key("add", "Enter", "┃ Save in")          // remote (the default)
	key("add", "Enter", "┃ URL")              // this project
	key("add", as.MCPURL+"/x", "┃ > "+as.MCPURL+"/x")
	key("add", "Enter", "┃ Authentication", "/ filter")
	key("add", "Down", "┃ > a header")
	key("add", "Enter", "┃ Header")
	key("add", "X-Api-Key: {env:K}", "┃ > X-Api-Key: {env:K}")
	key("add", "Enter")
	s = waitFor("add", "EXIT=")
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
	run("add2", "mcplink add")
	waitFor("add2", "Server name")
	key("add2", "alpha", "┃ > alpha")
	key("add2", "Enter", "already configured")
	for range len("alpha") {
		key("add2", "BSpace")
	}
	key("add2", "fs", "┃ > fs")
	key("add2", "Enter", "┃ Type", "/ filter")
	key("add2", "Down", "┃ > local")
	key("add2", "Enter", "┃ Save in")
	key("add2", "Enter", "┃ Command")
	key("add2", "npx -y server-fs /tmp", "┃ > npx -y server-fs /tmp")
	key("add2", "Enter")
	s = waitFor("add2", "EXIT=")
	if !strings.Contains(s, `Added local server "fs" (npx -y server-fs /tmp)`) || !strings.Contains(s, "EXIT=0") {
		t.Fatalf("guided add of a local server:\n%s", s)
	}

	// Esc leaves without doing anything (exit 2: nothing chosen).
	run("esc", "mcplink logout")
	waitFor("esc", "Log out of which MCP server?")
	key("esc", "Escape")
	if s = waitFor("esc", "EXIT="); !strings.Contains(s, "nothing chosen") || !strings.Contains(s, "EXIT=2") {
		t.Fatalf("after Esc:\n%s", s)
	}
}
