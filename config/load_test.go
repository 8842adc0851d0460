package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testLayout is a home with a global config and a project tree.
type testLayout struct {
	t                                    *testing.T
	home, configHome, project, sub, data string
}

func newLayout(t *testing.T) testLayout {
	t.Helper()
	root := t.TempDir()
	l := testLayout{
		t:       t,
		data:    filepath.Join(root, "data"),
		home:    filepath.Join(root, "home"),
		project: filepath.Join(root, "work", "proj"),
	}
	l.configHome = filepath.Join(l.home, ".config")
	l.sub = filepath.Join(l.project, "a", "b")
	for _, d := range []string{l.configHome, l.sub} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// opts returns load options for the layout with the project file, as it is
// now, trusted (trust_test.go covers untrusted ones).
func (l testLayout) opts(getenv map[string]string) LoadOptions {
	ts := NewTrustStore(l.data)
	for _, p := range ProjectFiles(l.sub) {
		data, err := os.ReadFile(p)
		if err != nil {
			l.t.Fatal(err)
		}
		if _, err := ts.Trust(p, data); err != nil {
			l.t.Fatal(err)
		}
	}
	return LoadOptions{WorkDir: l.sub, HomeDir: l.home, Getenv: env(getenv), Trust: ts}
}

func TestLoadMergeAndOverride(t *testing.T) {
	l := newLayout(t)
	global := writeFile(t, l.configHome, "mcplink/mcplink.jsonc", `{
  // global servers
  "mcp": {
    "fs": {"type": "local", "command": ["fs-server", "--root", "/"], "timeout": 1500},
    "gh": {"type": "remote", "url": "https://api.example.com/mcp", "headers": {"X-A": "1"}},
    "off": {"type": "local", "command": ["x"], "enabled": false},
    "keep": {"type": "remote", "url": "https://keep.example/mcp", "oauth": false},
  },
}`)
	project := writeFile(t, l.project, "mcplink.json", `{
  "mcp": {
    "gh": {"enabled": false},
    "off": {"enabled": true},
    "fs": {"type": "remote", "url": "http://127.0.0.1:9000/mcp"},
    "new": {"type": "local", "command": ["./srv"], "cwd": "tools"},
    "ghost": {"enabled": false}
  }
}`)
	cfg, err := Load(l.opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{global, project}; !reflect.DeepEqual(cfg.Files, want) {
		t.Errorf("Files = %q, want %q", cfg.Files, want)
	}
	if got, want := cfg.Names(), []string{"fs", "gh", "keep", "new", "off"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Names = %q, want %q (a bare disable with nothing to inherit is ignored)", got, want)
	}

	// Whole-entry replacement: nothing of the global local "fs" survives.
	fs := cfg.Servers["fs"]
	if fs.Type != TypeRemote || fs.URL != "http://127.0.0.1:9000/mcp" || fs.Command != nil || fs.Timeout != 0 ||
		fs.Source != project || fs.Pos != (Position{project, 5, 5}) || !fs.Enabled || fs.OAuth == nil || !reflect.DeepEqual(*fs.OAuth, OAuth{}) {
		t.Errorf("fs = %+v", fs)
	}
	// Bare disable keeps the inherited data.
	gh := cfg.Servers["gh"]
	if gh.Enabled || gh.URL != "https://api.example.com/mcp" || gh.Headers["X-A"] != "1" ||
		gh.Source != project || gh.Pos != (Position{project, 3, 5}) {
		t.Errorf("gh = %+v", gh)
	}
	// Bare enable re-enables.
	if off := cfg.Servers["off"]; !off.Enabled || !reflect.DeepEqual(off.Command, []string{"x"}) {
		t.Errorf("off = %+v", off)
	}
	keep := cfg.Servers["keep"]
	if keep.Source != global || keep.Pos != (Position{global, 7, 5}) || !keep.OAuthDisabled || keep.OAuth != nil {
		t.Errorf("keep = %+v", keep)
	}
	if n := cfg.Servers["new"]; n.Cwd != filepath.Join(l.project, "tools") {
		t.Errorf("relative cwd = %q, want it resolved against the project file's directory", n.Cwd)
	}
	// The global entry's own data is not changed by the override.
	if cfg2, err := Load(LoadOptions{File: global}); err != nil || !cfg2.Servers["gh"].Enabled {
		t.Errorf("explicit global: %v %+v", err, cfg2)
	}
	if got := cfg.Servers["fs"].EffectiveTimeout(); got != DefaultTimeout {
		t.Errorf("EffectiveTimeout = %v", got)
	}
}

func TestLoadNearestProjectWins(t *testing.T) {
	l := newLayout(t)
	writeFile(t, l.project, "mcplink.json", `{"mcp": {"a": {"type": "local", "command": ["outer"]}}}`)
	inner := writeFile(t, filepath.Join(l.project, "a"), "mcplink.jsonc", `{"mcp": {"a": {"type": "local", "command": ["inner"]}}}`)
	cfg, err := Load(l.opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Servers["a"].Command[0]; got != "inner" {
		t.Errorf("command = %q, want the nearest file's", got)
	}
	if !reflect.DeepEqual(cfg.Files, []string{inner}) {
		t.Errorf("Files = %q", cfg.Files)
	}
	if got := ProjectFile(l.sub); got != inner {
		t.Errorf("ProjectFile = %q, want %q", got, inner)
	}
	empty := t.TempDir()
	if got := ProjectFile(empty); got != filepath.Join(empty, "mcplink.json") {
		t.Errorf("ProjectFile(no file) = %q", got)
	}
}

func TestLoadExplicitFileOnly(t *testing.T) {
	l := newLayout(t)
	writeFile(t, l.configHome, "mcplink/mcplink.json", `{"mcp": {"g": {"type": "local", "command": ["g"]}}}`)
	writeFile(t, l.project, "mcplink.json", `{"mcp": {"p": {"type": "local", "command": ["p"]}}}`)
	explicit := writeFile(t, t.TempDir(), "other.json", `{"mcp": {"e": {"type": "local", "command": ["e"]}}}`)
	opts := l.opts(nil)
	opts.File = explicit
	cfg, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Names(); !reflect.DeepEqual(got, []string{"e"}) {
		t.Errorf("Names = %q, want only the explicit file's", got)
	}
	// Without the explicit file, both discovered files merge.
	cfg, err = Load(l.opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Names(); !reflect.DeepEqual(got, []string{"g", "p"}) {
		t.Errorf("Names = %q", got)
	}
}

func TestGlobalFileAndConfigHome(t *testing.T) {
	l := newLayout(t)
	if got, want := GlobalFile(l.configHome), filepath.Join(l.configHome, "mcplink", "mcplink.json"); got != want {
		t.Errorf("GlobalFile(none) = %q, want %q", got, want)
	}
	jsonc := writeFile(t, l.configHome, "mcplink/mcplink.jsonc", `{"mcp": {"x": {"type": "local", "command": ["x"]}}}`)
	if got := GlobalFile(l.configHome); got != jsonc {
		t.Errorf("GlobalFile = %q, want %q", got, jsonc)
	}
	// An explicit ConfigHome elsewhere means HomeDir/.config is not used.
	other := t.TempDir()
	writeFile(t, other, "mcplink/mcplink.json", `{"mcp": {"y": {"type": "local", "command": ["y"]}}}`)
	opts := l.opts(nil)
	opts.ConfigHome = other
	cfg, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Names(); !reflect.DeepEqual(got, []string{"y"}) {
		t.Errorf("Names = %q", got)
	}
	// Empty ConfigHome falls back to HomeDir/.config.
	cfg, err = Load(l.opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Names(); !reflect.DeepEqual(got, []string{"x"}) {
		t.Errorf("Names = %q", got)
	}
}

func TestLoadSubstitution(t *testing.T) {
	l := newLayout(t)
	writeFile(t, l.project, "secrets/token.txt", "\n  s3cret-token \n\n")
	writeFile(t, l.home, "client.txt", "client-123\n")
	p := writeFile(t, l.project, "mcplink.json", `{"mcp": {
  "loc": {"type": "local",
    "command": ["{env:BIN}", "--token={file:secrets/token.txt}", "{env:A}{env:B}", "{env:}", "{nope:x}"],
    "environment": {"HOME_DIR": "{env:HOME}", "T": "{file:./secrets/token.txt}"},
    "cwd": "{env:SUBDIR}/run"},
  "rem": {"type": "remote", "url": "https://{env:HOST}/mcp",
    "headers": {"Authorization": "Bearer {file:secrets/token.txt}"},
    "oauth": {"clientId": "{file:~/client.txt}", "clientSecret": "{env:SECRET}", "scope": "{env:A}",
              "redirectUri": "http://localhost:{env:PORT}/cb", "clientMetadataUrl": "https://{env:HOST}/meta.json"}},
  "off": {"type": "local", "command": ["{env:UNSET}", "{file:missing}"], "enabled": false}
}}`)
	cfg, err := Load(LoadOptions{File: p, HomeDir: l.home, Getenv: env(map[string]string{
		"BIN": "/usr/bin/srv", "A": "a", "B": "b", "HOME": "/h", "SUBDIR": "sub", "HOST": "mcp.example.com",
		"SECRET": "shh", "PORT": "8765",
	})})
	if err != nil {
		t.Fatal(err)
	}
	loc := cfg.Servers["loc"]
	wantCmd := []string{"/usr/bin/srv", "--token=s3cret-token", "ab", "{env:}", "{nope:x}"}
	if !reflect.DeepEqual(loc.Command, wantCmd) {
		t.Errorf("command = %q, want %q", loc.Command, wantCmd)
	}
	if want := map[string]string{"HOME_DIR": "/h", "T": "s3cret-token"}; !reflect.DeepEqual(loc.Environment, want) {
		t.Errorf("environment = %q", loc.Environment)
	}
	if want := filepath.Join(l.project, "sub", "run"); loc.Cwd != want {
		t.Errorf("cwd = %q, want %q", loc.Cwd, want)
	}
	rem := cfg.Servers["rem"]
	if rem.URL != "https://mcp.example.com/mcp" || rem.Headers["Authorization"] != "Bearer s3cret-token" {
		t.Errorf("rem = %+v", rem)
	}
	wantOAuth := OAuth{ClientID: "client-123", ClientSecret: "shh", Scope: "a",
		RedirectURI: "http://localhost:8765/cb", ClientMetadataURL: "https://mcp.example.com/meta.json"}
	if !reflect.DeepEqual(*rem.OAuth, wantOAuth) {
		t.Errorf("oauth = %+v, want %+v", *rem.OAuth, wantOAuth)
	}
	// A disabled entry with unresolvable references loads fine.
	if off := cfg.Servers["off"]; off.Enabled {
		t.Errorf("off = %+v", off)
	}
}

// TestLoadSubstitutionErrorsFollowEnabled: a substitution failure in a
// global entry matters only if the merged entry is enabled.
func TestLoadSubstitutionErrorsFollowEnabled(t *testing.T) {
	l := newLayout(t)
	global := writeFile(t, l.configHome, "mcplink/mcplink.json", `{"mcp": {"s": {"type": "local", "command": ["{env:TOKEN}"]}}}`)
	if _, err := Load(l.opts(nil)); err == nil || !strings.Contains(err.Error(), global+`:1:45: server "s": environment variable TOKEN is not set`) {
		t.Fatalf("enabled entry: got %v", err)
	}
	writeFile(t, l.project, "mcplink.json", `{"mcp": {"s": {"enabled": false}}}`)
	cfg, err := Load(l.opts(nil))
	if err != nil {
		t.Fatalf("disabled by override: %v", err)
	}
	if cfg.Servers["s"].Enabled {
		t.Error("s should be disabled")
	}
	// ~ without a home directory is an error too.
	p := writeFile(t, l.project, "x.json", `{"mcp": {"s": {"type": "local", "command": ["{file:~/k}"]}}}`)
	_, err = Load(LoadOptions{File: p})
	if want := p + `:1:45: server "s": cannot read {file:~/k}: home directory is unknown`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	// A non-regular file (a directory) is refused rather than read.
	p = writeFile(t, l.project, "y.json", `{"mcp": {"s": {"type": "local", "command": ["{file:.}"]}}}`)
	_, err = Load(LoadOptions{File: p})
	if want := p + `:1:45: server "s": cannot read {file:.}: ` + l.project + ` is a directory, not a regular file`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestLoadOpencodeFileAndJSONC(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "opencode.json", `{
  "$schema": "https://opencode.ai/config.json",
  "theme": "opencode",
  "provider": {"anthropic": {"options": {"apiKey": "{env:ANTHROPIC_API_KEY}"}}},
  /* block comment */
  "mcp": {
    // line comment
    "jira": {
      "type": "remote",
      "url": "https://jira.example.com/mcp", // trailing comment
      "enabled": true,
      "timeout": 250,
      "oauth": {"clientId": "abc", "scope": "read write", "callbackPort": 19876,},
    },
    "everything": {"type": "local", "command": ["npx", "-y", "@modelcontextprotocol/server-everything"], "environment": {"DEBUG": "1",},},
  },
  "tools": {"write": false},
}`)
	cfg, err := Load(LoadOptions{File: p})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*Entry{
		"jira": {Name: "jira", Type: TypeRemote, Enabled: true, Timeout: 250 * time.Millisecond,
			URL: "https://jira.example.com/mcp", OAuth: &OAuth{ClientID: "abc", Scope: "read write", CallbackPort: 19876},
			Source: p, Pos: Position{p, 8, 5}},
		"everything": {Name: "everything", Type: TypeLocal, Enabled: true,
			Command: []string{"npx", "-y", "@modelcontextprotocol/server-everything"}, Environment: map[string]string{"DEBUG": "1"},
			Source: p, Pos: Position{p, 15, 5}},
	}
	if !reflect.DeepEqual(cfg.Servers, want) {
		for k := range want {
			t.Errorf("%s:\n got %+v\nwant %+v", k, cfg.Servers[k], want[k])
		}
	}
}

func TestLoadNoServers(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{`{"theme": "x"}`, "", "  \n", `{"mcp": {}}`} {
		p := writeFile(t, dir, "c.json", content)
		cfg, err := Load(LoadOptions{File: p})
		if err != nil || len(cfg.Servers) != 0 || len(cfg.Files) != 1 {
			t.Errorf("%q: got %+v, %v", content, cfg, err)
		}
	}
	// Nothing discovered at all.
	cfg, err := Load(LoadOptions{WorkDir: dir, HomeDir: dir})
	if err != nil || len(cfg.Servers) != 0 || len(cfg.Files) != 0 {
		t.Errorf("no files: %+v, %v", cfg, err)
	}
}

func TestLookup(t *testing.T) {
	cfg := &Config{Servers: map[string]*Entry{"github": {Name: "github"}, "files": {Name: "files"}}}
	if e, err := cfg.Lookup("github"); err != nil || e.Name != "github" {
		t.Fatalf("Lookup = %v, %v", e, err)
	}
	_, err := cfg.Lookup("githb")
	want := `unknown server "githb"; did you mean "github"? (known servers: files, github)`
	if err == nil || err.Error() != want || !errors.Is(err, ErrNotFound) {
		t.Errorf("got %v, want %s", err, want)
	}
	_, err = cfg.Lookup("zzzzzz")
	if want := `unknown server "zzzzzz" (known servers: files, github)`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	_, err = (&Config{}).Lookup("a")
	if want := `unknown server "a": no servers are configured`; err == nil || err.Error() != want || !errors.Is(err, ErrNotFound) {
		t.Errorf("got %v, want %s", err, want)
	}
	var ue *UnknownServerError
	if _, err = cfg.Lookup("zzzzzz"); !errors.As(err, &ue) || ue.Name != "zzzzzz" || strings.Join(ue.Known, ",") != "files,github" {
		t.Errorf("Lookup's error = %#v, want an *UnknownServerError with the known names", err)
	}
}

func TestLoadRedirectURIForms(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{"http://127.0.0.1:5000/cb", "http://localhost/cb", "http://[::1]:1/x", "HTTP://LOCALHOST:2/"} {
		p := writeFile(t, dir, "c.json", `{"mcp": {"a": {"type": "remote", "url": "https://x", "oauth": {"redirectUri": "`+u+`"}}}}`)
		if _, err := Load(LoadOptions{File: p}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.2/cb", "http://localhost.evil.com/cb", "http://0.0.0.0/cb", "http://localhost:0/", "http://localhost:99999/", "127.0.0.1:80"} {
		p := writeFile(t, dir, "c.json", `{"mcp": {"a": {"type": "remote", "url": "https://x", "oauth": {"redirectUri": "`+u+`"}}}}`)
		if _, err := Load(LoadOptions{File: p}); err == nil {
			t.Errorf("%s: accepted", u)
		}
	}
}

// TestDocExample keeps the package documentation's example valid.
func TestDocExample(t *testing.T) {
	l := newLayout(t)
	writeFile(t, l.configHome, "mcplink/mcplink.json", `{"mcp": {"noisy": {"type": "local", "command": ["noisy"]}}}`)
	writeFile(t, l.project, "mcplink.json", `{
  "mcp": {
    // a local server: a subprocess speaking MCP over stdio
    "files": {"type": "local", "command": ["npx", "-y", "some-server"],
              "environment": {"TOKEN": "{env:FILES_TOKEN}"}, "cwd": "tools"},
    // a remote server: Streamable HTTP (SSE fallback), OAuth when needed
    "jira": {"type": "remote", "url": "https://jira.example.com/mcp",
             "headers": {"X-Team": "core"}, "oauth": {"clientId": "abc"},
             "timeout": 10000},
    "noisy": {"enabled": false}, // switch off an entry inherited from the global file
  },
}`)
	cfg, err := Load(l.opts(map[string]string{"FILES_TOKEN": "t"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Servers["files"].Environment["TOKEN"] != "t" || cfg.Servers["jira"].OAuth.ClientID != "abc" ||
		cfg.Servers["noisy"].Enabled || cfg.Servers["noisy"].Command[0] != "noisy" {
		t.Errorf("unexpected config: %+v", cfg.Servers)
	}
}

func TestLoadMaxMessageSize(t *testing.T) {
	l := newLayout(t)
	f := writeFile(t, t.TempDir(), "m.json", `{"mcp": {
  "big": {"type": "remote", "url": "https://x.example/mcp", "maxMessageSize": 67108864},
  "std": {"type": "local", "command": ["s"]}
}}`)
	opts := l.opts(nil)
	opts.File = f
	cfg, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Servers["big"].EffectiveMaxMessageSize(); got != 64<<20 {
		t.Errorf("big: %d, want 64 MiB", got)
	}
	if got := cfg.Servers["std"].EffectiveMaxMessageSize(); got != 16<<20 {
		t.Errorf("std: %d, want the 16 MiB default", got)
	}
	bad := writeFile(t, t.TempDir(), "b.json", `{"mcp": {"s": {"type": "local", "command": ["s"], "maxMessageSize": 12}}}`)
	opts.File = bad
	_, err = Load(opts)
	if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `b.json:1:69: "maxMessageSize" must be a whole number of bytes from 1024`) {
		t.Errorf("err = %v", err)
	}
}

// TestLoadEnvFile: "envFile" is a path resolved as "cwd" is (substituted,
// "~/" expanded, relative to the file's directory, cleaned); Load never
// reads it — a missing file loads fine, and the values stay out of the
// entry (the manager reads it when it starts the server).
func TestLoadEnvFile(t *testing.T) {
	l := newLayout(t)
	dir := t.TempDir()
	writeFile(t, dir, "sub/.env", "SECRET=never-in-the-config\n")
	f := writeFile(t, dir, "m.json", `{"mcp": {
  "rel": {"type": "local", "command": ["s"], "envFile": "sub/../sub/.env", "environment": {"A": "1"}},
  "home": {"type": "local", "command": ["s"], "envFile": "~/x.env"},
  "subst": {"type": "local", "command": ["s"], "envFile": "{env:ENVDIR}/.env"},
  "missing": {"type": "local", "command": ["s"], "envFile": "/nonexistent/.env"},
  "abs": {"type": "local", "command": ["s"], "envFile": "`+filepath.ToSlash(filepath.Join(dir, "sub", ".env"))+`"}
}}`)
	opts := l.opts(map[string]string{"ENVDIR": "conf"})
	opts.File = f
	cfg, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"rel":     filepath.Join(dir, "sub", ".env"),
		"home":    filepath.Join(l.home, "x.env"),
		"subst":   filepath.Join(dir, "conf", ".env"),
		"missing": filepath.Clean("/nonexistent/.env"),
		"abs":     filepath.Join(dir, "sub", ".env"),
	} {
		e := cfg.Servers[name]
		if e.EnvFile != want {
			t.Errorf("%s: EnvFile = %q, want %q", name, e.EnvFile, want)
		}
		for k, v := range e.Environment {
			if k == "SECRET" || v == "never-in-the-config" {
				t.Errorf("%s: the envFile was read at load: %q", name, e.Environment)
			}
		}
	}
	if got := cfg.Servers["rel"].Environment; !reflect.DeepEqual(got, map[string]string{"A": "1"}) {
		t.Errorf("rel environment = %q", got)
	}
}

// LoadOptions.Foreign is offered the explicit file only; its entries are
// used as given, its errors reported with the file's.
func TestLoadForeign(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, ".mcp.json")
	if err := os.WriteFile(file, []byte(`{"mcpServers": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	calls := 0
	foreign := func(path string, data []byte) ([]*Entry, bool, error) {
		calls++
		if path != file || string(data) != `{"mcpServers": {}}` {
			t.Errorf("Foreign(%q, %q)", path, data)
		}
		return []*Entry{{Name: "x", Type: TypeLocal, Enabled: true, Command: []string{"x"}, Source: path}}, true, nil
	}
	cfg, err := Load(LoadOptions{File: file, Foreign: foreign})
	if err != nil || calls != 1 {
		t.Fatalf("Load: %v (calls %d)", err, calls)
	}
	if e := cfg.Servers["x"]; e == nil || e.Command[0] != "x" || cfg.Sources[0].Kind != KindForeign || cfg.Sources[0].Servers[0] != "x" {
		t.Fatalf("cfg = %+v %+v", cfg.Servers, cfg.Sources)
	}
	// Discovered files are never offered.
	if _, err := Load(LoadOptions{WorkDir: dir, Foreign: foreign}); err != nil || calls != 1 {
		t.Fatalf("discovery: %v (calls %d)", err, calls)
	}
	// Errors: every one of a list is kept.
	list := ErrorList{{Pos: Position{File: file}, Msg: "a"}, {Pos: Position{File: file}, Msg: "b"}}
	_, err = Load(LoadOptions{File: file, Foreign: func(string, []byte) ([]*Entry, bool, error) { return nil, true, list }})
	if err == nil || err.Error() != file+": a\n"+file+": b" || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	// ok false: read as mcplink's own.
	_, err = Load(LoadOptions{File: file, Foreign: func(string, []byte) ([]*Entry, bool, error) { return nil, false, nil }})
	if err != nil {
		t.Fatalf("own: %v", err)
	}
}
