package tui

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testwait"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// localCmd runs this test binary as a stdio MCP server.
func localCmd(t *testing.T) ([]string, map[string]string) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe}, map[string]string{"MCPTEST_CHILD": "stdio"}
}

func setup(t *testing.T, open func(string) error, opts Options) (*env, *harness) {
	t.Helper()
	cmd, envv := localCmd(t)
	e := newEnv(t, cmd, envv)
	b := e.backend(t, open)
	h := newHarness(t, b, opts)
	h.ready()
	return e, h
}

func TestInitialScreen(t *testing.T) {
	_, h := setup(t, nil, Options{})
	s := ansi.Strip(h.screen())
	mustContain(t, s, "5 servers · 2 connected · 1 needs auth · 1 failed · 1 disabled",
		"broken", "failed", "demo", "connected", "local", "off", "disabled", "protected", "needs auth", "7 tools")
	// Details of the selected (first) server: the full error.
	mustContain(t, s, "Type", "remote", "URL", "Status", "Error")
	st, _ := h.m.lookup("broken")
	if st.Error == "" {
		t.Fatal("broken has no error")
	}
}

func TestNavigationKeys(t *testing.T) {
	_, h := setup(t, nil, Options{})
	if h.m.selected != "broken" {
		t.Fatalf("first selection = %q", h.m.selected)
	}
	h.press("j")
	if h.m.selected != "demo" {
		t.Fatalf("after j: %q", h.m.selected)
	}
	h.press("down", "down")
	if h.m.selected != "off" {
		t.Fatalf("after ↓↓: %q", h.m.selected)
	}
	h.press("k")
	if h.m.selected != "local" {
		t.Fatalf("after k: %q", h.m.selected)
	}
	h.press("up", "up", "up") // clamps at the top
	if h.m.selected != "broken" {
		t.Fatalf("after ↑↑↑: %q", h.m.selected)
	}
	h.press("j", "j", "j", "j", "j", "j") // clamps at the bottom
	if h.m.selected != "protected" {
		t.Fatalf("bottom: %q", h.m.selected)
	}
	mustContain(t, ansi.Strip(h.screen()), "› ● protected")
}

func TestAuthenticateFromTUI(t *testing.T) {
	e, h := setup(t, nil, Options{})
	h.selectServer("protected")
	h.press("a")
	h.until("the authorization URL", 10*time.Second, func() bool { return h.m.flow != nil && h.m.flow.flow != nil })
	u := h.m.flow.flow.URL()
	s := ansi.Strip(h.screen())
	mustContain(t, s, "Signing in to protected", "left", "c copy · p paste · esc cancel", "signing in")
	// The full URL is on screen (hard-wrapped).
	if !strings.Contains(flatDetails(h), u) {
		t.Fatalf("URL %s not on screen:\n%s", u, s)
	}
	// c copies it (OSC 52 through tea.SetClipboard).
	h.press("c")
	h.until("the clipboard", 5*time.Second, func() bool { return len(h.clipboard) > 0 })
	if len(h.clipboard) != 1 || h.clipboard[0] != u {
		t.Fatalf("clipboard = %q, want the URL", h.clipboard)
	}
	// The user signs in in the browser.
	go oauthtest.FollowRedirects(t.Context(), u) //nolint:errcheck // checked through the result below
	h.until("protected connected", 15*time.Second, func() bool {
		a := h.m.auth["protected"]
		return h.status("protected") == manager.StatusConnected && a.st.State == oauth.StateAuthenticated && h.m.flow == nil && h.m.afterAuth == ""
	})
	s = ansi.Strip(h.screen())
	mustContain(t, s, "✓ Signed in to protected; connected, 3 tools", "authenticated · expires in", "Scopes", "mcp:read", "3 connected")
	if !portFree(e.port) {
		t.Fatal("callback port still bound after the flow finished")
	}
}

// flatDetails is the details pane content joined without line breaks.
func flatDetails(h *harness) string {
	_, right := h.m.layout()
	var b strings.Builder
	for _, l := range h.m.detailLines(right) {
		b.WriteString(strings.TrimRight(ansi.Strip(l), " "))
	}
	return b.String()
}

