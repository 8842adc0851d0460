package tui

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

func TestMain(m *testing.M) {
	mcptest.MaybeRunChild() // the "local" server is this binary re-executed
	if os.Getenv(envBrowser) != "" {
		os.Exit(runBrowser(os.Args[1:]))
	}
	// Local servers get the process's own environment (as a user's
	// do): make it one of the tests' own.
	testenv.Main(m)
}

// env is a real configuration with five servers, all on loopback:
//
//	broken     remote, nothing listening: failed
//	demo       remote, plain MCP server: connected
//	local      local, this test binary in mcptest stdio mode: connected
//	off        local, "enabled": false: disabled
//	protected  remote, OAuth-protected: needs_auth
type env struct {
	dir, cfgPath string
	as           *oauthtest.Server
	plain        *mcptest.HTTPServer
	port         int // protected's callback port
	cfgText      string
	getenv       func(string) (string, bool)
}

// newEnv starts the servers and writes the config. localCmd is the command
// of the local servers.
func newEnv(t *testing.T, localCmd []string, localEnv map[string]string) *env {
	t.Helper()
	return newEnvAS(t, localCmd, localEnv, oauthtest.Options{})
}

// newEnvAS is newEnv with protected's authorization server started with asOpts.
func newEnvAS(t *testing.T, localCmd []string, localEnv map[string]string, asOpts oauthtest.Options) *env {
	t.Helper()
	dir := t.TempDir()
	plain, err := mcptest.StartHTTP(mcptest.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	as, err := oauthtest.Start(asOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	e := &env{dir: dir, as: as, plain: plain, port: testenv.FreePort(t), cfgPath: filepath.Join(dir, "mcplink.json")}
	q := func(ss []string) string {
		var parts []string
		for _, s := range ss {
			parts = append(parts, fmt.Sprintf("%q", s))
		}
		return strings.Join(parts, ", ")
	}
	envJSON := "{}"
	if len(localEnv) > 0 {
		var parts []string
		for k, v := range localEnv {
			parts = append(parts, fmt.Sprintf("%q: %q", k, v))
		}
		envJSON = "{" + strings.Join(parts, ", ") + "}"
	}
	e.cfgText = fmt.Sprintf(`{
  // servers for the tui tests
  "mcp": {
    "broken": { "type": "remote", "url": "http://127.0.0.1:%d/mcp", "timeout": 5000 },
    "demo": { "type": "remote", "url": %q }, // the plain one
    "local": { "type": "local", "command": [%s], "environment": %s },
    "off": {
      // switched off for now
      "type": "local", "command": [%s], "environment": %s,
      "enabled": false,
    },
    "protected": { "type": "remote", "url": %q, "oauth": { "callbackPort": %d } },
  },
}
`, testenv.FreePort(t), plain.URL, q(localCmd), envJSON, q(localCmd), envJSON, as.MCPURL, e.port)
	if err := os.WriteFile(e.cfgPath, []byte(e.cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	e.getenv = func(k string) (string, bool) { return "", false }
	return e
}

func (e *env) load() (*config.Config, error) {
	return config.Load(config.LoadOptions{File: e.cfgPath, WorkDir: e.dir, ConfigHome: e.dir, HomeDir: e.dir, Getenv: e.getenv})
}

// backend builds the real ManagerBackend over e. open is the "browser"; it
// runs concurrently with the flow (wait for BrowserDone before reading what
// it recorded).
func (e *env) backend(t *testing.T, open func(string) error) *ManagerBackend {
	t.Helper()
	if open == nil {
		return e.backendCtx(t, nil)
	}
	return e.backendCtx(t, func(_ context.Context, u string) error { return open(u) })
}

// backendCtx is backend with an opener that takes the flow's context.
func (e *env) backendCtx(t *testing.T, open func(context.Context, string) error) *ManagerBackend {
	t.Helper()
	cfg, err := e.load()
	if err != nil {
		t.Fatal(err)
	}
	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: filepath.Join(e.dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	reg := callback.New(callback.Options{})
	t.Cleanup(func() { reg.Close() })
	eng := oauth.New(oauth.Options{Store: store, Callbacks: reg})
	b, err := NewBackend(BackendOptions{
		Config:     cfg,
		NewManager: func(c *config.Config) *manager.Manager { return manager.New(c, manager.Options{OAuth: eng}) },
		Engine:     eng,
		Reload:     e.load,
		OpenURL:    open,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// harness runs a Model like bubbletea does, without a terminal: commands run
// in goroutines and their messages are fed to Update on the test goroutine.
type harness struct {
	t    *testing.T
	m    *Model
	msgs chan tea.Msg
	done chan struct{}
	wg   sync.WaitGroup
	// seen counts the messages Update got, by type ("tui.authDoneMsg").
	seen      map[string]int
	quit      bool
	clipboard []string
}

func newHarness(t *testing.T, b Backend, opts Options) *harness {
	h := &harness{t: t, m: New(b, opts), msgs: make(chan tea.Msg, 64), done: make(chan struct{}), seen: map[string]int{}}
	t.Cleanup(func() {
		h.m.Shutdown()
		close(h.done)
		if c, ok := b.(interface{ Close() error }); ok {
			_ = c.Close()
		}
		h.wg.Wait()
	})
	h.run(h.m.Init())
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	return h
}

// run executes cmd (and, recursively, batches) in goroutines.
func (h *harness) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		msg := cmd()
		select {
		case h.msgs <- msg:
		case <-h.done:
		}
	}()
}

// send delivers msg to Update and runs the returned command.
func (h *harness) send(msg tea.Msg) {
	switch msg := msg.(type) {
	case nil:
		return
	case tea.BatchMsg:
		for _, c := range msg {
			h.run(c)
		}
		return
	case tea.QuitMsg:
		h.quit = true
		return
	}
	if s := fmt.Sprintf("%T", msg); s == "tea.setClipboardMsg" {
		h.clipboard = append(h.clipboard, fmt.Sprint(msg))
		return
	}
	h.seen[fmt.Sprintf("%T", msg)]++
	_, cmd := h.m.Update(msg)
	h.run(cmd)
}

// press sends key presses: "j", "enter", "esc", "ctrl+c", "up", ...
func (h *harness) press(keys ...string) {
	for _, k := range keys {
		h.send(keyPress(k))
	}
}

func keyPress(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	case "ctrl+u":
		return tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl}
	}
	r := []rune(k)
	if len(r) != 1 {
		panic("keyPress: unknown key " + k)
	}
	return tea.KeyPressMsg{Code: r[0], Text: k}
}

// until processes messages until cond holds or the timeout passes.
func (h *harness) until(what string, timeout time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.After(timeout)
	for !cond() {
		select {
		case msg := <-h.msgs:
			h.send(msg)
		case <-deadline:
			h.t.Fatalf("timed out after %s waiting for %s; screen:\n%s", timeout, what, h.m.Render())
		}
	}
}

// idle processes messages until every command the model tracks (m.ops:
// connects, auth-status loads, logouts, …) has answered. A flow's op lasts
// as long as the flow, so idle is for when none is pending.
func (h *harness) idle() {
	h.t.Helper()
	h.until("the model's commands to answer", 10*time.Second, func() bool { return len(h.m.ops) == 0 })
}

func (h *harness) status(name string) manager.Status {
	st, _ := h.m.lookup(name)
	return st.Status
}

// ready waits until every server reached its initial final state.
func (h *harness) ready() {
	h.t.Helper()
	want := map[string]manager.Status{
		"broken": manager.StatusFailed, "demo": manager.StatusConnected, "local": manager.StatusConnected,
		"off": manager.StatusDisabled, "protected": manager.StatusNeedsAuth,
	}
	h.until("the initial states", 20*time.Second, func() bool {
		for n, s := range want {
			if h.status(n) != s {
				return false
			}
		}
		_, ok := h.m.auth["protected"]
		return ok && len(h.m.busy) == 0
	})
}

func (h *harness) selectServer(name string) {
	h.t.Helper()
	h.press("up", "up", "up", "up", "up", "up")
	for range 10 {
		if h.m.selected == name {
			return
		}
		h.press("j")
	}
	h.t.Fatalf("could not select %s", name)
}

// screen returns the rendered screen.
func (h *harness) screen() string { return h.m.Render() }

func mustContain(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Fatalf("screen lacks %q:\n%s", sub, s)
		}
	}
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func teaSize(w, h int) tea.WindowSizeMsg { return tea.WindowSizeMsg{Width: w, Height: h} }
