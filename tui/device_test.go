package tui

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testwait"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// setupDevice is setup with protected's AS started with asOpts.
func setupDevice(t *testing.T, asOpts oauthtest.Options) (*env, *harness) {
	t.Helper()
	cmd, envv := localCmd(t)
	e := newEnvAS(t, cmd, envv, asOpts)
	var opened []string
	b := e.backend(t, func(u string) error { opened = append(opened, u); return nil })
	h := newHarness(t, b, Options{})
	h.ready()
	t.Cleanup(func() {
		if len(opened) != 0 {
			t.Errorf("a device sign-in opened a browser: %q", opened)
		}
	})
	return e, h
}

// startDevice selects protected, presses d and waits for the device code.
func startDevice(t *testing.T, h *harness) oauth.DeviceCode {
	t.Helper()
	h.selectServer("protected")
	h.press("d")
	h.until("the device code", 10*time.Second, func() bool { return h.m.flow != nil && h.m.flow.flow != nil })
	df, ok := h.m.flow.flow.(DeviceFlow)
	if !ok {
		t.Fatalf("flow is a %T, not a DeviceFlow", h.m.flow.flow)
	}
	return df.DeviceCode()
}

func TestDeviceSignIn(t *testing.T) {
	e, h := setupDevice(t, oauthtest.Options{DeviceFlow: true})
	dc := startDevice(t, h)
	if dc.UserCode == "" || !strings.HasPrefix(dc.VerificationURI, e.as.DeviceVerificationURI()) ||
		!strings.Contains(dc.VerificationURIComplete, "user_code="+dc.UserCode) {
		t.Fatalf("device code = %+v (AS verification URI %s)", dc, e.as.DeviceVerificationURI())
	}
	if left := time.Until(dc.ExpiresAt); left <= 0 || left > time.Hour {
		t.Fatalf("ExpiresAt %v is %v away", dc.ExpiresAt, left)
	}
	s := ansi.Strip(h.screen())
	mustContain(t, s, "Device sign-in to protected", "On any device, open:", "and enter the code:",
		dc.UserCode, "Waiting for approval — code expires in", "c copy URL · esc cancel")
	// The URL (the complete one) may be hard-wrapped: compare without line breaks.
	var pane []string
	for _, l := range h.m.detailLines(41) {
		pane = append(pane, strings.TrimSpace(ansi.Strip(l)))
	}
	if flat := strings.Join(pane, ""); !strings.Contains(flat, dc.VerificationURIComplete) {
		t.Fatalf("screen lacks the verification URL %s:\n%s", dc.VerificationURIComplete, s)
	}
	// The countdown follows the code's expiry, not the longer flow timeout.
	if !h.m.flow.deadline.Equal(dc.ExpiresAt) {
		t.Fatalf("deadline %v, want the code's expiry %v", h.m.flow.deadline, dc.ExpiresAt)
	}

	h.press("c")
	h.until("the clipboard", 5*time.Second, func() bool { return len(h.clipboard) > 0 })
	if len(h.clipboard) != 1 || h.clipboard[0] != dc.VerificationURIComplete {
		t.Fatalf("clipboard = %q, want %s", h.clipboard, dc.VerificationURIComplete)
	}
	h.press("p")
	mustContain(t, h.m.message, "takes no pasted redirect")
	if h.m.flow == nil || h.m.mode.kind == modePaste {
		t.Fatal("p on a device flow opened the paste input or ended the flow")
	}
	if err := h.m.flow.flow.Paste("code=x&state=y"); !errors.Is(err, ErrDevicePaste) {
		t.Fatalf("Paste = %v, want ErrDevicePaste", err)
	}
	h.press("a")
	mustContain(t, h.m.message, "A sign-in to protected is in progress")

	if !e.as.ApproveDevice(dc.UserCode) {
		t.Fatal("the AS knows no pending request for the code shown")
	}
	waitSignedIn(t, h)
	if got := e.as.Stats().DeviceAuthorizations; got != 1 {
		t.Fatalf("%d device authorizations, want 1", got)
	}
}

func TestDeviceNotSupported(t *testing.T) {
	_, h := setupDevice(t, oauthtest.Options{})
	h.selectServer("protected")
	h.press("d")
	h.until("the sign-in to fail", 10*time.Second, func() bool { return h.m.flow == nil && h.m.msgErr })
	mustContain(t, h.m.message, "Sign-in to protected failed", oauth.ErrDeviceNotSupported.Error(), "sign in with the browser flow instead")
	// The flow box keeps the engine's explanation (wrapped at spaces).
	var pane []string
	for _, l := range h.m.detailLines(60) {
		pane = append(pane, strings.TrimSpace(ansi.Strip(l)))
	}
	mustContain(t, strings.Join(pane, " "), "Device sign-in to protected",
		"the authorization server does not support the device authorization grant", "esc closes")
	h.press("esc")
	if h.m.deviceFail != nil || strings.Contains(ansi.Strip(h.screen()), "Device sign-in to") {
		t.Fatal("esc left the failed device sign-in on screen")
	}
	if h.status("protected") != manager.StatusNeedsAuth {
		t.Fatalf("protected is %s", h.status("protected"))
	}
}

func TestDeviceCancel(t *testing.T) {
	e, h := setupDevice(t, oauthtest.Options{DeviceFlow: true})
	dc := startDevice(t, h)
	f := h.m.flow.flow
	testwait.DeviceGrantRuns(t) // the control for NoSignInWork below
	h.press("esc")
	if h.m.flow != nil {
		t.Fatal("esc left the flow in place")
	}
	mustContain(t, h.m.message, "Device sign-in cancelled")
	// Close waited for the grant's goroutine: Wait answers at once with the
	// cancellation, and approving the code now signs nothing in.
	done := make(chan error, 1)
	go func() { done <- f.Wait(t.Context()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled device flow reports success")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Wait blocks after Close")
	}
	// Nothing polls for the code any more: no goroutine does sign-in work.
	testwait.NoSignInWork(t, 5*time.Second)
	e.as.ApproveDevice(dc.UserCode)
	h.until("the cancelled flow's answer", 10*time.Second, func() bool { return h.seen["tui.authDoneMsg"] > 0 })
	h.idle()
	if h.m.auth["protected"].st.State == oauth.StateAuthenticated || h.status("protected") == manager.StatusConnected {
		t.Fatal("protected signed in after the device flow was cancelled")
	}
	mustContain(t, ansi.Strip(h.screen()), "Device sign-in cancelled")
	// A new device sign-in works after the cancelled one.
	dc2 := startDevice(t, h)
	if dc2.UserCode == dc.UserCode {
		t.Fatal("the new flow reuses the cancelled code")
	}
	if !e.as.ApproveDevice(dc2.UserCode) {
		t.Fatal("the AS knows no pending request for the new code")
	}
	waitSignedIn(t, h)
}
