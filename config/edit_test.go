package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noTempFiles fails if an edit left temporary files behind.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

const commented = `// mcplink config — keep this header
{
  "$schema": "https://opencode.ai/config.json", // opencode key
  /* servers */
  "mcp": {
    // the file server
    "fs": {
      "type": "local",
      "command": ["fs", "--root", "/"], // root!
    },
    "gh": {"type": "remote", "url": "https://gh.example/mcp"} // github
    // "old": {"type": "local", "command": ["old"]},
  },
  "theme":   "dark"   /* odd spacing */
}
`

var remoteEntry = &Entry{Type: TypeRemote, URL: "https://new.example/mcp", Enabled: true}

func TestAddEntryKeepsComments(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "mcplink.jsonc", commented)
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := AddEntry(p, "new", remoteEntry, false); err != nil {
		t.Fatal(err)
	}
	got := readString(t, p)
	want := `// mcplink config — keep this header
{
  "$schema": "https://opencode.ai/config.json", // opencode key
  /* servers */
  "mcp": {
    // the file server
    "fs": {
      "type": "local",
      "command": ["fs", "--root", "/"], // root!
    },
    "gh": {"type": "remote", "url": "https://gh.example/mcp"}, // github
    // "old": {"type": "local", "command": ["old"]},
    "new": {
      "type": "remote",
      "url": "https://new.example/mcp"
    }
  },
  "theme":   "dark"   /* odd spacing */
}
`
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	// Everything before the insertion point (but the added comma) and after it
	// is byte-for-byte the original.
	cut := strings.Index(commented, " // github")
	if !strings.HasPrefix(got, commented[:cut]+",") {
		t.Error("prefix changed")
	}
	if tail := commented[strings.Index(commented, "  },\n  \"theme\""):]; !strings.HasSuffix(got, tail) {
		t.Error("suffix changed")
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, %v; want 0600 preserved", fi.Mode(), err)
	}
	noTempFiles(t, dir)

	cfg, err := Load(LoadOptions{File: p})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Names(); !reflect.DeepEqual(got, []string{"fs", "gh", "new"}) {
		t.Errorf("Names = %q", got)
	}

	// Adding again is refused, and the file is untouched.
	err = AddEntry(p, "new", remoteEntry, false)
	if want := `server "new" already exists in ` + p; err == nil || err.Error() != want || !errors.Is(err, ErrExists) {
		t.Errorf("got %v, want %s", err, want)
	}
	if readString(t, p) != got {
		t.Error("failed add changed the file")
	}
}

func TestAddEntryForceReplacesInPlace(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "mcplink.jsonc", commented)
	e := &Entry{Type: TypeLocal, Command: []string{"fs2"}, Enabled: false, Timeout: 1500 * time.Millisecond}
	if err := AddEntry(p, "fs", e, true); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(commented, `{
      "type": "local",
      "command": ["fs", "--root", "/"], // root!
    }`, `{
      "type": "local",
      "command": [
        "fs2"
      ],
      "enabled": false,
      "timeout": 1500
    }`, 1)
	if got := readString(t, p); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	// Replacing a one-line entry keeps it on one line.
	if err := AddEntry(p, "gh", remoteEntry, true); err != nil {
		t.Fatal(err)
	}
	want = strings.Replace(want, `"gh": {"type": "remote", "url": "https://gh.example/mcp"}`, `"gh": {"type": "remote", "url": "https://new.example/mcp"}`, 1)
	if got := readString(t, p); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestAddEntryCreatesFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	p := filepath.Join(dir, "mcplink.json")
	full := &Entry{
		Type: TypeRemote, URL: "https://x.example/mcp?a=<b>&c", Enabled: true, Timeout: 1500*time.Microsecond + 10*time.Second,
		Headers: map[string]string{"X-B": "2", "X-A": "{env:TOKEN}"},
		OAuth:   &OAuth{ClientID: "id", Scope: "a b", CallbackPort: 8123},
	}
	if err := AddEntry(p, "r", full, false); err != nil {
		t.Fatal(err)
	}
	want := `{
  "mcp": {
    "r": {
      "type": "remote",
      "url": "https://x.example/mcp?a=<b>&c",
      "headers": {
        "X-A": "{env:TOKEN}",
        "X-B": "2"
      },
      "oauth": {
        "clientId": "id",
        "scope": "a b",
        "callbackPort": 8123
      },
      "timeout": 10002
    }
  }
}
`
	if got := readString(t, p); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, %v; want 0644", fi.Mode(), err)
	}
	noTempFiles(t, dir)
}

