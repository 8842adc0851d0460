package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// TestLoadErrors checks the exact "file:line:col: message" text of every
// kind of config error. {F} stands for the file's path.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"syntax double comma", `{"mcp": {"a": {"type": "local",, }}}`,
			[]string{`{F}:1:32: syntax error: invalid character ',' at start of value`}},
		{"syntax truncated", "{\n  \"mcp\": {\n    \"a\": {\"type\": \"local\"",
			[]string{`{F}:3:26: syntax error: parsing object after value: unexpected end of file`}},
		{"syntax garbage after", "{}\nx",
			[]string{`{F}:2:1: syntax error: invalid character 'x' after top-level value`}},
		{"syntax bad literal on line 3", "{\n \"mcp\": {\n  \"a\": {\"type\": \"local\", /* c */ \"command\": [nope]}}}",
			[]string{`{F}:3:46: syntax error: invalid literal: nope`}},
		{"top level array", `[1]`,
			[]string{`{F}:1:1: top level must be an object, got array`}},
		{"mcp array", `{"mcp": []}`,
			[]string{`{F}:1:9: "mcp" must be an object mapping server names to entries, got array`}},
		{"entry string", `{"mcp": {"a": "npx"}}`,
			[]string{`{F}:1:15: server "a" must be an object, got string`}},
		{"empty name", `{"mcp": {"": {"type": "local", "command": ["x"]}}}`,
			[]string{`{F}:1:10: server name must not be empty`}},
		{"duplicate server", "{\"mcp\": {\n\"a\": {\"type\": \"local\", \"command\": [\"x\"]},\n\"a\": {\"type\": \"local\", \"command\": [\"y\"]}}}",
			[]string{`{F}:3:1: duplicate server "a"`}},
		{"duplicate mcp", `{"mcp": {}, "mcp": {}}`,
			[]string{`{F}:1:13: duplicate key "mcp"`}},
		{"duplicate field", `{"mcp": {"a": {"type": "local", "command": ["x"], "command": ["y"]}}}`,
			[]string{`{F}:1:51: duplicate field "command"`}},
		{"unknown field with suggestion", `{"mcp": {"a": {"type": "local", "command": ["x"], "enviroment": {}}}}`,
			[]string{`{F}:1:51: unknown field "enviroment"; did you mean "environment"?`}},
		{"misspelt required field reported once", `{"mcp": {"a": {"type": "local", "comand": ["x"]}}}`,
			[]string{`{F}:1:33: unknown field "comand"; did you mean "command"?`}},
		{"misspelt type reported once", `{"mcp": {"a": {"tpye": "local", "command": ["x"]}}}`,
			[]string{`{F}:1:16: unknown field "tpye"; did you mean "type"?`}},
		{"unknown field without suggestion", `{"mcp": {"a": {"type": "remote", "url": "https://x", "banana": 1}}}`,
			[]string{`{F}:1:54: unknown field "banana"`}},
		{"remote field on local", `{"mcp": {"a": {"type": "local", "command": ["x"], "url": "https://x"}}}`,
			[]string{`{F}:1:51: "url" is only valid for remote servers (this one has "type": "local")`}},
		{"local field on remote", `{"mcp": {"a": {"type": "remote", "url": "https://x", "command": ["x"]}}}`,
			[]string{`{F}:1:54: "command" is only valid for local servers (this one has "type": "remote")`}},
		{"missing type", `{"mcp": {"a": {"command": ["x"]}}}`,
			[]string{`{F}:1:10: server "a" is missing "type"; set it to "local" or "remote"`}},
		{"bad type", `{"mcp": {"a": {"type": "stdio", "command": ["x"]}}}`,
			[]string{`{F}:1:24: "type" must be "local" or "remote", got "stdio"`}},
		{"type number", `{"mcp": {"a": {"type": 1}}}`,
			[]string{`{F}:1:24: "type" must be "local" or "remote", got number`}},
		{"timeout string", `{"mcp": {"a": {"type": "local", "command": ["x"], "timeout": "5s"}}}`,
			[]string{`{F}:1:62: "timeout" must be a number of milliseconds, got string`}},
		{"timeout fraction", `{"mcp": {"a": {"type": "local", "command": ["x"], "timeout": 1.5}}}`,
			[]string{`{F}:1:62: "timeout" must be a positive whole number of milliseconds, got 1.5`}},
		{"timeout zero", `{"mcp": {"a": {"type": "local", "command": ["x"], "timeout": 0}}}`,
			[]string{`{F}:1:62: "timeout" must be a positive whole number of milliseconds, got 0`}},
		{"timeout negative", `{"mcp": {"a": {"type": "local", "command": ["x"], "timeout": -10}}}`,
			[]string{`{F}:1:62: "timeout" must be a positive whole number of milliseconds, got -10`}},
		{"timeout overflow", `{"mcp": {"a": {"type": "local", "command": ["x"], "timeout": 1e300}}}`,
			[]string{`{F}:1:62: "timeout" must be a positive whole number of milliseconds, got 1e300`}},
		{"enabled string", `{"mcp": {"a": {"type": "local", "command": ["x"], "enabled": "no"}}}`,
			[]string{`{F}:1:62: "enabled" must be true or false, got string`}},
		{"bare enabled wrong type", `{"mcp": {"a": {"enabled": 0}}}`,
			[]string{`{F}:1:27: "enabled" must be true or false, got number`}},
		{"missing command", `{"mcp": {"a": {"type": "local"}}}`,
			[]string{`{F}:1:10: server "a" is missing "command"; set it to the program and its arguments, e.g. ["npx", "-y", "some-mcp-server"]`}},
		{"command string", `{"mcp": {"a": {"type": "local", "command": "npx -y x"}}}`,
			[]string{`{F}:1:44: "command" must be an array of strings, got string`}},
		{"command empty", `{"mcp": {"a": {"type": "local", "command": []}}}`,
			[]string{`{F}:1:44: "command" must not be empty; give the program and its arguments, e.g. ["npx", "-y", "some-mcp-server"]`}},
		{"command element number", `{"mcp": {"a": {"type": "local", "command": ["x", 2]}}}`,
			[]string{`{F}:1:50: each element of "command" must be a string, got number`}},
		{"environment array", `{"mcp": {"a": {"type": "local", "command": ["x"], "environment": ["A=1"]}}}`,
			[]string{`{F}:1:66: "environment" must be an object of strings, got array`}},
		{"environment value number", `{"mcp": {"a": {"type": "local", "command": ["x"], "environment": {"A": 1}}}}`,
			[]string{`{F}:1:72: "environment" value "A" must be a string, got number`}},
		{"cwd number", `{"mcp": {"a": {"type": "local", "command": ["x"], "cwd": 1}}}`,
			[]string{`{F}:1:58: "cwd" must be a string, got number`}},
		{"envFile number", `{"mcp": {"a": {"type": "local", "command": ["x"], "envFile": 1}}}`,
			[]string{`{F}:1:62: "envFile" must be a string, got number`}},
		{"envFile on a remote server", `{"mcp": {"a": {"type": "remote", "url": "https://x", "envFile": ".env"}}}`,
			[]string{`{F}:1:54: "envFile" is only valid for local servers (this one has "type": "remote")`}},
		{"envFile misspelt", `{"mcp": {"a": {"type": "local", "command": ["x"], "envfile": ".env"}}}`,
			[]string{`{F}:1:51: unknown field "envfile"; did you mean "envFile"?`}},
		{"envFile unset variable", `{"mcp": {"a": {"type": "local", "command": ["x"], "envFile": "{env:NOPE}/.env"}}}`,
			[]string{`{F}:1:62: server "a": environment variable NOPE is not set (used as {env:NOPE}); set it or change the config`}},
		{"missing url", `{"mcp": {"a": {"type": "remote"}}}`,
			[]string{`{F}:1:10: server "a" is missing "url"; set it to the server's http(s) endpoint`}},
		{"url scheme", `{"mcp": {"a": {"type": "remote", "url": "ftp://x/y"}}}`,
			[]string{`{F}:1:41: "url" must be an absolute http or https URL, got "ftp://x/y"`}},
		{"url relative", `{"mcp": {"a": {"type": "remote", "url": "/mcp"}}}`,
			[]string{`{F}:1:41: "url" must be an absolute http or https URL, got "/mcp"`}},
		{"url unparsable", `{"mcp": {"a": {"type": "remote", "url": "http://[::1"}}}`,
			[]string{`{F}:1:41: "url" must be an absolute http or https URL, got "http://[::1"`}},
		{"url number", `{"mcp": {"a": {"type": "remote", "url": 5}}}`,
			[]string{`{F}:1:41: "url" must be a string, got number`}},
		{"headers value bool", `{"mcp": {"a": {"type": "remote", "url": "https://x", "headers": {"X": true}}}}`,
			[]string{`{F}:1:71: "headers" value "X" must be a string, got boolean`}},
		{"oauth true", `{"mcp": {"a": {"type": "remote", "url": "https://x", "oauth": true}}}`,
			[]string{`{F}:1:63: "oauth": true is not valid; omit "oauth" for automatic OAuth, or give an object such as {"clientId": "..."}`}},
		{"oauth string", `{"mcp": {"a": {"type": "remote", "url": "https://x", "oauth": "yes"}}}`,
			[]string{`{F}:1:63: "oauth" must be an object or false, got string`}},
		{"oauth unknown field", `{"mcp": {"a": {"type": "remote", "url": "https://x", "oauth": {"clientID": "c"}}}}`,
			[]string{`{F}:1:64: unknown field "clientID" in "oauth"; did you mean "clientId"?`}},
		{"oauth field type", `{"mcp": {"a": {"type": "remote", "url": "https://x", "oauth": {"scope": ["a"]}}}}`,
			[]string{`{F}:1:73: "scope" must be a string, got array`}},
		{"callbackPort zero", `{"mcp": {"a": {"type": "remote", "url": "https://x", "oauth": {"callbackPort": 0}}}}`,
			[]string{`{F}:1:80: "callbackPort" must be a port number from 1 to 65535, got 0`}},
		{"callbackPort too big", `{"mcp": {"a": {"type": "remote", "url": "https://x", "oauth": {"callbackPort": 65536}}}}`,
			[]string{`{F}:1:80: "callbackPort" must be a port number from 1 to 65535, got 65536`}},
		{"callbackPort string", `{"mcp": {"a": {"type": "remote", "url": "https://x", "oauth": {"callbackPort": "8080"}}}}`,
			[]string{`{F}:1:80: "callbackPort" must be a port number, got string`}},
		{"redirectUri https", `{"mcp": {"a": {"type": "remote", "url": "https://x", "oauth": {"redirectUri": "https://127.0.0.1/cb"}}}}`,
			[]string{`{F}:1:79: "redirectUri" must be an absolute http URL on a loopback host (127.0.0.1, localhost or [::1]), got "https://127.0.0.1/cb"`}},
		{"redirectUri not loopback", `{"mcp": {"a": {"type": "remote", "url": "https://x", "oauth": {"redirectUri": "http://example.com/cb"}}}}`,
			[]string{`{F}:1:79: "redirectUri" must be an absolute http URL on a loopback host (127.0.0.1, localhost or [::1]), got "http://example.com/cb"`}},
		{"redirectUri port mismatch", `{"mcp": {"a": {"type": "remote", "url": "https://x", "oauth": {"callbackPort": 1, "redirectUri": "http://[::1]:2/cb"}}}}`,
			[]string{`{F}:1:98: "redirectUri" port 2 does not match "callbackPort" 1; make them equal or drop one`}},
		{"clientMetadataUrl relative", `{"mcp": {"a": {"type": "remote", "url": "https://x", "oauth": {"clientMetadataUrl": "x"}}}}`,
			[]string{`{F}:1:85: "clientMetadataUrl" must be an absolute http or https URL, got "x"`}},
		{"url after substitution shows the text as written, not the secret", `{"mcp": {"a": {"type": "remote", "url": "{env:SECRET_URL}"}}}`,
			[]string{`{F}:1:41: "url" must be an absolute http or https URL, got "{env:SECRET_URL}" (before substitution)`}},
		{"bare enable without base", `{"mcp": {"a": {"enabled": true}}}`,
			[]string{`{F}:1:10: server "a" only sets "enabled" but no earlier config file defines it; add "type" and its settings`}},
		{"unset variable", "{\"mcp\": {\n  \"gh\": {\"type\": \"remote\", \"url\": \"https://x\", \"headers\": {\"Authorization\": \"Bearer {env:GH_TOKEN}\"}}}}",
			[]string{`{F}:2:77: server "gh": environment variable GH_TOKEN is not set (used as {env:GH_TOKEN}); set it or change the config`}},
		{"missing file substitution", `{"mcp": {"a": {"type": "local", "command": ["x", "{file:nope.txt}"]}}}`,
			[]string{`{F}:1:50: server "a": cannot read {file:nope.txt}: stat {D}/nope.txt: no such file or directory`}},
		{"several problems, all reported in order", "{\"mcp\": {\n  \"b\": {\"type\": \"remote\", \"url\": 1},\n  \"a\": {\"type\": \"local\", \"command\": [\"{env:X}\"], \"timeout\": true}}}",
			[]string{
				`{F}:2:34: "url" must be a string, got number`,
				`{F}:3:38: server "a": environment variable X is not set (used as {env:X}); set it or change the config`,
				`{F}:3:61: "timeout" must be a number of milliseconds, got boolean`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "mcplink.json", tc.in)
			cfg, err := Load(LoadOptions{File: path, HomeDir: dir, Getenv: env(map[string]string{"SECRET_URL": "sk-live-123"})})
			if err == nil {
				t.Fatalf("Load succeeded with %d servers, want errors", len(cfg.Servers))
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			want := strings.NewReplacer("{F}", path, "{D}", dir).Replace(strings.Join(tc.want, "\n"))
			if got := err.Error(); got != want {
				t.Errorf("error mismatch\n got: %s\nwant: %s", got, want)
			}
			if strings.Contains(err.Error(), "sk-live-123") {
				t.Errorf("error leaks a substituted secret: %v", err)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Pos.File != path || ce.Pos.Line < 1 || ce.Pos.Col < 1 {
				t.Errorf("errors.As(*Error) = %+v, want a positioned error in %s", ce, path)
			}
			if len(tc.want) > 1 {
				var list ErrorList
				if !errors.As(err, &list) || len(list) != len(tc.want) {
					t.Errorf("want an ErrorList of %d, got %T %v", len(tc.want), err, err)
				}
			}
		})
	}
}

