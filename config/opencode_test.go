package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func remote(name, url string) string {
	return `{"mcp": {"` + name + `": {"type": "remote", "url": "` + url + `"}}}`
}

// TestOpencodeDiscoveryOrder checks the files and their precedence against
// opencode's loader: global config.json < opencode.json < opencode.jsonc <
// OPENCODE_CONFIG < project files from the worktree root down (per
// directory .json < .jsonc) < .opencode dirs < mcplink global < mcplink
// project; nothing above the worktree root (.git) is read.
func TestOpencodeDiscoveryOrder(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "home")
	cfgHome := filepath.Join(home, ".config")
	repo := filepath.Join(root, "repo")
	work := filepath.Join(repo, "a", "b")
	writeFiles(t, root, map[string]string{
		"opencode.json":                        remote("above", "https://above.example/mcp"), // above the worktree: not read
		"home/.config/opencode/config.json":    remote("s", "https://g1.example/mcp"),
		"home/.config/opencode/opencode.json":  remote("s", "https://g2.example/mcp"),
		"home/.config/opencode/opencode.jsonc": `{"theme": "x", "$schema": "y", "mcp": {"s": {"type": "remote", "url": "https://g3.example/mcp"}, "g": {"type": "remote", "url": "https://g.example/mcp"}}}`,
		"env/oc.json":                          remote("s", "https://env.example/mcp"),
		"repo/.git/HEAD":                       "ref: refs/heads/main\n",
		"repo/opencode.json":                   remote("s", "https://root.example/mcp"),
		"repo/a/opencode.jsonc":                remote("s", "https://a-jsonc.example/mcp"),
		"repo/a/opencode.json":                 remote("s", "https://a-json.example/mcp"),
		"repo/a/b/opencode.json":               remote("p", "https://p.example/mcp"),
		"repo/a/.opencode/opencode.json":       remote("d", "https://d.example/mcp"),
		"home/.config/mcplink/mcplink.json":    `{"mcp": {"g": {"enabled": false}}}`,
		"repo/a/b/mcplink.json":                remote("m", "https://m.example/mcp"),
	})
	opts := LoadOptions{WorkDir: work, ConfigHome: cfgHome, HomeDir: home,
		Opencode: &OpencodeOptions{ConfigHome: cfgHome, HomeDir: home, File: filepath.Join(root, "env/oc.json")}}
	want := []string{
		"home/.config/opencode/config.json", "home/.config/opencode/opencode.json", "home/.config/opencode/opencode.jsonc",
		"env/oc.json", "repo/opencode.json", "repo/a/opencode.json", "repo/a/opencode.jsonc", "repo/a/b/opencode.json",
		"repo/a/.opencode/opencode.json", "home/.config/mcplink/mcplink.json", "repo/a/b/mcplink.json",
	}
	// Untrusted project files first: only names; then trust them all.
	ts := NewTrustStore(filepath.Join(root, "data"))
	opts.Trust = ts
	cfg, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Servers["s"].Untrusted == nil || cfg.Servers["p"].Untrusted == nil || cfg.Servers["m"].Untrusted == nil {
		t.Fatalf("project servers should be untrusted placeholders: %+v", cfg.Servers)
	}
	pf := ProjectFiles(work)
	var rel []string
	for _, p := range pf {
		r, _ := filepath.Rel(root, p)
		rel = append(rel, r)
		data, _ := os.ReadFile(p)
		if _, err := ts.Trust(p, data); err != nil {
			t.Fatal(err)
		}
	}
	if wantPF := []string{"repo/opencode.json", "repo/a/opencode.json", "repo/a/opencode.jsonc", "repo/a/b/opencode.json", "repo/a/.opencode/opencode.json", "repo/a/b/mcplink.json"}; !slices.Equal(rel, wantPF) {
		t.Fatalf("ProjectFiles = %q, want %q", rel, wantPF)
	}
	cfg, err = Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range cfg.Sources {
		r, _ := filepath.Rel(root, s.Path)
		got = append(got, r)
		if s.Project != strings.HasPrefix(r, "repo/") || !s.Trusted {
			t.Errorf("%s: project %v trusted %v", r, s.Project, s.Trusted)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("sources:\n got %q\nwant %q", got, want)
	}
	// The nearest .jsonc wins among opencode's project files for "s".
	if u := cfg.Servers["s"].URL; u != "https://a-jsonc.example/mcp" {
		t.Errorf("s = %s, want the a/opencode.jsonc one", u)
	}
	if _, ok := cfg.Servers["above"]; ok {
		t.Error("a file above the worktree root was read")
	}
	if g := cfg.Servers["g"]; g == nil || g.Enabled || g.URL != "https://g.example/mcp" {
		t.Errorf("g should be opencode's entry switched off by mcplink.json: %+v", g)
	}
	for _, n := range []string{"p", "d", "m"} {
		if cfg.Servers[n] == nil || cfg.Servers[n].Untrusted != nil {
			t.Errorf("%s missing or untrusted", n)
		}
	}

	// OPENCODE_DISABLE_PROJECT_CONFIG: no opencode project files.
	opts.Opencode.DisableProject = true
	cfg, err = Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	if u := cfg.Servers["s"].URL; u != "https://env.example/mcp" {
		t.Errorf("with DisableProject s = %s, want OPENCODE_CONFIG's", u)
	}
}

