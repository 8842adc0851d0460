package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadDeepNestingIsOneLineError: a million nested arrays (or objects)
// would overflow the parser's stack; the pre-scan turns them into one
// positioned error. Brackets inside strings and comments do not count, and
// nesting up to the bound is left to the parser.
func TestLoadDeepNestingIsOneLineError(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, body := range map[string]string{
		"arrays.json":  `{"mcp": ` + strings.Repeat("[", 1_000_000),
		"objects.json": `{"mcp": ` + strings.Repeat(`{"":`, 1_000_000), // 4 MB, under the size bound
	} {
		p := write(name, body)
		_, err := Load(LoadOptions{File: p})
		if err == nil || !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: err = %v, want an invalid-config error", name, err)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, p+":1:") || !strings.Contains(msg, "nested more than 1000 deep") {
			t.Errorf("%s: err = %q, want one line at file:1:col naming the bound", name, msg)
		}
		// add refuses to edit it the same way.
		if err := AddEntry(p, "x", &Entry{Type: TypeRemote, URL: "https://example.com/mcp"}, false); err == nil || !strings.Contains(err.Error(), "nested more than 1000 deep") {
			t.Errorf("%s: AddEntry err = %v", name, err)
		}
	}
	deepText := strings.Repeat("[{", 2000)
	p := write("quoted.jsonc", `{
  // `+deepText+`
  /* `+deepText+` */
  "mcp": {"s": {"type": "remote", "url": "https://example.com/mcp", "headers": {"X": "`+deepText+`\"[["}}}
}`)
	if _, err := Load(LoadOptions{File: p}); err != nil {
		t.Errorf("brackets in comments and strings were counted: %v", err)
	}
	p = write("at-bound.json", `{"mcp": {"s": {"type": "remote", "url": "https://example.com/mcp", "oauth": {"idp": `+
		strings.Repeat("[", MaxNesting-4)+strings.Repeat("]", MaxNesting-4)+`}}}}`)
	if _, err := Load(LoadOptions{File: p}); err == nil || strings.Contains(err.Error(), "nested more than") {
		t.Errorf("nesting at the bound: err = %v, want the parser's own verdict", err)
	}
}

// TestLoadFileOverSizeBound: a config file over 4 MiB is refused before it
// is parsed, naming the file and the bound.
func TestLoadFileOverSizeBound(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.json")
	body := `{"mcp": {}, "x": "` + strings.Repeat("a", 5<<20) + `"}`
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(LoadOptions{File: p})
	want := p + ": config file is larger than 4 MiB; mcplink reads config files up to that size"
	if err == nil || err.Error() != want || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want %s", err, want)
	}
}
