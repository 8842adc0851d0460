package clients

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/config"
)

// want is what a test expects of one entry: "local <cmd...>" or
// "remote <url>", plus the maps and settings.
type want struct {
	desc     string
	env      map[string]string
	headers  map[string]string
	cwd      string
	timeout  time.Duration
	disabled bool
}

func describe(e *config.Entry) string {
	if e.Type == config.TypeLocal {
		return "local " + strings.Join(e.Command, " ")
	}
	return "remote " + e.URL
}

func readSample(t *testing.T, path string, v Vars) map[string]*config.Entry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	entries, ok, err := ReadFile(path, data, v)
	if err != nil || !ok {
		t.Fatalf("ReadFile(%s) = ok %v, %v", path, ok, err)
	}
	out := map[string]*config.Entry{}
	for _, e := range entries {
		if e.Source != path || e.Name == "" {
			t.Errorf("%s: entry %q has Source %q", path, e.Name, e.Source)
		}
		if e.Type == config.TypeRemote && e.OAuth == nil {
			t.Errorf("%s: remote entry %q without OAuth (config requires it)", path, e.Name)
		}
		out[e.Name] = e
	}
	return out
}

func check(t *testing.T, path string, got map[string]*config.Entry, wants map[string]want) {
	t.Helper()
	if len(got) != len(wants) {
		names := make([]string, 0, len(got))
		for n := range got {
			names = append(names, n)
		}
		t.Errorf("%s: got servers %v, want %d", path, names, len(wants))
	}
	for name, w := range wants {
		e := got[name]
		if e == nil {
			t.Errorf("%s: no server %q", path, name)
			continue
		}
		if d := describe(e); d != w.desc {
			t.Errorf("%s: %s = %q, want %q", path, name, d, w.desc)
		}
		if len(e.Environment)+len(w.env) > 0 && !reflect.DeepEqual(e.Environment, w.env) {
			t.Errorf("%s: %s env = %v, want %v", path, name, e.Environment, w.env)
		}
		if len(e.Headers)+len(w.headers) > 0 && !reflect.DeepEqual(e.Headers, w.headers) {
			t.Errorf("%s: %s headers = %v, want %v", path, name, e.Headers, w.headers)
		}
		if e.Cwd != w.cwd || e.Timeout != w.timeout || e.Enabled == w.disabled {
			t.Errorf("%s: %s cwd %q timeout %v enabled %v, want %q %v %v", path, name, e.Cwd, e.Timeout, e.Enabled, w.cwd, w.timeout, !w.disabled)
		}
	}
}