// TestOpencodeUnknownFieldsWarn: unknown fields in opencode's files are
// warnings (the entry is used); the same in mcplink's file is an error.
func TestOpencodeUnknownFieldsWarn(t *testing.T) {
	root := t.TempDir()
	cfgHome := filepath.Join(root, ".config")
	body := `{"mcp": {"x": {"type": "remote", "url": "https://x.example/mcp", "newField": 1, "command": ["a"], "oauth": {"tokenEndpoint": "https://t"}}}}`
	writeFiles(t, root, map[string]string{".config/opencode/opencode.json": body})
	cfg, err := Load(LoadOptions{ConfigHome: cfgHome, Opencode: &OpencodeOptions{ConfigHome: cfgHome}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Servers["x"] == nil || cfg.Servers["x"].URL != "https://x.example/mcp" {
		t.Fatalf("x not loaded: %+v", cfg.Servers)
	}
	if len(cfg.Warnings) != 3 {
		t.Fatalf("warnings = %v, want 3", cfg.Warnings)
	}
	for _, w := range cfg.Warnings {
		if !strings.HasSuffix(w.Msg, "; mcplink ignores it") || w.Pos.Line != 1 {
			t.Errorf("warning %v", w)
		}
	}
	writeFiles(t, root, map[string]string{".config/mcplink/mcplink.json": body})
	if _, err := Load(LoadOptions{ConfigHome: cfgHome, Opencode: &OpencodeOptions{ConfigHome: cfgHome}}); err == nil || !strings.Contains(err.Error(), `mcplink.json:1:`) {
		t.Fatalf("mcplink.json with unknown fields: err = %v, want an error there", err)
	}
	// A value error stays an error, in opencode's files too.
	writeFiles(t, root, map[string]string{".config/mcplink/mcplink.json": `{}`, ".config/opencode/opencode.json": `{"mcp": {"x": {"type": "remote"}}}`})
	if _, err := Load(LoadOptions{ConfigHome: cfgHome, Opencode: &OpencodeOptions{ConfigHome: cfgHome}}); err == nil || !strings.Contains(err.Error(), `missing "url"`) {
		t.Fatalf("err = %v", err)
	}
}

// TestOpencodeDeepMerge: two of opencode's files defining one server merge
// as opencode's mergeDeep does (fields the later file sets win; headers,
// environment and oauth merge by key; arrays are replaced), while mcplink's
// own file replaces the entry whole.
func TestOpencodeDeepMerge(t *testing.T) {
	root := t.TempDir()
	cfgHome := filepath.Join(root, ".config")
	work := filepath.Join(root, "proj")
	writeFiles(t, root, map[string]string{
		".config/opencode/opencode.json": `{"mcp": {
			"r": {"type": "remote", "url": "https://a.example/mcp", "enabled": false, "headers": {"A": "1", "B": "1"},
			      "oauth": {"clientId": "c", "scope": "s1"}, "timeout": 1000},
			"l": {"type": "local", "command": ["a", "b"], "environment": {"X": "1"}},
			"k": {"type": "remote", "url": "https://k.example/mcp", "headers": {"A": "1"}}}}`,
		"proj/.git/HEAD": "x",
		"proj/opencode.json": `{"mcp": {
			"r": {"type": "remote", "url": "https://b.example/mcp", "headers": {"B": "2"}, "oauth": {"scope": "s2"}},
			"l": {"type": "local", "command": ["c"], "environment": {"Y": "2"}}}}`,
		".config/mcplink/mcplink.json": `{"mcp": {"k": {"type": "remote", "url": "https://k2.example/mcp"}}}`,
	})
	ts := NewTrustStore(filepath.Join(root, "data"))
	data, _ := os.ReadFile(filepath.Join(work, "opencode.json"))
	if _, err := ts.Trust(filepath.Join(work, "opencode.json"), data); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(LoadOptions{WorkDir: work, ConfigHome: cfgHome, Trust: ts, Opencode: &OpencodeOptions{ConfigHome: cfgHome}})
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Servers["r"]
	if r.URL != "https://b.example/mcp" || r.Enabled || r.Timeout != 1000*time.Millisecond ||
		r.Headers["A"] != "1" || r.Headers["B"] != "2" || r.OAuth.ClientID != "c" || r.OAuth.Scope != "s2" ||
		r.Source != filepath.Join(work, "opencode.json") {
		t.Errorf("r = %+v oauth %+v", r, r.OAuth)
	}
	l := cfg.Servers["l"]
	if !slices.Equal(l.Command, []string{"c"}) || l.Environment["X"] != "1" || l.Environment["Y"] != "2" {
		t.Errorf("l = %+v", l)
	}
	k := cfg.Servers["k"]
	if k.URL != "https://k2.example/mcp" || k.Headers != nil {
		t.Errorf("mcplink's file should replace k whole: %+v", k)
	}
}
