package clients

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/config"
)

// TestReadEnvFile reads the envFile samples: VS Code's
// "${workspaceFolder}/.env" and a path relative to the workspace, and
// Cursor's path relative to its file; the explicit "env" wins, a null in
// it removes the envFile's value, and the values are taken literally.
func TestReadEnvFile(t *testing.T) {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	vars := Vars{Getenv: envOf("DB_URL_OVERRIDE", "postgres://override/db"), Home: "/home/user", WorkDir: "/elsewhere"}
	fromFile := map[string]string{
		"API_KEY":   "sk-test-123",
		"DB_URL":    "postgres://localhost/dev",
		"GREETING":  "hello # not a comment",
		"MULTI":     "line one\nline two",
		"BACKTICK":  `raw \n kept`,
		"SPACED":    "padded value",
		"EMPTY":     "",
		"LOG_LEVEL": "debug", // "env" wins over the file's "info"
	}
	vs := readSample(t, abs("testdata/envfile/.vscode/mcp.json"), vars)
	if got := vs["memory"].Environment; !maps.Equal(got, fromFile) {
		t.Errorf("memory env = %q\nwant %q", got, fromFile)
	}
	if got, want := vs["relative"].Environment, map[string]string{"PORT": "8080"}; !maps.Equal(got, want) {
		t.Errorf("relative env = %q, want %q", got, want)
	}
	cursor := readSample(t, abs("testdata/envfile/.cursor/mcp.json"), vars)
	want := maps.Clone(fromFile)
	want["LOG_LEVEL"] = "info"
	want["UNWANTED"] = "should not reach the server"
	want["DB_URL"] = "postgres://override/db"
	if got := cursor["db"].Environment; !maps.Equal(got, want) {
		t.Errorf("db env = %q\nwant %q", got, want)
	}
}

// TestParseEnvFile covers what the sample does not: line endings,
// separators, escaped quotes, later lines winning, nothing expanded.
func TestParseEnvFile(t *testing.T) {
	got, err := parseEnvFile([]byte("A=1\r\nB: two\rexport  C = 3\n  # indented comment\nD=\"say \\\"hi\\\"\"\nA=again\nE=${HOME}/x\n=novalue\nF='it''s'\nG=\"\\r\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "again", "B": "two", "C": "3", "D": `say \"hi\"`, "E": "${HOME}/x", "F": "it''s", "G": "\r"}
	if !maps.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if _, err := parseEnvFile([]byte("A=1\nB=x\x00y\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("NUL: err = %v", err)
	}
	if got, err := parseEnvFile(nil); err != nil || len(got) != 0 {
		t.Errorf("empty: %v, %v", got, err)
	}
}

// TestEnvFileErrors: a missing file, one over the bound and a directory
// are errors naming the server and the file, and import refuses to copy
// an envFile (its values would land in mcplink's config).
func TestEnvFileErrors(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.env")
	if err := os.WriteFile(big, []byte("A="+strings.Repeat("x", maxEnvFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, ".vscode", "mcp.json")
	for _, c := range []struct {
		envFile, want string
		vars          Vars
	}{
		{"${workspaceFolder}/missing.env", filepath.Join(dir, "missing.env") + ` does not exist; create it or remove "envFile"`, Vars{}},
		{big, big + " is larger than 1048576 bytes", Vars{}},
		{".", dir + " is a directory, not a regular file", Vars{}},
		{"${env:NOPE}/x.env", "the environment variable NOPE is not set", Vars{}},
		{"${workspaceFolder}/.env", `"envFile" cannot be copied`, Vars{Translate: true}},
	} {
		data := `{"servers": {"s": {"command": "x", "envFile": "` + filepath.ToSlash(c.envFile) + `"}}}`
		res, err := Read(file, []byte(data), c.vars)
		if err != nil {
			t.Fatalf("%s: %v", c.envFile, err)
		}
		if len(res.Servers) != 0 || !strings.Contains(res.Skipped["s"], c.want) {
			t.Errorf("%s: servers %d, skipped %q; want it to contain %q", c.envFile, len(res.Servers), res.Skipped["s"], c.want)
		}
		if len(res.Problems) == 0 || !errors.Is(res.Problems, config.ErrInvalid) || !strings.Contains(res.Problems.Error(), `server "s"`) {
			t.Errorf("%s: problems %v", c.envFile, res.Problems)
		}
	}
	// A remote server's envFile is not used (VS Code's is for stdio).
	res, err := Read(file, []byte(`{"servers": {"r": {"type": "http", "url": "https://x/mcp", "envFile": "missing.env"}}}`), Vars{})
	if err != nil || len(res.Servers) != 1 || len(res.Problems) != 0 {
		t.Errorf("remote with envFile: %+v, %v", res, err)
	}
}