func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// The sample files are the examples of each client's documentation.
func TestReadSamples(t *testing.T) {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	vars := Vars{Getenv: envOf("API_KEY", "k1", "CURSOR_TEST_KEY", "k2", "DB_CONNECTION_STRING", "pg://x", "EXTERNAL_API_KEY", "k3", "CONTOSO_KEY", "k4"),
		Home: "/home/user", WorkDir: "/home/user/work/app"}

	check(t, "claude-code", readSample(t, "testdata/claude-code.mcp.json", vars), map[string]want{
		"shared-server": {desc: "local /path/to/server"},
		"api-server":    {desc: "remote https://api.example.com/mcp", headers: map[string]string{"Authorization": "Bearer k1"}},
		"asana":         {desc: "remote https://mcp.asana.com/sse"},
	})
	// User scope, then the working directory's project entries (Claude
	// Code's local scope) winning; other projects' servers are not read.
	check(t, "claude.json", readSample(t, "testdata/claude.json", vars), map[string]want{
		"sentry":   {desc: "remote https://mcp.sentry.dev/mcp"},
		"airtable": {desc: "local npx -y airtable-mcp-server@1.2.0"},
		"local-db": {desc: "local npx -y @bytebase/dbhub --dsn postgresql://readonly:pass@prod.db.com:5432/analytics"},
	})
	check(t, "claude desktop", readSample(t, "testdata/claude_desktop_config.json", vars), map[string]want{
		"filesystem": {desc: "local npx -y @modelcontextprotocol/server-filesystem /Users/username/Desktop /Users/username/Downloads"},
	})
	check(t, "cursor", readSample(t, "testdata/cursor.mcp.json", vars), map[string]want{
		"server-name":    {desc: "local npx -y mcp-server", env: map[string]string{"API_KEY": "k2"}},
		"remote-server":  {desc: "remote http://localhost:3000/mcp", headers: map[string]string{"API_KEY": "value"}},
		"workspace-tool": {desc: "local /home/user/work/app/bin/tool --home /home/user"},
	})
	check(t, "windsurf", readSample(t, "testdata/windsurf.mcp_config.json", vars), map[string]want{
		"github": {desc: "local npx -y @modelcontextprotocol/server-github", env: map[string]string{"GITHUB_PERSONAL_ACCESS_TOKEN": "<YOUR_PERSONAL_ACCESS_TOKEN>"}},
		"figma":  {desc: "remote https://your-server-url/mcp", headers: map[string]string{"API_KEY": "value"}},
		"off":    {desc: "local old-server", disabled: true},
	})
	gemini := abs("testdata/gemini/.gemini/settings.json")
	check(t, "gemini", readSample(t, gemini, vars), map[string]want{
		"pythonTools": {desc: "local python -m my_mcp_server --port 8080", env: map[string]string{"DATABASE_URL": "pg://x", "API_KEY": "k3"},
			cwd: filepath.Join(filepath.Dir(gemini), "mcp-servers", "python"), timeout: 15 * time.Second},
		"httpServer":    {desc: "remote http://localhost:3000/mcp", timeout: 5 * time.Second},
		"sseServer":     {desc: "remote http://localhost:8080/sse", headers: map[string]string{"Authorization": "Bearer your-api-token"}, timeout: 30 * time.Second},
		"trustedServer": {desc: "local node dist/server.js"},
	})
	vs := abs("testdata/vscode/.vscode/mcp.json")
	asked := 0
	vsVars := vars
	vsVars.Input = func(in VSCodeInput) (string, error) {
		asked++
		if in.ID != "perplexity-key" || !in.Password || in.Description != "Perplexity API Key" {
			t.Errorf("asked for %+v", in)
		}
		return "pplx-secret", nil
	}
	check(t, "vscode", readSample(t, vs, vsVars), map[string]want{
		"Perplexity": {desc: "local npx -y server-perplexity-ask", env: map[string]string{"PERPLEXITY_API_KEY": "pplx-secret"}},
		"fetch":      {desc: "local uvx mcp-server-fetch", cwd: filepath.Dir(filepath.Dir(vs))},
		"github":     {desc: "remote https://api.githubcopilot.com/mcp/"},
		"my-remote":  {desc: "remote http://api.contoso.com/mcp", headers: map[string]string{"API_KEY": "k4"}},
	})
	if asked != 1 {
		t.Errorf("the input was asked for %d times, want 1", asked)
	}
	codexVars := vars
	codexVars.Getenv = envOf("FIGMA_OAUTH_TOKEN", "fig-tok")
	check(t, "codex", readSample(t, "testdata/codex.config.toml", codexVars), map[string]want{
		"context7":        {desc: "local npx -y @upstash/context7-mcp", env: map[string]string{"MY_ENV_VAR": "MY_ENV_VALUE"}},
		"figma":           {desc: "remote https://mcp.figma.com/mcp", headers: map[string]string{"Authorization": "Bearer fig-tok", "X-Figma-Region": "us-east-1"}, timeout: 20 * time.Second},
		"chrome_devtools": {desc: "local npx chrome-devtools-mcp@latest", disabled: true},
	})
}

