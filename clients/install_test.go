package clients

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestInstallTargets(t *testing.T) {
	env := func(string) string { return "" }
	for _, c := range []struct{ client, scope, path, key string }{
		{ClaudeCode, ScopeUser, "/h/.claude.json", "mcpServers"},
		{ClaudeCode, ScopeProject, "/w/.mcp.json", "mcpServers"},
		{VSCode, ScopeProject, "/w/.vscode/mcp.json", "servers"},
		{Cursor, ScopeUser, "/h/.cursor/mcp.json", "mcpServers"},
		{Gemini, ScopeProject, "/w/.gemini/settings.json", "mcpServers"},
		{Codex, ScopeUser, "/h/.codex/config.toml", ""},
	} {
		tg, err := InstallTarget(c.client, c.scope, "linux", env, "/h", "/w")
		if err != nil || tg.Path != filepath.FromSlash(c.path) || tg.Key != c.key {
			t.Errorf("%s %s: %+v %v", c.client, c.scope, tg, err)
		}
	}
	for _, c := range []struct{ client, scope, want string }{
		{ClaudeDesktop, ScopeProject, "claude-desktop has no project-level MCP file"},
		{Codex, ScopeProject, "codex has no project-level MCP file"},
		{ClaudeCode, "team", `unknown scope "team"`},
		{"zed", ScopeUser, `unknown client "zed"`},
	} {
		_, err := InstallTarget(c.client, c.scope, "linux", env, "/h", "/w")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: %v", c.client, c.scope, err)
		}
		if c.scope == ScopeProject && !errors.Is(err, ErrNoProjectFile) || strings.Contains(err.Error(), "--") {
			t.Errorf("%s %s: %v, want ErrNoProjectFile (naming no flag: the CLI adds --scope)", c.client, c.scope, err)
		}
	}
}

var proxyEntry = StdioEntry{Command: "/opt/bin/mcplink", Args: []string{"proxy", "jira"}, Env: map[string]string{"XDG_DATA_HOME": "/d", "Q": "a\"b\\c\td"}}

