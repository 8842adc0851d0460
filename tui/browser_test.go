package tui

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/mcplink/mcplink/internal/testenv"
)

// envBrowserBlock, with envBrowser, makes the test binary a browser that
// runs until it is killed.
const envBrowserBlock = "MCPLINK_TUI_TEST_BROWSER_BLOCK"

// browserOpened waits until the current flow's browser opener returned.
func browserOpened(t *testing.T, h *harness) {
	t.Helper()
	select {
	case <-h.m.flow.flow.BrowserDone():
	case <-time.After(10 * time.Second):
		t.Fatal("the browser opener did not return")
	}
}

// TestBrowserThatBlocks: the "browser" is a process that runs until it is
// killed (a $BROWSER like lynx; cli/browser waiting for its launcher). The
// URL is on screen and a pasted redirect signs in while it runs; ending the
// flow kills it and its goroutine ends with the flow's Close.
func TestBrowserThatBlocks(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd, envv := localCmd(t)
	e := newEnv(t, cmd, envv)
	started := make(chan int, 1)
	ended := make(chan error, 1)
	b := e.backendCtx(t, func(ctx context.Context, u string) error {
		c := exec.CommandContext(ctx, exe, "-test.run=^$", u)
		c.Env = testenv.Env(t, envBrowser+"=1", envBrowserBlock+"=1")
		if err := c.Start(); err != nil {
			return err
		}
		started <- c.Process.Pid
		err := c.Wait()
		ended <- err
		return err
	})
	h := newHarness(t, b, Options{})
	h.ready()
	h.selectServer("protected")
	h.press("a")
	h.until("the authorization URL", 10*time.Second, func() bool { return h.m.flow != nil && h.m.flow.flow != nil })
	f := h.m.flow.flow
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the browser did not start")
	}
	mustContain(t, h.m.message, "Waiting for the sign-in to protected in the browser")
	mustContain(t, nospace(flatDetails(h)), nospace(f.URL()[:40]))

	// The browser still runs: the URL is shown and a paste is taken.
	h.press("p")
	pasteAndEnter(t, h, redirectFor(t, f.URL()))
	select {
	case <-f.BrowserDone():
		t.Fatal("the browser returned before the sign-in completed; it should block until killed")
	default:
	}
	waitSignedIn(t, h)

	// The flow ended, so it was closed: the browser was killed and the
	// opener's goroutine is over.
	select {
	case <-f.BrowserDone():
	default:
		t.Fatal("the browser opener still runs after the flow was closed")
	}
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the blocking browser exited by itself; it should have been killed")
		}
	default:
		t.Fatal("the browser process was not reaped when the flow closed")
	}
	if f.BrowserError() != nil || strings.Contains(ansi.Strip(h.screen()), "Could not open a browser") {
		t.Fatalf("killing the browser on close was reported as a failure: %v", f.BrowserError())
	}
}

// TestBrowserFailsLate: a browser that fails after the flow is shown (a
// launcher that gives up after a while) is reported when it fails, and the
// flow stays pending for a paste.
func TestBrowserFailsLate(t *testing.T) {
	cmd, envv := localCmd(t)
	e := newEnv(t, cmd, envv)
	fail := make(chan struct{})
	b := e.backendCtx(t, func(ctx context.Context, u string) error {
		select {
		case <-fail:
			return errors.New("xdg-open: no method available for opening the URL")
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	h := newHarness(t, b, Options{})
	h.ready()
	h.selectServer("protected")
	h.press("a")
	h.until("the authorization URL", 10*time.Second, func() bool { return h.m.flow != nil && h.m.flow.flow != nil })
	mustContain(t, h.m.message, "Waiting for the sign-in to protected in the browser")
	close(fail)
	h.until("the browser's failure", 10*time.Second, func() bool { return strings.Contains(h.m.message, "Could not open a browser") })
	mustContain(t, h.m.message, "xdg-open: no method available", "open the URL below or press c to copy it")
	if h.m.flow == nil {
		t.Fatal("the browser's failure ended the flow")
	}
	if err := h.m.flow.flow.BrowserError(); err == nil || !strings.Contains(err.Error(), "xdg-open") {
		t.Fatalf("BrowserError after the failure = %v", err)
	}
	h.press("p")
	pasteAndEnter(t, h, redirectFor(t, h.m.flow.flow.URL()))
	waitSignedIn(t, h)
}
