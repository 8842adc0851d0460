package clients

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/envfile"
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

// TestEnvFileErrors: a missing file, one over the bound and a directory
// are errors naming the server and the file.
func TestEnvFileErrors(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.env")
	if err := os.WriteFile(big, []byte("A="+strings.Repeat("x", envfile.MaxSize)), 0o600); err != nil {
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

// TestImportEnvFileReference: for import (Vars.Translate) an envFile is
// copied as a reference — the absolute path, resolved as --config resolves
// it, in Entry.EnvFile — and never read (a path that does not exist is
// fine), so none of its values reach Environment; a reference import keeps
// ({env:X}) is left unresolved. A VS Code null in "env", which removes a
// variable of the file, cannot be said in mcplink's config: skipped, named.
func TestImportEnvFileReference(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, ".vscode", "mcp.json")
	vars := Vars{Translate: true, Home: "/home/u", Getenv: envOf("SECRET_DIR", "/never/used")}
	for _, c := range []struct{ envFile, want string }{
		{"${workspaceFolder}/.env", filepath.Join(dir, ".env")},
		{"conf/../x.env", filepath.Join(dir, "x.env")},
		{"~/.env", filepath.Join("/home/u", ".env")},
		{"${env:SECRET_DIR}/.env", "{env:SECRET_DIR}/.env"},
	} {
		data := `{"servers": {"s": {"command": "x", "env": {"A": "1"}, "envFile": "` + c.envFile + `"}}}`
		res, err := Read(file, []byte(data), vars)
		if err != nil || len(res.Problems) != 0 || len(res.Servers) != 1 {
			t.Fatalf("%s: %+v, %v", c.envFile, res, err)
		}
		e := res.Servers[0]
		if e.EnvFile != c.want || !maps.Equal(e.Environment, map[string]string{"A": "1"}) {
			t.Errorf("%s: EnvFile %q, Environment %q; want %q and only A", c.envFile, e.EnvFile, e.Environment, c.want)
		}
	}
	res, err := Read(file, []byte(`{"servers": {"s": {"command": "x", "env": {"B": null, "A": null}, "envFile": ".env"}}}`), vars)
	if err != nil || len(res.Servers) != 0 || !strings.Contains(res.Skipped["s"], `"env" "A" is null, which removes the envFile's value`) {
		t.Errorf("null with envFile: %+v, %v", res, err)
	}
}
