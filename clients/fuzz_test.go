package clients

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcplink/mcplink/config"
)

// FuzzRead: any bytes under any of the known names read without a panic,
// and every error is a configuration error (exit 2).
func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	more, _ := filepath.Glob("testdata/*/.*/*")
	for _, p := range append(files, more...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"mcpServers": {"a": {"command": "${", "args": ["$A", "${input:x}"]}}}`))
	f.Add([]byte("[mcp_servers.a]\ncommand = \"x\"\n[mcp_servers.a.env]\nK = 1\n"))
	names := []string{".mcp.json", ".vscode/mcp.json", ".gemini/settings.json", "config.toml", "x"}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, n := range names {
			v := Vars{Getenv: func(string) (string, bool) { return "v", true }, Home: "/h", WorkDir: "/w",
				Input: func(VSCodeInput) (string, error) { return "i", nil }}
			_, _, err := ReadFile(n, data, v)
			if err != nil && !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("%s: error does not wrap ErrInvalid: %v", n, err)
			}
			v.Translate = true
			if _, err := Read(n, data, v); err != nil && !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("%s (translate): error does not wrap ErrInvalid: %v", n, err)
			}
		}
	})
}