func TestAuthEscCancelsAndFreesPort(t *testing.T) {
	var opened []string
	e, h := setup(t, func(u string) error { opened = append(opened, u); return nil }, Options{})
	h.selectServer("protected")
	h.press("a")
	h.until("the flow", 10*time.Second, func() bool { return h.m.flow != nil && h.m.flow.flow != nil })
	browserOpened(t, h)
	if len(opened) != 1 || opened[0] != h.m.flow.flow.URL() {
		t.Fatalf("browser opened %q", opened)
	}
	if portFree(e.port) {
		t.Fatal("callback port not bound during the flow")
	}
	h.press("a") // a second flow is refused
	mustContain(t, h.m.message, "in progress")
	h.press("esc")
	if h.m.flow != nil {
		t.Fatal("flow still active after esc")
	}
	mustContain(t, h.m.message, "cancelled")
	testwait.For(t, 3*time.Second, "the callback port to be free after esc", func() bool { return portFree(e.port) })
	// The cancelled flow's Wait answers; nothing it leaves behind may
	// change the server or bring the flow back.
	h.until("the cancelled flow's answer", 10*time.Second, func() bool { return h.seen["tui.authDoneMsg"] > 0 })
	h.idle()
	if h.status("protected") != manager.StatusNeedsAuth || h.m.flow != nil {
		t.Fatalf("after cancel: status %s flow %v", h.status("protected"), h.m.flow)
	}
}

func TestAuthRefusedForLocalAndCopyWithoutFlow(t *testing.T) {
	_, h := setup(t, nil, Options{})
	h.selectServer("local")
	h.press("a")
	if h.m.flow != nil || !h.m.msgErr {
		t.Fatal("a on a local server started a flow")
	}
	mustContain(t, h.m.message, "local server")
	h.press("c")
	mustContain(t, h.m.message, "Nothing to copy")
	if len(h.clipboard) != 0 {
		t.Fatal("copied without a flow")
	}
}

func TestFlowCountdownAndTimeout(t *testing.T) {
	now := time.Now()
	_, h := setup(t, nil, Options{FlowTimeout: 1500 * time.Millisecond, Now: func() time.Time { return now }})
	h.selectServer("protected")
	h.press("a")
	h.until("the flow", 10*time.Second, func() bool { return h.m.flow != nil && h.m.flow.flow != nil })
	mustContain(t, ansi.Strip(h.screen()), "0:02 left")
	now = now.Add(time.Second)
	mustContain(t, ansi.Strip(h.screen()), "0:01 left")
	h.until("the flow timeout", 10*time.Second, func() bool { return h.m.flow == nil })
	mustContain(t, h.m.message, "No sign-in to protected completed within 1.5s")
}

func TestLogoutConfirm(t *testing.T) {
	e, h := setup(t, func(u string) error {
		go oauthtest.FollowRedirects(t.Context(), u) //nolint:errcheck // the result is the status below
		return nil
	}, Options{})
	h.selectServer("protected")
	h.press("a")
	h.until("signed in", 15*time.Second, func() bool {
		return h.status("protected") == manager.StatusConnected && h.m.auth["protected"].st.State == oauth.StateAuthenticated
	})
	h.press("l")
	mustContain(t, ansi.Strip(h.screen()), "Log out of protected?", "y/n")
	h.press("n")
	if h.m.mode.kind == modeConfirmLogout || h.m.auth["protected"].st.State != oauth.StateAuthenticated {
		t.Fatal("n did not cancel the logout")
	}
	h.press("l", "y")
	h.until("logged out", 15*time.Second, func() bool {
		return h.m.auth["protected"].st.State == oauth.StateNotAuthenticated && h.status("protected") == manager.StatusNeedsAuth
	})
	want := "Signed out of protected: tokens revoked at the authorization server and deleted; client registration kept"
	if h.m.message != want || h.m.msgErr {
		t.Fatalf("message = %q (error %v), want %q", h.m.message, h.m.msgErr, want)
	}
	mustContain(t, ansi.Strip(h.screen()), "not signed in")
	mustContain(t, nospace(flatDetails(h)), nospace("Logout Signed out of protected: tokens revoked at the authorization server and deleted"))
	if n := e.as.Stats().Revocations; n != 2 {
		t.Fatalf("the authorization server revoked %d tokens, want 2 (refresh and access)", n)
	}
	if c := e.storedCreds(t, "protected"); c.Client == nil || c.Token != nil {
		t.Fatalf("after logout: client %+v token %+v, want the registration kept and no token", c.Client, c.Token)
	}
	h.selectServer("local")
	h.press("l")
	if h.m.mode.kind == modeConfirmLogout {
		t.Fatal("logout offered for a local server")
	}
}

