package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// The model has one input mode at a time: an accepted paste, answered after
// the user closed the input and started a filter, leaves the filter alone,
// and the keys keep typing into it.
func TestModeAcceptedPasteKeepsFilter(t *testing.T) {
	_, h := setup(t, nil, Options{})
	redirect := redirectFor(t, startFlow(t, h))
	h.press("p")
	pasteAndEnter(t, h, redirect) // the backend's answer is not handled yet
	h.press("esc", "/")
	if h.m.mode.kind != modeFilter {
		t.Fatalf("after esc and /: mode %v", h.m.mode.kind)
	}
	h.until("the paste accepted", 10*time.Second, func() bool { return h.m.flow == nil || h.m.flow.pasted })
	if h.m.mode.kind != modeFilter {
		t.Fatalf("accepting the paste changed the mode to %v", h.m.mode.kind)
	}
	h.press("p", "r", "o", "enter")
	if h.m.mode.kind != modeBrowse || h.m.filter != "pro" {
		t.Fatalf("filter: mode %v filter %q", h.m.mode.kind, h.m.filter)
	}
	waitSignedIn(t, h)
}

// A sign-in that ends while its paste input is open ends paste mode with
// it: the next keys act on the dashboard instead of typing into an input
// that is gone.
func TestModeFlowEndClosesPaste(t *testing.T) {
	_, h := setup(t, nil, Options{FlowTimeout: 2 * time.Second})
	startFlow(t, h)
	h.press("p", "x")
	if h.m.mode.kind != modePaste {
		t.Fatalf("after p: mode %v", h.m.mode.kind)
	}
	h.until("the sign-in to time out", 10*time.Second, func() bool { return h.m.flow == nil })
	if h.m.mode.kind != modeBrowse {
		t.Fatalf("the flow ended, mode %v", h.m.mode.kind)
	}
	if s := ansi.Strip(h.screen()); strings.Contains(s, "enter sends") || !strings.Contains(s, "No sign-in to protected completed") {
		t.Fatalf("screen after the timeout:\n%s", s)
	}
	h.press("/", "l", "o")
	if h.m.mode.kind != modeFilter || h.m.filter != "lo" {
		t.Fatalf("/lo after the flow ended: mode %v filter %q", h.m.mode.kind, h.m.filter)
	}
	// esc leaves the filter; l then asks to log out of the selected server.
	h.press("esc")
	h.selectServer("protected")
	h.press("l")
	if h.m.mode != (mode{kind: modeConfirmLogout, server: "protected"}) {
		t.Fatalf("after l: mode %+v", h.m.mode)
	}
	h.press("n")
	if h.m.mode.kind != modeBrowse {
		t.Fatalf("after n: mode %+v", h.m.mode)
	}
}
