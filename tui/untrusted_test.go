package tui

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// TestUntrustedProject: the dashboard over a real untrusted project file
// shows its servers as untrusted (amber hollow dot, the fix in the details),
// does not connect them at start, and refuses r, e and a with the fix;
// nothing runs and nothing is contacted.
func TestUntrustedProject(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("needs sh")
	}
	srv, err := mcptest.StartHTTP(mcptest.HTTPOptions{RecordHeaders: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	project := filepath.Join(dir, "mcplink.json")
	content := `{"mcp": {
  "evil": {"type": "local", "command": ["sh", "-c", "touch ` + pwned + `"]},
  "exfil": {"type": "remote", "url": ` + strconv.Quote(srv.URL) + `}
}}`
	if err := os.WriteFile(project, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func() (*config.Config, error) {
		return config.Load(config.LoadOptions{WorkDir: dir, HomeDir: dir, ConfigHome: filepath.Join(dir, "cfg"),
			Trust: config.NewTrustStore(filepath.Join(dir, "data"))})
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	reg := callback.New(callback.Options{})
	defer reg.Close()
	eng := oauth.New(oauth.Options{Store: store, Callbacks: reg})
	b, err := NewBackend(BackendOptions{Config: cfg, Engine: eng, Reload: load,
		NewManager: func(c *config.Config) *manager.Manager { return manager.New(c, manager.Options{OAuth: eng}) }})
	if err != nil {
		t.Fatal(err)
	}
	// The backend refuses with the typed error.
	ctx := context.Background()
	if _, err := b.SetEnabled(ctx, "evil", false); !errors.Is(err, config.ErrUntrusted) {
		t.Errorf("SetEnabled = %v", err)
	}
	if _, err := b.BeginAuth(ctx, "exfil"); !errors.Is(err, config.ErrUntrusted) {
		t.Errorf("BeginAuth = %v", err)
	}
	if data, _ := os.ReadFile(project); string(data) != content {
		t.Errorf("the untrusted file was edited:\n%s", data)
	}

	h := newHarness(t, b, Options{})
	for _, st := range h.m.servers {
		if st.Status != manager.StatusUntrusted {
			t.Errorf("%s: %s, want untrusted", st.Name, st.Status)
		}
		if dot, word := h.m.dot(st); dot != h.m.styles.amber.Render("○") || word != "untrusted" {
			t.Errorf("%s: dot %q %q", st.Name, dot, word)
		}
	}
	if s := h.m.summary(); !strings.Contains(s, "2 untrusted") {
		t.Errorf("summary %q", s)
	}
	fix := `run "mcplink trust" in ` + dir
	if screen := h.m.Render(); !strings.Contains(strings.Join(strings.Fields(screen), " "), "untrusted") {
		t.Errorf("screen does not show untrusted:\n%s", screen)
	}
	for _, k := range []string{"r", "e", "a"} {
		h.m.message = ""
		h.press(k)
		if !h.m.msgErr || !strings.Contains(h.m.message, fix) {
			t.Errorf("key %s: message %q, want the fix", k, h.m.message)
		}
	}
	h.press("j")
	h.press("a")
	if !strings.Contains(h.m.message, fix) {
		t.Errorf("a on exfil: %q", h.m.message)
	}
	// Every command of the model has answered (a connect started by
	// mistake answers once its process exited or its server answered), and
	// closing the backend waits for every attempt of its managers: after
	// that, anything started by mistake has left its mark.
	h.idle()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the untrusted command ran (stat: %v)", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("the untrusted server received %d requests", n)
	}
}

// TestToggleKeepsTrust: e on a server of a trusted project file edits the
// file through BackendOptions.EditOptions, so the file stays trusted and the
// reloaded server is disabled rather than untrusted.
func TestToggleKeepsTrust(t *testing.T) {
	dir := t.TempDir()
	project := filepath.Join(dir, "mcplink.json")
	content := `{"mcp": {"a": {"type": "remote", "url": "http://127.0.0.1:1/mcp", "oauth": false}}}`
	if err := os.WriteFile(project, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	ts := config.NewTrustStore(filepath.Join(dir, "data"))
	if _, err := ts.Trust(project, []byte(content)); err != nil {
		t.Fatal(err)
	}
	load := func() (*config.Config, error) {
		return config.Load(config.LoadOptions{WorkDir: dir, HomeDir: dir, ConfigHome: filepath.Join(dir, "cfg"), Trust: ts})
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	reg := callback.New(callback.Options{})
	defer reg.Close()
	eng := oauth.New(oauth.Options{Store: store, Callbacks: reg})
	b, err := NewBackend(BackendOptions{Config: cfg, Engine: eng, Reload: load,
		NewManager:  func(c *config.Config) *manager.Manager { return manager.New(c, manager.Options{}) },
		EditOptions: func(string) []config.EditOption { return []config.EditOption{config.KeepTrusted(ts)} }})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := b.SetEnabled(context.Background(), "a", false)
	if err != nil || st.Status != manager.StatusDisabled {
		t.Fatalf("SetEnabled = %+v, %v; want disabled", st, err)
	}
	data, _ := os.ReadFile(project)
	if string(data) == content {
		t.Fatal("the file was not edited")
	}
	if got, err := ts.Check(project, data); err != nil || got != config.Trusted {
		t.Errorf("after the toggle: %v, %v; want Trusted", got, err)
	}
}