func TestReconnect(t *testing.T) {
	e, h := setup(t, nil, Options{})
	h.selectServer("demo")
	h.press("r")
	if h.m.busy["demo"] != "connecting" {
		t.Fatalf("busy = %v", h.m.busy)
	}
	h.until("demo reconnected", 10*time.Second, func() bool {
		return h.status("demo") == manager.StatusConnected && len(h.m.busy) == 0
	})
	// A server that went away fails on reconnect, with the full error shown.
	e.plain.Close()
	h.press("r")
	h.until("demo failed", 15*time.Second, func() bool { return h.status("demo") == manager.StatusFailed })
	st, _ := h.m.lookup("demo")
	if !strings.Contains(nospace(flatDetails(h)), nospace(st.Error)) {
		t.Fatalf("full error %q not in details:\n%s", st.Error, h.screen())
	}
	h.selectServer("off")
	h.press("r")
	mustContain(t, h.m.message, "disabled; press e")
}

func TestEnableDisableWritesConfig(t *testing.T) {
	e, h := setup(t, nil, Options{})
	h.selectServer("off")
	h.press("e")
	h.until("off connected", 15*time.Second, func() bool { return h.status("off") == manager.StatusConnected })
	data, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, keep := range []string{"// servers for the tui tests", "// switched off for now", "// the plain one", `"enabled": true`} {
		if !strings.Contains(text, keep) {
			t.Fatalf("config lacks %q after enabling:\n%s", keep, text)
		}
	}
	h.selectServer("demo")
	h.press("e")
	h.until("demo disabled", 10*time.Second, func() bool { return h.status("demo") == manager.StatusDisabled })
	data, _ = os.ReadFile(e.cfgPath)
	if !strings.Contains(string(data), "// the plain one") {
		t.Fatalf("comment lost:\n%s", data)
	}
	cfg, err := e.load()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Servers["demo"].Enabled || !cfg.Servers["off"].Enabled {
		t.Fatalf("config not updated: demo %v off %v", cfg.Servers["demo"].Enabled, cfg.Servers["off"].Enabled)
	}
	mustContain(t, ansi.Strip(h.screen()), "Disabled demo", "2 connected", "1 disabled")
}

func TestFilter(t *testing.T) {
	_, h := setup(t, nil, Options{})
	h.press("/", "p", "r", "o")
	if h.m.mode.kind != modeFilter {
		t.Fatal("not filtering")
	}
	mustContain(t, ansi.Strip(h.screen()), "/pro")
	vis := h.m.visible()
	if len(vis) != 1 || vis[0].Name != "protected" || h.m.selected != "protected" {
		t.Fatalf("visible = %v selected %q", vis, h.m.selected)
	}
	h.press("q") // typed into the filter, not quitting
	if h.quit || h.m.filter != "proq" {
		t.Fatalf("q while filtering: quit %v filter %q", h.quit, h.m.filter)
	}
	mustContain(t, ansi.Strip(h.screen()), `No server matches "proq"`)
	h.press("backspace", "enter")
	if h.m.mode.kind == modeFilter || h.m.filter != "pro" {
		t.Fatalf("after enter: filtering %v filter %q", h.m.mode.kind == modeFilter, h.m.filter)
	}
	s := ansi.Strip(h.screen())
	if strings.Contains(s, "broken") {
		t.Fatalf("filtered-out row shown:\n%s", s)
	}
	h.press("esc")
	if h.m.filter != "" || len(h.m.visible()) != 5 {
		t.Fatal("esc did not clear the filter")
	}
}

func TestToolsPaneAndScroll(t *testing.T) {
	_, h := setup(t, nil, Options{})
	h.send(resize(80, 12))
	h.selectServer("demo")
	mustContain(t, ansi.Strip(h.screen()), "7 (enter shows them)")
	h.press("enter")
	s := ansi.Strip(h.screen())
	mustContain(t, s, "enter hides them", "add")
	full := flatDetails(h)
	for _, tool := range []string{"echo", "add", "fail", "slow", "grow", "progress", "pick"} {
		if !strings.Contains(full, tool) {
			t.Fatalf("tool %s missing from the details:\n%s", tool, full)
		}
	}
	st, _ := h.m.lookup("demo")
	if d := st.Tools[0].Description; d == "" || !strings.Contains(nospace(full), nospace(d)) {
		t.Fatalf("description %q missing", d)
	}
	h.press("pgdown")
	if h.m.scroll == 0 {
		t.Fatal("pgdown did not scroll")
	}
	after := ansi.Strip(h.screen())
	if after == s {
		t.Fatal("screen unchanged after scrolling")
	}
	h.press("pgup", "pgup")
	if h.m.scroll != 0 {
		t.Fatalf("scroll = %d after pgup", h.m.scroll)
	}
	h.press("enter")
	mustContain(t, ansi.Strip(h.screen()), "7 (enter shows them)")
}

