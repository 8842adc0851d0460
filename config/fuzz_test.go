package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// seedConfigs seeds FuzzEdit; FuzzLoad's seeds are the files under
// testdata/fuzz/FuzzLoad (the same texts plus broken ones).
var seedConfigs = []string{
	`{"mcp": {"a": {"type": "local", "command": ["x", "{env:A}"], "environment": {"K": "{file:secret.txt}"}, "cwd": "~/w", "envFile": "e/../.env", "timeout": 10}}}`,
	"// c\n{\n  \"mcp\": {\n    \"r\": {\"type\": \"remote\", \"url\": \"https://x/mcp\", \"oauth\": {\"clientId\": \"c\", \"callbackPort\": 1, \"redirectUri\": \"http://127.0.0.1:1/cb\"}}, // t\n  },\n}\n",
	`{"theme": 1, "mcp": {"a": {"enabled": false}, "b": {"type": "remote", "url": "http://[::1]:9/", "oauth": false, "headers": {"h": "v"}}}}`,
	"{\"mcp\": {\n  /* x */ \"a\": {\"type\": \"local\", \"command\": [\"a\"],},\n  // y\n}}",
}

func fuzzEnv(k string) (string, bool) {
	switch k {
	case "A":
		return "alpha", true
	case "EMPTY":
		return "", true
	}
	return "", false
}

// checkLoadResult asserts the loader's contract for any input.
func checkLoadResult(t *testing.T, path string, data []byte, cfg *Config, err error) {
	t.Helper()
	lines := strings.Count(string(data), "\n") + 1
	if err != nil {
		if cfg != nil {
			t.Fatal("both a config and an error")
		}
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("error does not wrap ErrInvalid: %v", err)
		}
		var list ErrorList
		if !errors.As(err, &list) {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, want *Error or ErrorList", err)
			}
			list = ErrorList{e}
		}
		for _, e := range list {
			if e.Pos.File != path || e.Pos.Line < 1 || e.Pos.Line > lines || e.Pos.Col < 1 {
				t.Fatalf("bad position %+v (file has %d lines): %v", e.Pos, lines, e)
			}
			if !strings.HasPrefix(e.Error(), e.Pos.String()+": ") || e.Msg == "" {
				t.Fatalf("bad message %q", e.Error())
			}
		}
		return
	}
	for name, e := range cfg.Servers {
		if e.Name != name || e.Source != path || e.Pos.File != path || e.Pos.Line < 1 || e.Pos.Line > lines || e.Timeout < 0 {
			t.Fatalf("bad entry %q: %+v", name, e)
		}
		switch e.Type {
		case TypeLocal:
			if len(e.Command) == 0 || (e.Cwd != "" && !filepath.IsAbs(e.Cwd)) || (e.EnvFile != "" && !filepath.IsAbs(e.EnvFile)) {
				t.Fatalf("bad local entry %+v", e)
			}
		case TypeRemote:
			if !isHTTPURL(e.URL, false) || (e.OAuth == nil) == !e.OAuthDisabled {
				t.Fatalf("bad remote entry %+v", e)
			}
		default:
			t.Fatalf("bad type in %+v", e)
		}
	}
}

// FuzzLoad feeds arbitrary bytes to the loader, which must never panic and
// must either return a valid Config or positioned errors wrapping
// ErrInvalid. Valid entries must survive a MarshalEntry/AddEntry/Load round
// trip unchanged.
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte(" s3 \n"), 0o644); err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(dir, "mcplink.json")
	rt := filepath.Join(dir, "roundtrip.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(LoadOptions{File: path, HomeDir: dir, Getenv: fuzzEnv})
		checkLoadResult(t, path, data, cfg, err)
		if err != nil {
			return
		}
		os.Remove(rt)
		for name, e := range cfg.Servers {
			b, err := MarshalEntry(e)
			if err != nil {
				t.Fatalf("MarshalEntry(%+v): %v", e, err)
			}
			if strings.Contains(string(b), "{env:") || strings.Contains(string(b), "{file:") {
				continue // would be substituted again
			}
			if err := AddEntry(rt, name, e, false); err != nil {
				t.Fatalf("AddEntry(%q): %v", name, err)
			}
		}
		back, err := Load(LoadOptions{File: rt, HomeDir: dir, Getenv: fuzzEnv})
		if err != nil {
			if os.IsNotExist(errors.Unwrap(err)) || !fileExists(rt) {
				return
			}
			t.Fatalf("reload: %v\n%s", err, readString(t, rt))
		}
		for name, got := range back.Servers {
			want := *cfg.Servers[name]
			g := *got
			want.Source, want.Pos, g.Source, g.Pos = "", Position{}, "", Position{}
			if !reflect.DeepEqual(&g, &want) {
				t.Fatalf("round trip of %q:\n got %+v\nwant %+v", name, g, want)
			}
		}
	})
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// FuzzEdit checks that AddEntry, SetEnabled and RemoveEntry on any file that
// loads keep every other entry as it was and never write a broken file.
func FuzzEdit(f *testing.F) {
	for _, s := range seedConfigs {
		f.Add([]byte(s), "a")
		f.Add([]byte(s), "new")
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "mcplink.json")
	opts := LoadOptions{File: path, HomeDir: dir, Getenv: fuzzEnv}
	added := &Entry{Type: TypeLocal, Command: []string{"added"}, Enabled: true}
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		before, err := Load(opts)
		if err != nil {
			return
		}
		if name == "" || !utf8.ValidString(name) {
			if err := AddEntry(path, name, added, true); !errors.Is(err, ErrInvalid) {
				t.Fatalf("AddEntry(%q) = %v, want ErrInvalid", name, err)
			}
			return
		}
		others := func(cfg *Config) map[string]Entry {
			m := map[string]Entry{}
			for n, e := range cfg.Servers {
				if n != name {
					c := *e
					c.Pos = Position{}
					m[n] = c
				}
			}
			return m
		}
		steps := []struct {
			op  string
			run func() error
			on  bool // whether name must exist and be enabled afterwards
		}{
			{"add", func() error { return AddEntry(path, name, added, true) }, true},
			{"disable", func() error { return SetEnabled(path, name, false) }, false},
			{"enable", func() error { return SetEnabled(path, name, true) }, true},
		}
		for _, s := range steps {
			if err := s.run(); err != nil {
				t.Fatalf("%s %q: %v", s.op, name, err)
			}
			after, err := Load(opts)
			if err != nil {
				t.Fatalf("after %s %q: %v\n%s", s.op, name, err, readString(t, path))
			}
			if e := after.Servers[name]; e == nil || e.Enabled != s.on || !reflect.DeepEqual(e.Command, added.Command) {
				t.Fatalf("after %s: entry %+v", s.op, e)
			}
			if !reflect.DeepEqual(others(before), others(after)) {
				t.Fatalf("after %s %q other entries changed:\n%s", s.op, name, readString(t, path))
			}
		}
		if err := RemoveEntry(path, name); err != nil {
			t.Fatal(err)
		}
		after, err := Load(opts)
		if err != nil {
			t.Fatalf("after remove: %v\n%s", err, readString(t, path))
		}
		if after.Servers[name] != nil || !reflect.DeepEqual(others(before), others(after)) {
			t.Fatalf("after remove %q:\n%s", name, readString(t, path))
		}
	})
}
