package clients

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
)

func TestOpencodeDirs(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	c, d := OpencodeDirs(get, "/home/u")
	if c != filepath.FromSlash("/home/u/.config/opencode") || d != filepath.FromSlash("/home/u/.local/share/opencode") {
		t.Fatalf("defaults: %s %s", c, d)
	}
	env["XDG_CONFIG_HOME"], env["XDG_DATA_HOME"] = "/x/c", "/x/d"
	c, d = OpencodeDirs(get, "/home/u")
	if c != filepath.FromSlash("/x/c/opencode") || d != filepath.FromSlash("/x/d/opencode") || OpencodeAuthFile(d) != filepath.FromSlash("/x/d/opencode/mcp-auth.json") {
		t.Fatalf("XDG: %s %s", c, d)
	}
}

// TestReadOpencodeAuth reads a file in opencode's shape (McpAuth.Entry),
// with an entry that does not decode, one without serverUrl, extra fields.
func TestReadOpencodeAuth(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mcp-auth.json")
	body := `{
  "notion": {
    "clientInfo": {"clientId": "c1", "clientSecret": "s1", "clientIdIssuedAt": 1700000000, "clientSecretExpiresAt": 0},
    "serverUrl": "https://mcp.notion.com/mcp",
    "tokens": {"accessToken": "at", "refreshToken": "rt", "expiresAt": 1900000000.25, "scope": "read"},
    "futureField": {"x": 1}
  },
  "broken": {"tokens": "not an object"},
  "nourl": {"tokens": {"accessToken": "a"}},
  "pending": {"codeVerifier": "v", "oauthState": "s", "serverUrl": "https://p.example/mcp"}
}`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	entries, skipped, err := ReadOpencodeAuth(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 || skipped["broken"] == "" {
		t.Fatalf("entries %v skipped %v", entries, skipped)
	}
	c, ok := entries["notion"].Credentials()
	if !ok {
		t.Fatal("notion not usable")
	}
	want := time.Unix(1900000000, 250000000).UTC()
	if c.ServerURL != "https://mcp.notion.com/mcp" || c.From != Opencode || c.Token.AccessToken != "at" || c.Token.RefreshToken != "rt" ||
		!c.Token.Expiry.Equal(want) || c.Token.Scope != "read" || c.Token.TokenType != "Bearer" ||
		c.Client.ClientID != "c1" || c.Client.ClientSecret != "s1" || !c.Client.Dynamic || !c.Client.ClientSecretExpiresAt.IsZero() ||
		!c.Client.RegisteredAt.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("converted: %+v token %+v client %+v", c, c.Token, c.Client)
	}
	if _, ok := entries["nourl"].Credentials(); ok {
		t.Error("an entry without serverUrl must not be usable (opencode's getForUrl ignores it)")
	}
	if _, ok := entries["pending"].Credentials(); ok {
		t.Error("an entry with only a pending flow holds nothing to use")
	}

	r := OpencodeAuth{File: file}
	if _, err := r.Load(context.Background(), "pending"); !errors.Is(err, authstore.ErrNotFound) {
		t.Errorf("Load(pending) err = %v", err)
	}
	all, err := r.List(context.Background())
	if err != nil || len(all) != 1 || all["notion"] == nil {
		t.Fatalf("List = %v, %v", all, err)
	}

	// A missing file is empty; a non-object or a directory is an error for
	// ReadOpencodeAuth and empty for the Reader.
	if e, _, err := ReadOpencodeAuth(filepath.Join(dir, "none.json")); err != nil || len(e) != 0 {
		t.Fatalf("missing: %v %v", e, err)
	}
	if err := os.WriteFile(file, []byte(`[1]`), 0o600); err != nil {
		t.Fatal(err)
	}
	var fe *AuthFileError
	if _, _, err := ReadOpencodeAuth(file); !errors.As(err, &fe) {
		t.Fatalf("array: err = %v", err)
	}
	if _, _, err := ReadOpencodeAuth(dir); !errors.As(err, &fe) {
		t.Fatalf("directory: err = %v", err)
	}
	if all, err := r.List(context.Background()); err != nil || len(all) != 0 {
		t.Fatalf("unreadable file should be empty for the reader: %v %v", all, err)
	}
}