func TestHelpToggle(t *testing.T) {
	_, h := setup(t, nil, Options{})
	short := ansi.Strip(h.screen())
	if strings.Contains(short, "scroll details") {
		t.Fatal("full help shown by default")
	}
	mustContain(t, short, "↑↓ select", "a/d sign in", "l logout", "r reconnect", "e on/off", "? more", "q quit")
	h.press("?")
	mustContain(t, ansi.Strip(h.screen()), "scroll details", "copy sign-in URL", "d   sign in with a device code", "p   paste redirect URL", "filter", "logout")
	h.press("?")
	if strings.Contains(ansi.Strip(h.screen()), "scroll details") {
		t.Fatal("? did not close the full help")
	}
}

func TestQuitKeys(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		t.Run(k, func(t *testing.T) {
			e, h := setup(t, nil, Options{})
			h.selectServer("protected")
			h.press("a")
			h.until("the flow", 10*time.Second, func() bool { return h.m.flow != nil && h.m.flow.flow != nil })
			h.press(k)
			h.until(k+" to quit", 5*time.Second, func() bool { return h.quit })
			if h.m.flow != nil || len(h.m.ops) != 0 {
				t.Fatalf("flow or ops left: %v %d", h.m.flow, len(h.m.ops))
			}
			if h.m.Render() != "" {
				t.Fatal("screen not cleared on quit")
			}
			testwait.For(t, 3*time.Second, "the callback port to be free after quit", func() bool { return portFree(e.port) })
		})
	}
}

func resize(w, h int) any { return teaSize(w, h) }

func TestResizeAndSmallScreens(t *testing.T) {
	_, h := setup(t, nil, Options{})
	h.press("?")
	for _, sz := range [][2]int{{80, 24}, {60, 15}, {40, 10}, {200, 50}, {20, 5}} {
		h.send(resize(sz[0], sz[1]))
		s := h.screen()
		lines := strings.Split(s, "\n")
		if len(lines) > sz[1] && sz[1] >= 10 {
			t.Fatalf("%dx%d: %d lines:\n%s", sz[0], sz[1], len(lines), s)
		}
		for _, l := range lines {
			if w := ansi.StringWidth(l); w > sz[0] {
				t.Fatalf("%dx%d: line of width %d: %q", sz[0], sz[1], w, ansi.Strip(l))
			}
		}
	}
	h.send(resize(80, 24))
	if n := len(strings.Split(h.screen(), "\n")); n != 24 {
		t.Fatalf("80x24 renders %d lines", n)
	}
}

func TestNoColor(t *testing.T) {
	_, h := setup(t, nil, Options{NoColor: true})
	s := h.screen()
	if strings.Contains(s, "\x1b[3") || strings.Contains(s, "\x1b[9") || strings.Contains(s, "38;") {
		t.Fatalf("colour escape with NoColor: %q", s)
	}
	mustContain(t, s, "● demo", "connected", "needs auth", "○ off", "disabled")

	_, hc := setup(t, nil, Options{})
	if c := hc.screen(); !strings.Contains(c, "\x1b[") {
		t.Fatal("no styling with colour on")
	}
}

func TestLiveToolEvents(t *testing.T) {
	e, h := setup(t, nil, Options{})
	h.selectServer("demo")
	e.plain.MCP.AddTool(&mcp.Tool{Name: "late", Description: "added while the dashboard runs", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
	h.until("the new tool", 10*time.Second, func() bool {
		st, _ := h.m.lookup("demo")
		return len(st.Tools) == 8
	})
	mustContain(t, ansi.Strip(h.screen()), "8 tools")
}

// nospace drops spaces, which wrapping turns into line breaks.
func nospace(s string) string { return strings.ReplaceAll(s, " ", "") }

func TestDurations(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 42 * time.Second: "42s", 59*time.Minute + 31*time.Second: "59m",
		time.Hour: "1h", 90 * time.Minute: "1h 30m", 72 * time.Hour: "3d",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
		}
	}
	if got := countdown(4*time.Minute + 59500*time.Millisecond); got != "5:00" {
		t.Errorf("countdown = %q", got)
	}
	if got := countdown(61 * time.Second); got != "1:01" {
		t.Errorf("countdown = %q", got)
	}
}

// TestToolsPaneTaskSupport: the tools pane says which tools may or must
// be called as tasks (execution.taskSupport), nothing for the others.
func TestToolsPaneTaskSupport(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, []string{exe}, map[string]string{"MCPTEST_CHILD": "tasks"})
	h := newHarness(t, e.backend(t, nil), Options{})
	h.ready()
	h.send(resize(100, 40))
	h.selectServer("local")
	h.press("enter")
	full := flatDetails(h)
	mustContain(t, full, "slow · tasks: optional", "progress · tasks: required")
	if n := strings.Count(full, "tasks:"); n != 2 {
		t.Fatalf("%d tools with a task mark, want 2:\n%s", n, full)
	}
}
