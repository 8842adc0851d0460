package envfile_test

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/internal/envfile"
	"github.com/mcplink/mcplink/internal/safefile"
)

// TestParse covers VS Code's rules: line endings, separators, export,
// comments, quotes, escaped quotes, later lines winning, nothing expanded,
// lines of no shape skipped.
func TestParse(t *testing.T) {
	got, err := envfile.Parse([]byte("A=1\r\nB: two\rexport  C = 3\n  # indented comment\nD=\"say \\\"hi\\\"\"\nA=again\nE=${HOME}/x\n=novalue\nF='it''s'\nG=\"\\r\"\nH=v # comment\nI=\"a # b\"\nnoseparator\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "again", "B": "two", "C": "3", "D": `say \"hi\"`, "E": "${HOME}/x", "F": "it''s", "G": "\r", "H": "v", "I": "a # b"}
	if !maps.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	var ne *envfile.NULError
	if _, err := envfile.Parse([]byte("A=1\nB=x\x00y\n")); !errors.As(err, &ne) || ne.Line != 2 || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("NUL: err = %v", err)
	}
	if got, err := envfile.Parse(nil); err != nil || len(got) != 0 {
		t.Errorf("empty: %v, %v", got, err)
	}
}

// TestRead: a regular file is parsed; a missing one wraps fs.ErrNotExist;
// one over MaxSize and a directory are the typed safefile errors.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, ".env")
	if err := os.WriteFile(ok, []byte("K=v\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := envfile.Read(ok); err != nil || got["K"] != "v" {
		t.Fatalf("Read = %v, %v", got, err)
	}
	if _, err := envfile.Read(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	big := filepath.Join(dir, "big.env")
	if err := os.WriteFile(big, []byte("A="+strings.Repeat("x", envfile.MaxSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	var tl *safefile.TooLargeError
	if _, err := envfile.Read(big); !errors.As(err, &tl) || tl.Limit != envfile.MaxSize {
		t.Errorf("big: %v", err)
	}
	var nr *safefile.NotRegularError
	if _, err := envfile.Read(dir); !errors.As(err, &nr) {
		t.Errorf("directory: %v", err)
	}
}
