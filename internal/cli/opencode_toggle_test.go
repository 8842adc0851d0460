package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
	"github.com/mcplink/mcplink/tui"
)

// TestTUIToggleNeverEditsOpencodeFiles: the TUI's enable toggle on a server
// from opencode's global file writes a bare override into mcplink's global
// file; opencode's file stays byte for byte as it was.
func TestTUIToggleNeverEditsOpencodeFiles(t *testing.T) {
	dir := t.TempDir()
	ocFile := filepath.Join(dir, ".config", "opencode", "opencode.json")
	body := []byte(`{"$schema": "https://opencode.ai/config.json", "theme": "x",
  "mcp": {"a": {"type": "remote", "url": "http://127.0.0.1:1/mcp", "oauth": false}}}`)
	if err := os.MkdirAll(filepath.Dir(ocFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ocFile, body, 0o644); err != nil {
		t.Fatal(err)
	}
	f := NewFactory(nil, &bytes.Buffer{}, &bytes.Buffer{})
	f.HomeDir, f.WorkDir = dir, dir
	f.Getenv = func(k string) string {
		switch k {
		case "MCPLINK_DATA_DIR":
			return filepath.Join(dir, "data")
		case "MCPLINK_CREDENTIALS_STORE":
			return "file"
		}
		return ""
	}
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Servers["a"] == nil || cfg.Servers["a"].Source != ocFile {
		t.Fatalf("a not from opencode's file: %+v", cfg.Servers)
	}
	store, err := f.Store()
	if err != nil {
		t.Fatal(err)
	}
	reg := callback.New(callback.Options{})
	defer reg.Close()
	eng := oauth.New(oauth.Options{Store: store, Callbacks: reg})
	b, err := tui.NewBackend(tui.BackendOptions{Config: cfg, Engine: eng, Reload: f.Config,
		NewManager:  func(c *config.Config) *manager.Manager { return manager.New(c, manager.Options{}) },
		EditOptions: f.editOptions, EditFile: f.toggleFile})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := b.SetEnabled(context.Background(), "a", false)
	if err != nil || st.Status != manager.StatusDisabled {
		t.Fatalf("SetEnabled(false) = %+v, %v", st, err)
	}
	global := config.GlobalFile(filepath.Join(dir, ".config"))
	g, err := os.ReadFile(global)
	if err != nil || !strings.Contains(strings.Join(strings.Fields(string(g)), ""), `"a":{"enabled":false}`) {
		t.Fatalf("mcplink's global file: %q, %v", g, err)
	}
	if now, _ := os.ReadFile(ocFile); !bytes.Equal(now, body) {
		t.Fatalf("opencode's file was edited:\n%s", now)
	}
	if _, err := b.SetEnabled(context.Background(), "a", true); err != nil {
		t.Fatal(err)
	}
	if cfg, err := f.Config(); err != nil || !cfg.Servers["a"].Enabled {
		t.Fatalf("a not enabled again: %v", err)
	}
	if now, _ := os.ReadFile(ocFile); !bytes.Equal(now, body) {
		t.Fatal("opencode's file was edited")
	}
}
