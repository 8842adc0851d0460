package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/internal/mcptest"
)

// TestVSCodeInputInTmux reads a VS Code mcp.json with --config in a real
// terminal (tmux): its ${input:…} values are asked for — a password
// without echo, a plain one with its default — and used: the server that
// needs the password in its Authorization header connects.
func TestVSCodeInputInTmux(t *testing.T) {
	dir := t.TempDir()
	tm := tmuxHere(t, dir, []string{"mcplink"})
	srv, err := mcptest.StartHTTP(mcptest.HTTPOptions{RequireAuthorization: "Bearer s3cret-pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := os.MkdirAll(filepath.Join(dir, ".vscode"), 0o755); err != nil {
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
	p := tm.Run("vs", 120, 20, "mcplink --config .vscode/mcp.json list")
	// In the order the entry uses them: the URL, then the header.
	p.WaitFor("Path suffix [mcp]:")
	p.Keys("Enter") // the default
	p.WaitFor("API token:")
	p.Keys("s3cret-pw", "Enter")
	s := p.WaitFor("EXIT=")
	t.Logf("pane:\n%s", s)
	if !strings.Contains(s, "guarded") || !strings.Contains(s, "connected") || !strings.Contains(s, "EXIT=0") {
		t.Fatalf("the server did not connect with the answers:\n%s", s)
	}
	if strings.Contains(s, "s3cret-pw") {
		t.Fatalf("the password was echoed:\n%s", s)
	}
}
