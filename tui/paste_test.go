package tui

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testwait"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// startFlow selects protected, presses a and waits for the URL.
func startFlow(t *testing.T, h *harness) string {
	t.Helper()
	h.selectServer("protected")
	h.press("a")
	h.until("the authorization URL", 10*time.Second, func() bool { return h.m.flow != nil && h.m.flow.flow != nil })
	browserOpened(t, h)
	return h.m.flow.flow.URL()
}

// redirectFor plays the browser on elsewhere: it signs in and returns the
// callback URL the browser would be sent to, without visiting it.
func redirectFor(t *testing.T, authURL string) string {
	t.Helper()
	u, err := oauthtest.RedirectURL(t.Context(), authURL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// pasteAndEnter pastes text (bracketed paste) into the open input and
// presses enter, waiting for the backend's answer.
func pasteAndEnter(t *testing.T, h *harness, text string) {
	t.Helper()
	h.send(tea.PasteMsg{Content: text})
	if got := h.m.flow.input.Value(); got != text {
		t.Fatalf("input holds %q after pasting %q", got, text)
	}
	h.press("enter")
}

func waitSignedIn(t *testing.T, h *harness) {
	t.Helper()
	h.until("protected signed in and connected", 15*time.Second, func() bool {
		a := h.m.auth["protected"]
		return h.status("protected") == manager.StatusConnected && a.st.State == oauth.StateAuthenticated && h.m.flow == nil && h.m.afterAuth == ""
	})
	mustContain(t, ansi.Strip(h.screen()), "✓ Signed in to protected; connected, 3 tools")
}

func withParam(t *testing.T, raw, key, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestPasteRedirect(t *testing.T) {
	var opened int
	_, h := setup(t, func(string) error { opened++; return nil }, Options{})
	h.press("p") // no flow yet
	mustContain(t, h.m.message, "Nothing to paste into")
	authURL := startFlow(t, h)
	mustContain(t, ansi.Strip(h.screen()), "c copy · p paste · esc cancel")
	if opened != 1 {
		t.Fatalf("browser opened %d times", opened)
	}

	h.press("p")
	if h.m.mode.kind != modePaste {
		t.Fatal("p did not open the paste input")
	}
	mustContain(t, ansi.Strip(h.screen()), "Paste the URL the browser ended on")
	// Typing goes into the input, q included (it does not quit).
	h.press("x", " ", "q", "z", "backspace")
	if h.quit || h.m.flow.input.Value() != "x q" {
		t.Fatalf("typing: quit %v value %q", h.quit, h.m.flow.input.Value())
	}
	// Garbage is refused with the reason; the flow stays pending.
	h.press("enter")
	h.until("the refusal", 5*time.Second, func() bool { return h.m.flow.pasteErr != "" })
	mustContain(t, nospace(flatDetails(h)), "Notaccepted", "notaURLoranauthorizationcode")
	if h.m.flow == nil || h.m.mode.kind != modePaste {
		t.Fatal("garbage ended the flow or closed the input")
	}
	// esc closes the input only.
	h.press("esc")
	if h.m.flow == nil || h.m.mode.kind == modePaste {
		t.Fatalf("esc: flow %v", h.m.flow)
	}
	if strings.Contains(ansi.Strip(h.screen()), "enter sends") {
		t.Fatal("input still shown after esc")
	}

	redirect := redirectFor(t, authURL)
	for _, bad := range []struct{ name, text, want string }{
		{"wrong state", withParam(t, redirect, "state", "not-the-state"), "belongs to no pending sign-in"},
		{"wrong iss", withParam(t, redirect, "iss", "https://evil.example"), "evil.example"},
		{"no code", "http://127.0.0.1:1/cb?state=" + url.QueryEscape(h.m.flow.flow.URL()), "neither a code"},
	} {
		h.press("p")
		pasteAndEnter(t, h, bad.text)
		h.until(bad.name+" refused", 5*time.Second, func() bool { return h.m.flow.pasteErr != "" })
		if !strings.Contains(nospace(flatDetails(h)), nospace(bad.want)) {
			t.Fatalf("%s: details lack %q:\n%s", bad.name, bad.want, flatDetails(h))
		}
		h.press("esc")
	}
	// Each refusal came back (pasteErr) with the flow still waiting; had a
	// refused paste ended it, its Wait would fail the sign-in below.
	if h.m.flow == nil || h.status("protected") != manager.StatusNeedsAuth {
		t.Fatal("a refused paste ended the flow")
	}

	h.press("p")
	pasteAndEnter(t, h, redirect)
	waitSignedIn(t, h)
}

func TestPasteBareCode(t *testing.T) {
	_, h := setup(t, nil, Options{})
	authURL := startFlow(t, h)
	u, err := url.Parse(redirectFor(t, authURL))
	if err != nil {
		t.Fatal(err)
	}
	code := u.Query().Get("code")
	if code == "" || u.Query().Get("iss") == "" {
		t.Fatalf("test AS redirect lacks code or iss: %s", u.Redacted())
	}
	h.press("p")
	pasteAndEnter(t, h, "not a code")
	h.until("the refusal", 5*time.Second, func() bool { return h.m.flow.pasteErr != "" })
	if h.m.flow == nil || h.m.mode.kind != modePaste {
		t.Fatal("a malformed code ended the flow or closed the input")
	}
	h.press("esc", "p")
	for _, r := range code { // typed, not pasted
		h.press(string(r))
	}
	h.press("enter")
	waitSignedIn(t, h)
}

func TestPasteWithBusyCallbackPort(t *testing.T) {
	cmd, envv := localCmd(t)
	e := newEnv(t, cmd, envv)
	// Another program holds the callback port.
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", e.port))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var opened []string
	b := e.backend(t, func(u string) error { opened = append(opened, u); return nil })
	h := newHarness(t, b, Options{})
	h.ready()
	authURL := startFlow(t, h)
	var pe *callback.PortInUseError
	if !errors.As(h.m.flow.flow.ListenError(), &pe) || pe.Port != e.port {
		t.Fatalf("ListenError = %v", h.m.flow.flow.ListenError())
	}
	if len(opened) != 1 || opened[0] != authURL {
		t.Fatalf("browser opened %q, want the URL", opened)
	}
	s := nospace(flatDetails(h))
	for _, want := range []string{"The callback listener could not start", fmt.Sprint(e.port), "press p and paste"} {
		if !strings.Contains(s, nospace(want)) {
			t.Fatalf("details lack %q:\n%s", want, h.screen())
		}
	}
	mustContain(t, h.m.message, "Callback port busy")
	h.press("p")
	h.send(tea.PasteMsg{Content: "http://127.0.0.1/x?code=abc"})
	mustContain(t, ansi.Strip(h.screen()), "> http://127.0.0.1/x?code=abc", "port "+fmt.Sprint(e.port)+" is in use")
	h.press("ctrl+u") // textinput: delete before the cursor
	pasteAndEnter(t, h, redirectFor(t, authURL))
	waitSignedIn(t, h)
}

func TestPasteEscCancelsFlowAfterClosingInput(t *testing.T) {
	e, h := setup(t, nil, Options{})
	startFlow(t, h)
	h.press("p", "esc")
	if h.m.flow == nil {
		t.Fatal("first esc cancelled the flow instead of closing the input")
	}
	h.press("esc")
	if h.m.flow != nil {
		t.Fatal("second esc did not cancel the flow")
	}
	testwait.For(t, 3*time.Second, "the callback port to be free after esc", func() bool { return portFree(e.port) })
}