// ~/.claude.json read in parts, as import does to keep Claude Code's
// order (local over project over user).
func TestReadClaudeScopes(t *testing.T) {
	v := Vars{WorkDir: "/home/user/work/app", Scope: "user"}
	check(t, "user", readSample(t, "testdata/claude.json", v), map[string]want{
		"sentry":   {desc: "remote https://mcp.sentry.dev/mcp"},
		"airtable": {desc: "local npx -y airtable-mcp-server", env: map[string]string{"AIRTABLE_API_KEY": "YOUR_KEY"}},
	})
	v.Scope = "local"
	check(t, "local", readSample(t, "testdata/claude.json", v), map[string]want{
		"airtable": {desc: "local npx -y airtable-mcp-server@1.2.0"},
		"local-db": {desc: "local npx -y @bytebase/dbhub --dsn postgresql://readonly:pass@prod.db.com:5432/analytics"},
	})
}

// Servers carry the position of their key, as mcplink's own entries do.
func TestReadPositions(t *testing.T) {
	v := Vars{Getenv: envOf("API_KEY", "k", "FIGMA_OAUTH_TOKEN", "f"), WorkDir: "/home/user/work/app"}
	got := readSample(t, "testdata/claude.json", v)
	if p := got["sentry"].Pos; p.Line != 6 || p.Col != 5 {
		t.Errorf("sentry at %v", p)
	}
	if p := got["local-db"].Pos; p.Line != 28 || p.Col != 9 {
		t.Errorf("local-db (a project entry) at %v", p)
	}
	got = readSample(t, "testdata/codex.config.toml", v)
	if p := got["context7"].Pos; p.Line != 4 || p.Col != 1 {
		t.Errorf("context7 at %v", p)
	}
	_, _, err := ReadFile("x/.mcp.json", []byte("{\n  \"mcpServers\": {\n    \"s\": {\"url\": \"ftp://x\"}}}"), v)
	if err == nil || !strings.HasPrefix(err.Error(), "x/.mcp.json:3:5: server \"s\"") {
		t.Errorf("err = %v", err)
	}
}

// For import, references stay references: secrets are never copied.
func TestReadTranslate(t *testing.T) {
	v := Vars{Getenv: envOf("API_KEY", "k1"), Home: "/h", WorkDir: "/w", Translate: true}
	got := readSample(t, "testdata/claude-code.mcp.json", v)
	if h := got["api-server"].Headers["Authorization"]; h != "Bearer {env:API_KEY}" {
		t.Errorf("header = %q", h)
	}
	if u := got["api-server"].URL; u != "https://api.example.com/mcp" {
		t.Errorf("url = %q (API_BASE_URL is unset: the default)", u)
	}
	got = readSample(t, "testdata/codex.config.toml", v)
	if h := got["figma"].Headers["Authorization"]; h != "Bearer {env:FIGMA_OAUTH_TOKEN}" {
		t.Errorf("codex bearer = %q", h)
	}
	// A VS Code input cannot become a reference: the server is an error.
	data, _ := os.ReadFile("testdata/vscode/.vscode/mcp.json")
	_, _, err := ReadFile("testdata/vscode/.vscode/mcp.json", data, v)
	if err == nil || !strings.Contains(err.Error(), `server "Perplexity"`) || !strings.Contains(err.Error(), "${input:perplexity-key}") {
		t.Errorf("err = %v", err)
	}
}

