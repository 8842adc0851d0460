package clients

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestFiles(t *testing.T) {
	j := filepath.Join
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	none := env(nil)
	home, wd := j("/", "home", "u"), j("/", "w")
	cases := []struct {
		client, goos string
		getenv       func(string) string
		want         []File
	}{
		{ClaudeCode, "linux", none, []File{{Path: j(home, ".claude.json"), Scope: "user"}, {Path: j(wd, ".mcp.json"), Project: true}, {Path: j(home, ".claude.json"), Project: true, Scope: "local"}}},
		{ClaudeCode, "darwin", env(map[string]string{"CLAUDE_CONFIG_DIR": "/cc"}), []File{{Path: j("/cc", ".claude.json"), Scope: "user"}, {Path: j(wd, ".mcp.json"), Project: true}, {Path: j("/cc", ".claude.json"), Project: true, Scope: "local"}}},
		{ClaudeDesktop, "darwin", none, []File{{Path: j(home, "Library", "Application Support", "Claude", "claude_desktop_config.json")}}},
		{ClaudeDesktop, "windows", env(map[string]string{"APPDATA": "/appdata"}), []File{{Path: j("/appdata", "Claude", "claude_desktop_config.json")}}},
		{ClaudeDesktop, "windows", none, []File{{Path: j(home, "AppData", "Roaming", "Claude", "claude_desktop_config.json")}}},
		{ClaudeDesktop, "linux", env(map[string]string{"XDG_CONFIG_HOME": "/xdg"}), []File{{Path: j("/xdg", "Claude", "claude_desktop_config.json")}}},
		{ClaudeDesktop, "linux", none, []File{{Path: j(home, ".config", "Claude", "claude_desktop_config.json")}}},
		{Cursor, "windows", none, []File{{Path: j(home, ".cursor", "mcp.json")}, {Path: j(wd, ".cursor", "mcp.json"), Project: true}}},
		{VSCode, "darwin", none, []File{{Path: j(home, "Library", "Application Support", "Code", "User", "mcp.json")}, {Path: j(wd, ".vscode", "mcp.json"), Project: true}}},
		{VSCode, "linux", none, []File{{Path: j(home, ".config", "Code", "User", "mcp.json")}, {Path: j(wd, ".vscode", "mcp.json"), Project: true}}},
		{VSCode, "windows", env(map[string]string{"APPDATA": "/appdata"}), []File{{Path: j("/appdata", "Code", "User", "mcp.json")}, {Path: j(wd, ".vscode", "mcp.json"), Project: true}}},
		{Windsurf, "darwin", none, []File{{Path: j(home, ".codeium", "windsurf", "mcp_config.json")}}},
		{Gemini, "linux", none, []File{{Path: j(home, ".gemini", "settings.json")}, {Path: j(wd, ".gemini", "settings.json"), Project: true}}},
		{Codex, "linux", none, []File{{Path: j(home, ".codex", "config.toml")}}},
		{Codex, "windows", env(map[string]string{"CODEX_HOME": "/ch"}), []File{{Path: j("/ch", "config.toml")}}},
	}
	for _, c := range cases {
		got, ok := Files(c.client, c.goos, c.getenv, home, wd)
		if !ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("Files(%s, %s) = %v, %v; want %v", c.client, c.goos, got, ok, c.want)
		}
	}
	if _, ok := Files("emacs", "linux", none, home, wd); ok {
		t.Error("an unknown client is known")
	}
	for _, n := range Names {
		if _, ok := Files(n, "linux", none, home, wd); !ok || !Known(n) {
			t.Errorf("%s is in Names but not in Files", n)
		}
	}
	// In the home directory a project file that is the user's is listed once.
	if got, _ := Files(Cursor, "linux", none, home, home); !reflect.DeepEqual(got, []File{{Path: j(home, ".cursor", "mcp.json")}}) {
		t.Errorf("workDir = home: %v", got)
	}
	// No home and no workDir: nothing relative to them.
	if got, _ := Files(Cursor, "linux", none, "", ""); len(got) != 0 {
		t.Errorf("no home: %v", got)
	}
}