// VS Code's JSONC: comments, other servers and inputs are kept; installing
// twice changes nothing; uninstall restores the file byte for byte.
func TestInstallVSCodeKeepsComments(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".vscode", "mcp.json")
	orig := `{
  // my inputs
  "inputs": [],
  "servers": {
    // fetch stays
    "fetch": {"type": "stdio", "command": "uvx", "args": ["mcp-server-fetch"]},
  },
}
`
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	tg, _ := InstallTarget(VSCode, ScopeProject, runtime.GOOS, func(string) string { return "" }, dir, dir)
	changed, err := tg.Install("jira", proxyEntry)
	if err != nil || !changed {
		t.Fatalf("Install: %v %v", changed, err)
	}
	data, _ := os.ReadFile(path)
	for _, want := range []string{"// my inputs", "// fetch stays", `"fetch": {"type": "stdio"`, `"jira": {`, `"type": "stdio"`, `"command": "/opt/bin/mcplink"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("missing %q in\n%s", want, data)
		}
	}
	// Read back as mcplink reads VS Code files: the same command.
	got := readSample(t, path, Vars{})
	if e := got["jira"]; e == nil || strings.Join(e.Command, " ") != "/opt/bin/mcplink proxy jira" || e.Environment["Q"] != "a\"b\\c\td" || e.Environment["XDG_DATA_HOME"] != "/d" {
		t.Fatalf("read back: %+v", e)
	}
	if e, err := tg.Entry("jira"); err != nil || e == nil || strings.Join(e.Command, " ") != "/opt/bin/mcplink proxy jira" {
		t.Fatalf("Entry = %+v, %v", e, err)
	}
	if changed, err := tg.Install("jira", proxyEntry); err != nil || changed {
		t.Errorf("second Install: changed %v, %v", changed, err)
	}
	if changed, err := tg.Uninstall("jira"); err != nil || !changed {
		t.Fatalf("Uninstall: %v %v", changed, err)
	}
	if data, _ := os.ReadFile(path); string(data) != orig {
		t.Errorf("after uninstall:\n%s\nwant\n%s", data, orig)
	}
	if changed, err := tg.Uninstall("jira"); err != nil || changed {
		t.Errorf("second Uninstall: %v %v", changed, err)
	}
}

// Codex's TOML: the table is appended and cut out again, every other line
// (comments, other servers and their sub-tables) kept.
func TestInstallCodex(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	orig := `# my codex config
model = "o3"

[mcp_servers.context7]
command = "npx"   # keep this comment
args = ["-y", "@upstash/context7-mcp"]

[mcp_servers.context7.env]
K = "v"

[profiles.fast]
model = "o4-mini"
`
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	tg := Target{Client: Codex, Path: path}
	if changed, err := tg.Install("jira.cloud", proxyEntry); err != nil || !changed {
		t.Fatalf("Install: %v %v", changed, err)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), orig) {
		t.Errorf("the file's start changed:\n%s", data)
	}
	var got struct {
		MCPServers map[string]codexServer `toml:"mcp_servers"`
	}
	if _, err := toml.Decode(string(data), &got); err != nil {
		t.Fatalf("written TOML does not decode: %v\n%s", err, data)
	}
	if s := got.MCPServers["jira.cloud"]; s.Command != "/opt/bin/mcplink" || strings.Join(s.Args, " ") != "proxy jira" || s.Env["Q"] != "a\"b\\c\td" {
		t.Errorf("decoded %+v", s)
	}
	if got.MCPServers["context7"].Env["K"] != "v" {
		t.Errorf("context7 lost its env: %+v", got.MCPServers["context7"])
	}
	if changed, err := tg.Install("jira.cloud", proxyEntry); err != nil || changed {
		t.Errorf("second Install: %v %v", changed, err)
	}
	if changed, err := tg.Uninstall("jira.cloud"); err != nil || !changed {
		t.Fatalf("Uninstall: %v %v", changed, err)
	}
	if data, _ := os.ReadFile(path); string(data) != orig {
		t.Errorf("after uninstall:\n%s\nwant\n%s", data, orig)
	}
	// Removing a server with sub-tables takes them too, and nothing else.
	if changed, err := tg.Uninstall("context7"); err != nil || !changed {
		t.Fatalf("Uninstall context7: %v %v", changed, err)
	}
	data, _ = os.ReadFile(path)
	if strings.Contains(string(data), "context7") || strings.Contains(string(data), `K = "v"`) || !strings.Contains(string(data), "[profiles.fast]") || !strings.Contains(string(data), "# my codex config") {
		t.Errorf("after removing context7:\n%s", data)
	}
	// A file that does not parse is left alone.
	if err := os.WriteFile(path, []byte("[mcp_servers.x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Install("jira", proxyEntry); err == nil || !strings.Contains(err.Error(), "not valid TOML") {
		t.Errorf("broken file: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "[mcp_servers.x\n" {
		t.Errorf("broken file changed: %q", data)
	}
}

// Files that hold no servers yet get the entry; a file that does not
// parse is left alone with an error.
func TestInstallIntoFilesWithoutServers(t *testing.T) {
	dir := t.TempDir()
	gem := filepath.Join(dir, "settings.json")
	if err := os.WriteFile(gem, []byte("{\n  \"theme\": \"GitHub\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tg := Target{Client: Gemini, Path: gem, Key: "mcpServers"}
	if e, err := tg.Entry("jira"); e != nil || err != nil {
		t.Fatalf("Entry: %v %v", e, err)
	}
	if changed, err := tg.Install("jira", proxyEntry); err != nil || !changed {
		t.Fatalf("Install: %v %v", changed, err)
	}
	if e, err := tg.Entry("jira"); err != nil || e == nil || e.Command[0] != "/opt/bin/mcplink" {
		t.Fatalf("Entry after install: %+v %v", e, err)
	}
	data, _ := os.ReadFile(gem)
	if !strings.Contains(string(data), `"theme": "GitHub"`) {
		t.Errorf("theme lost:\n%s", data)
	}
	cx := Target{Client: Codex, Path: filepath.Join(dir, "config.toml")}
	if err := os.WriteFile(cx.Path, []byte("model = \"o3\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if e, err := cx.Entry("jira"); e != nil || err != nil {
		t.Fatalf("codex Entry: %v %v", e, err)
	}
	if changed, err := cx.Install("jira", proxyEntry); err != nil || !changed {
		t.Fatalf("codex Install: %v %v", changed, err)
	}
	if data, _ := os.ReadFile(cx.Path); !strings.HasPrefix(string(data), "model = \"o3\"\n\n[mcp_servers.jira]\n") {
		t.Errorf("codex file:\n%s", data)
	}
	broken := Target{Client: Cursor, Path: filepath.Join(dir, "broken.json"), Key: "mcpServers"}
	if err := os.WriteFile(broken.Path, []byte(`{"mcpServers": `), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := broken.Entry("jira"); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("broken: %v", err)
	}
}