func TestReadErrors(t *testing.T) {
	cases := []struct {
		name, file, data, want string
	}{
		{"unknown shape", "x.json", `{"theme": "dark", "model": "m"}`, `no MCP servers in a shape mcplink knows (top-level keys: model, theme); mcplink reads mcplink's or opencode's {"mcp": {...}}; {"mcpServers"`},
		{"vscode input no tty", ".vscode/mcp.json", `{"inputs": [{"id": "k", "type": "promptString"}], "servers": {"s": {"command": "x", "env": {"K": "${input:k}"}}}}`,
			`server "s": env K uses ${input:k}, which VS Code asks the user for; run mcplink on a terminal`},
		{"vscode unknown input", "mcp.json", `{"servers": {"s": {"command": "x", "args": ["${input:nope}"]}}}`, `server "s": args[0] uses ${input:nope} but the file's "inputs" has no input with "id": "nope"`},
		{"unset env", ".mcp.json", `{"mcpServers": {"s": {"type": "http", "url": "https://x/mcp", "headers": {"A": "${NOPE}"}}}}`, `server "s": header A uses ${NOPE} but the environment variable NOPE is not set`},
		{"bad type", ".mcp.json", `{"mcpServers": {"s": {"type": "ws", "url": "wss://x"}}}`, `server "s": "type" must be "stdio", "http" or "sse", got "ws"`},
		{"bad url", ".mcp.json", `{"mcpServers": {"s": {"url": "ftp://x"}}}`, `server "s": "url" must be an absolute http or https URL, got "ftp://x"`},
		{"args not strings", ".mcp.json", `{"mcpServers": {"s": {"command": "x", "args": [1]}}}`, `server "s": the entry does not decode`},
		{"nothing", ".mcp.json", `{"mcpServers": {"s": {}}}`, `server "s": neither "command" nor "url" is set`},
		{"envFile", ".cursor/mcp.json", `{"mcpServers": {"s": {"command": "x", "envFile": ".env"}}}`, `server "s": "envFile" ` + filepath.Join(".cursor", ".env") + ` does not exist; create it or remove "envFile"`},
		{"toml syntax", "config.toml", "[mcp_servers.x\n", "not valid TOML"},
		{"toml no servers", "config.toml", "model = \"o3\"\n", "no [mcp_servers.NAME] tables"},
		{"toml bad server", "config.toml", "[mcp_servers.x]\ncommand = 1\n", "[mcp_servers.x] does not decode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := ReadFile(c.file, []byte(c.data), Vars{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Errorf("err does not wrap config.ErrInvalid: %v", err)
			}
			if !strings.HasPrefix(err.Error(), c.file+":") {
				t.Errorf("err does not start with the file: %v", err)
			}
		})
	}
}

// mcplink's and opencode's own files, and what config reports better
// itself, are left to config.
func TestReadLeavesOwnFiles(t *testing.T) {
	for _, c := range []struct{ file, data string }{
		{"mcplink.json", `{"mcp": {"x": {"type": "local", "command": ["x"]}}}`},
		{"opencode.json", `{"$schema": "https://opencode.ai/config.json", "theme": "x"}`},
		{"empty.json", ``},
		{"empty.json", `{}`},
		{"broken.json", `{"mcpServers": `},
		{"array.json", `[1]`},
	} {
		entries, ok, err := ReadFile(c.file, []byte(c.data), Vars{})
		if ok || err != nil || entries != nil {
			t.Errorf("%s %q: ok %v err %v", c.file, c.data, ok, err)
		}
	}
	// A TOML file without the extension is recognised by its tables.
	entries, ok, err := ReadFile("codex-config", []byte("[mcp_servers.a]\ncommand = \"x\"\n"), Vars{})
	if !ok || err != nil || len(entries) != 1 {
		t.Errorf("extensionless TOML: %v %v %v", entries, ok, err)
	}
}

func TestClientOf(t *testing.T) {
	for path, want := range map[string]string{
		".gemini/settings.json":                "Gemini CLI",
		"/home/u/.gemini/settings.json":        "Gemini CLI",
		".cursor/mcp.json":                     "Cursor",
		".vscode/mcp.json":                     "VS Code",
		".mcp.json":                            "Claude Code",
		"/home/u/.claude.json":                 "Claude Code",
		"/x/Claude/claude_desktop_config.json": "Claude Desktop",
		"/h/.codeium/windsurf/mcp_config.json": "Windsurf",
		".codex/config.toml":                   "Codex",
		"servers.json":                         "",
	} {
		if got := ClientOf(path); got != want {
			t.Errorf("ClientOf(%q) = %q, want %q", path, got, want)
		}
	}
}