// TestAddEntryRoundTrip: what AddEntry writes, Load reads back identically.
func TestAddEntryRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "mcplink.json")
	entries := map[string]*Entry{
		"loc": {Type: TypeLocal, Enabled: false, Timeout: 3 * time.Second, Command: []string{"npx", "-y", `we"ird\arg`},
			Environment: map[string]string{"A": "1", "B": ""}, Cwd: filepath.Join(dir, "run"), EnvFile: filepath.Join(dir, "run", ".env")},
		"rem": {Type: TypeRemote, Enabled: true, URL: "https://r.example/mcp", Headers: map[string]string{"H": "v"},
			OAuth: &OAuth{ClientID: "c", ClientSecret: "s", Scope: "x", CallbackPort: 9, RedirectURI: "http://127.0.0.1:9/cb", ClientMetadataURL: "https://r.example/m"}},
		"nooauth": {Type: TypeRemote, Enabled: true, URL: "http://localhost:1/", OAuthDisabled: true},
		"plain":   {Type: TypeRemote, Enabled: true, URL: "http://localhost:1/", OAuth: &OAuth{}},
	}
	for _, name := range []string{"loc", "rem", "nooauth", "plain"} {
		if err := AddEntry(p, name, entries[name], false); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := Load(LoadOptions{File: p})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range entries {
		got := *cfg.Servers[name]
		got.Source, got.Pos = "", Position{}
		w := *want
		w.Name = name
		if !reflect.DeepEqual(&got, &w) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, w)
		}
	}
}