// TestLoadErrorRelativePath checks that a relative path is printed as given.
func TestLoadErrorRelativePath(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "sub/my.jsonc", `{"mcp": {"a": {"type": "nope"}}}`)
	t.Chdir(dir)
	_, err := Load(LoadOptions{File: filepath.Join("sub", "my.jsonc")})
	want := `sub/my.jsonc:1:24: "type" must be "local" or "remote", got "nope"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestLoadExplicitMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.json")
	_, err := Load(LoadOptions{File: path})
	want := path + ": config file does not exist; create it or point to an existing file"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error should wrap ErrInvalid and fs.ErrNotExist: %v", err)
	}
}

func TestLoadUnreadableDiscoveredFile(t *testing.T) {
	dir := t.TempDir()
	// A directory named like the config file cannot be read as a file.
	if err := os.MkdirAll(filepath.Join(dir, "home", ".config", "mcplink", "mcplink.json", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A discovered file that exists but cannot be read is an error (unlike a
	// missing one), and says why.
	global := filepath.Join(dir, "home", ".config", "mcplink", "mcplink.json")
	_, err := Load(LoadOptions{HomeDir: filepath.Join(dir, "home"), WorkDir: dir})
	want := global + ": config file is a directory, not a regular file; point to a regular file"
	if err == nil || err.Error() != want || !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want %s", err, want)
	}
	// So is an explicit one.
	_, err = Load(LoadOptions{File: filepath.Join(dir, "home")})
	if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "config file is a directory") {
		t.Fatalf("got %v", err)
	}
}
