package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/internal/testwait"
)

// TestVSCodeInputInTmux reads a VS Code mcp.json with --config in a real
// terminal (tmux): its ${input:…} values are asked for — a password
// without echo, a plain one with its default — and used: the server that
// needs the password in its Authorization header connects.
func TestVSCodeInputInTmux(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is required in CI (apt-get install -y tmux)")
		}
		t.Skip("tmux not installed")
	}
	srv, err := mcptest.StartHTTP(mcptest.HTTPOptions{RequireAuthorization: "Bearer s3cret-pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(filepath.Join(dir, ".vscode"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "mcplink")); err != nil {
		t.Fatal(err)
	}
	vs := `{
  "inputs": [
    {"type": "promptString", "id": "tok", "description": "API token", "password": true},
    {"type": "promptString", "id": "path", "description": "Path suffix", "default": "mcp"}
  ],
  "servers": {
    "guarded": {"type": "http", "url": "` + strings.TrimSuffix(srv.URL, "mcp") + `${input:path}", "headers": {"Authorization": "Bearer ${input:tok}"}}
  }
}`
	if err := os.WriteFile(filepath.Join(dir, ".vscode", "mcp.json"), []byte(vs), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "tmux.sock")
	env := testenv.Env(t, "MCPLINK_DATA_DIR=",
		"PATH="+bin+":"+os.Getenv("PATH"), "HOME="+dir, "TERM=xterm-256color",
		"XDG_CONFIG_HOME="+filepath.Join(dir, ".config"), "XDG_DATA_HOME="+filepath.Join(dir, ".data"),
		"MCPLINK_CREDENTIALS_STORE=file")
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
	waitFor := func(what string) string {
		t.Helper()
		var s string
		if !testwait.Until(20*time.Second, func() bool { s = tm("capture-pane", "-p", "-t", "vs"); return strings.Contains(s, what) }) {
			t.Fatalf("timed out waiting for %q; pane:\n%s", what, s)
		}
		return s
	}
	tm("new-session", "-d", "-s", "vs", "-x", "120", "-y", "20", "-c", dir, "sh", "-c",
		"mcplink --config .vscode/mcp.json list; echo EXIT=$?; sleep 30")
	// In the order the entry uses them: the URL, then the header.
	waitFor("Path suffix [mcp]:")
	tm("send-keys", "-t", "vs", "Enter") // the default
	waitFor("API token:")
	tm("send-keys", "-t", "vs", "s3cret-pw", "Enter")
	s := waitFor("EXIT=")
	t.Logf("pane:\n%s", s)
	if !strings.Contains(s, "guarded") || !strings.Contains(s, "connected") || !strings.Contains(s, "EXIT=0") {
		t.Fatalf("the server did not connect with the answers:\n%s", s)
	}
	if strings.Contains(s, "s3cret-pw") {
		t.Fatalf("the password was echoed:\n%s", s)
	}
}