func TestAddEntryLayouts(t *testing.T) {
	e := &Entry{Type: TypeLocal, Command: []string{"x"}, Enabled: true}
	tests := []struct{ name, in, want string }{
		{"no mcp key", "{\n\t\"theme\": \"dark\"\n}\n",
			"{\n\t\"theme\": \"dark\",\n\t\"mcp\": {\n\t\t\"n\": {\n\t\t\t\"type\": \"local\",\n\t\t\t\"command\": [\n\t\t\t\t\"x\"\n\t\t\t]\n\t\t}\n\t}\n}\n"},
		{"empty mcp with comment", "{\n  \"mcp\": {\n    // add servers here\n  }\n}",
			"{\n  \"mcp\": {\n    // add servers here\n    \"n\": {\n      \"type\": \"local\",\n      \"command\": [\n        \"x\"\n      ]\n    }\n  }\n}"},
		{"one-line object", `{"mcp": {"a": {"type": "local", "command": ["a"]}}}`,
			`{"mcp": {"a": {"type": "local", "command": ["a"]}, "n": {"type": "local", "command": ["x"]}}}`},
		{"trailing comma kept", "{\n  \"mcp\": {\n    \"a\": {\"type\": \"local\", \"command\": [\"a\"]},\n  },\n}\n",
			"{\n  \"mcp\": {\n    \"a\": {\"type\": \"local\", \"command\": [\"a\"]},\n    \"n\": {\n      \"type\": \"local\",\n      \"command\": [\n        \"x\"\n      ]\n    },\n  },\n}\n"},
		{"empty file", "\n", "{\n  \"mcp\": {\n    \"n\": {\n      \"type\": \"local\",\n      \"command\": [\n        \"x\"\n      ]\n    }\n  }\n}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "c.json", tc.in)
			if err := AddEntry(p, "n", e, false); err != nil {
				t.Fatal(err)
			}
			if got := readString(t, p); got != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			if _, err := Load(LoadOptions{File: p}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAddEntryRejects(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.json")
	bad := []*Entry{nil, {Type: "stdio"}, {Type: TypeLocal}, {Type: TypeRemote}, {Type: TypeLocal, Command: []string{"x"}, Timeout: -1}}
	for _, e := range bad {
		if err := AddEntry(p, "a", e, false); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: got %v", e, err)
		}
	}
	if err := AddEntry(p, "", remoteEntry, false); err == nil {
		t.Error("empty name accepted")
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rejected adds created the file: %v", err)
	}
	// A file with a syntax error is reported with its position, not rewritten.
	writeFile(t, dir, "c.json", "{\n  \"mcp\": {,}\n}")
	err := AddEntry(p, "a", remoteEntry, false)
	if want := p + ":2:11: syntax error: invalid character ',' at start of value"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	writeFile(t, dir, "c.json", `{"mcp": []}`)
	err = AddEntry(p, "a", remoteEntry, false)
	if want := p + `:1:9: "mcp" must be an object mapping server names to entries, got array`; err == nil || err.Error() != want || !errors.Is(err, ErrInvalid) {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestRemoveEntryKeepsComments(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "mcplink.jsonc", commented)
	if err := RemoveEntry(p, "fs"); err != nil {
		t.Fatal(err)
	}
	want := `// mcplink config — keep this header
{
  "$schema": "https://opencode.ai/config.json", // opencode key
  /* servers */
  "mcp": {
    "gh": {"type": "remote", "url": "https://gh.example/mcp"} // github
    // "old": {"type": "local", "command": ["old"]},
  },
  "theme":   "dark"   /* odd spacing */
}
`
	if got := readString(t, p); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	if err := RemoveEntry(p, "gh"); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(LoadOptions{File: p})
	if err != nil {
		t.Fatalf("%v\n%s", err, readString(t, p))
	}
	if len(cfg.Servers) != 0 {
		t.Errorf("servers left: %q", cfg.Names())
	}
	got := readString(t, p)
	if !strings.Contains(got, "\"mcp\": {\n    // \"old\"") {
		t.Errorf("comment inside the emptied object lost:\n%s", got)
	}
	for _, c := range []string{"// mcplink config — keep this header", "// opencode key", "/* servers */", `// "old"`, `"theme":   "dark"   /* odd spacing */`} {
		if !strings.Contains(got, c) {
			t.Errorf("lost %q:\n%s", c, got)
		}
	}
	noTempFiles(t, dir)

	err = RemoveEntry(p, "gh")
	if want := `server "gh" not found in ` + p + ` (it defines no servers)`; err == nil || err.Error() != want || !errors.Is(err, ErrNotFound) {
		t.Errorf("got %v, want %s", err, want)
	}
	missing := filepath.Join(dir, "none.json")
	err = RemoveEntry(missing, "gh")
	if want := `server "gh" not found: ` + missing + ` does not exist`; err == nil || err.Error() != want || !errors.Is(err, ErrNotFound) {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestRemoveEntryMiddleAndSuggestion(t *testing.T) {
	in := `{"mcp": {
  "a": {"type": "local", "command": ["a"]}, // a note
  // about b
  "b/x~": {"type": "local", "command": ["b"]}, // b note
  "c": {"type": "local", "command": ["c"]}
}}`
	p := writeFile(t, t.TempDir(), "c.json", in)
	err := RemoveEntry(p, "b/x")
	if want := `server "b/x" not found in ` + p + `; did you mean "b/x~"? (it defines: a, b/x~, c)`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if err := RemoveEntry(p, "b/x~"); err != nil {
		t.Fatal(err)
	}
	want := `{"mcp": {
  "a": {"type": "local", "command": ["a"]}, // a note
  "c": {"type": "local", "command": ["c"]}
}}`
	if got := readString(t, p); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestSetEnabled(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "c.json", `{
  "mcp": {
    "a": {
      "type": "local",
      "command": ["a"] // cmd
    },
    "b": {"type": "local", "command": ["b"], "enabled": false}
  }
}`)
	if err := SetEnabled(p, "a", false); err != nil {
		t.Fatal(err)
	}
	if err := SetEnabled(p, "b", true); err != nil {
		t.Fatal(err)
	}
	if err := SetEnabled(p, "global-one", false); err != nil {
		t.Fatal(err)
	}
	want := `{
  "mcp": {
    "a": {
      "type": "local",
      "command": ["a"], // cmd
      "enabled": false
    },
    "b": {"type": "local", "command": ["b"], "enabled": true},
    "global-one": {
      "enabled": false
    }
  }
}`
	if got := readString(t, p); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	// Enabling an entry without the key is a no-op (true is the default).
	before := readString(t, p)
	if err := SetEnabled(p, "a", true); err != nil {
		t.Fatal(err)
	}
	if err := SetEnabled(p, "a", false); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, p); got != before {
		t.Fatalf("got:\n%s\nwant:\n%s", got, before)
	}
	err := SetEnabled(p, "zzz", true)
	if err == nil || !errors.Is(err, ErrNotFound) {
		t.Errorf("enable unknown: %v", err)
	}
}

func TestEditFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	target := writeFile(t, dir, "real/mcplink.json", `{"mcp": {}}`)
	link := filepath.Join(dir, "mcplink.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := AddEntry(link, "n", remoteEntry, false); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("symlink replaced: %v %v", fi, err)
	}
	if !strings.Contains(readString(t, target), `"n"`) {
		t.Error("target not updated")
	}
}

func TestMarshalEntry(t *testing.T) {
	b, err := MarshalEntry(&Entry{Type: TypeRemote, URL: "https://x", Enabled: true, OAuthDisabled: true, Timeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"type\": \"remote\",\n  \"url\": \"https://x\",\n  \"oauth\": false,\n  \"timeout\": 1\n}"
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

func TestAddEntryCRLF(t *testing.T) {
	in := "{\r\n  // c\r\n  \"mcp\": {\r\n    \"a\": {\"type\": \"local\", \"command\": [\"a\"]} // a\r\n  }\r\n}\r\n"
	p := writeFile(t, t.TempDir(), "c.json", in)
	if err := AddEntry(p, "n", &Entry{Type: TypeLocal, Command: []string{"x"}, Enabled: true}, false); err != nil {
		t.Fatal(err)
	}
	want := "{\r\n  // c\r\n  \"mcp\": {\r\n    \"a\": {\"type\": \"local\", \"command\": [\"a\"]}, // a\r\n" +
		"    \"n\": {\r\n      \"type\": \"local\",\r\n      \"command\": [\r\n        \"x\"\r\n      ]\r\n    }\r\n  }\r\n}\r\n"
	if got := readString(t, p); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestRemoveLastEntryCollapses(t *testing.T) {
	p := writeFile(t, t.TempDir(), "c.json", "{\n  \"mcp\": {\n    // about a\n    \"a\": {\"enabled\": false}\n  },\n  \"x\": 1\n}\n")
	if err := RemoveEntry(p, "a"); err != nil {
		t.Fatal(err)
	}
	if got, want := readString(t, p), "{\n  \"mcp\": {},\n  \"x\": 1\n}\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// Concurrent edits of one file (several mcplink processes: add, remove, the
// TUI's enable toggle) are serialized: none is lost.
func TestConcurrentEditsLoseNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcplink.json")
	if err := os.WriteFile(path, []byte("{\n  // servers\n  \"mcp\": {}\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			e := &Entry{Type: TypeRemote, URL: fmt.Sprintf("http://127.0.0.1:%d/mcp", 1000+i), Enabled: true}
			errs <- AddEntry(path, fmt.Sprintf("s%02d", i), e, false)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Servers) != n {
		t.Fatalf("%d servers after %d concurrent adds: %v", len(cfg.Servers), n, cfg.Names())
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "// servers") {
		t.Fatalf("comment lost:\n%s", data)
	}
}

// SetMember and RemoveMember edit another client's file under any
// top-level key: new files are 0600, others keep their mode and bytes.
func TestSetRemoveMember(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", ".claude.json")
	changed, err := SetMember(path, "mcpServers", "x", []byte(`{"command": "a", "args": []}`))
	if err != nil || !changed {
		t.Fatalf("SetMember new: %v %v", changed, err)
	}
	if fi, err := os.Stat(path); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("new file: %v %v", fi, err)
	}
	orig := "{\n  // state\n  \"numStartups\": 3,\n  \"mcpServers\": {\"y\": {\"command\": \"b\"}}\n}\n"
	if err := os.WriteFile(path, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if changed, err := SetMember(path, "mcpServers", "x", []byte(`{"command": "a"}`)); err != nil || !changed {
		t.Fatalf("SetMember: %v %v", changed, err)
	}
	if changed, err := SetMember(path, "mcpServers", "x", []byte(`{ "command" : "a" }`)); err != nil || changed {
		t.Fatalf("SetMember equal: %v %v", changed, err)
	}
	if changed, err := RemoveMember(path, "mcpServers", "x"); err != nil || !changed {
		t.Fatalf("RemoveMember: %v %v", changed, err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != orig {
		t.Errorf("after set and remove:\n%s\nwant\n%s", data, orig)
	}
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 kept", fi.Mode().Perm())
	}
	if changed, err := RemoveMember(path, "mcpServers", "x"); err != nil || changed {
		t.Errorf("RemoveMember absent: %v %v", changed, err)
	}
	if err := os.WriteFile(path, []byte(`{"mcpServers": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := SetMember(path, "mcpServers", "x", []byte(`{}`)); err == nil || !strings.Contains(err.Error(), `"mcpServers" must be an object, got array`) {
		t.Errorf("array: %v", err)
	}
}
