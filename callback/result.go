package callback

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// errNoReport is the outcome of a flow closed without a Report: the page
// cannot say whether signing in worked.
var errNoReport = errors.New("no outcome reported")

// exchangeError is an outcome reported as failed (Flow.Report).
type exchangeError struct{ err error }

func (e *exchangeError) Error() string { return e.err.Error() }
func (e *exchangeError) Unwrap() error { return e.err }

// maxDetail bounds the failure text shown on the page.
const maxDetail = 2000

// awaitResult waits for f's owner to report the outcome of using the code,
// at most timeout, and not past the request or the registry's end. It
// returns the reported error (nil for success) and whether one came.
func (f *Flow) awaitResult(ctx context.Context, timeout time.Duration) (error, bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-f.result:
		if errors.Is(err, errNoReport) {
			return nil, false
		}
		return err, true
	case <-t.C:
	case <-ctx.Done():
	case <-f.r.closing:
	}
	return nil, false
}

// resultPage is the page for a delivered code, given the owner's report.
func resultPage(server string, err error, reported bool) page {
	who := serverLabel(server)
	switch {
	case !reported:
		return page{
			Title: "Sign-in not confirmed", Heading: "Sign-in to " + who + " not confirmed",
			Message: "mcplink received the authorization but has not confirmed that signing in worked. Return to mcplink to see the result; you can close this tab.",
		}
	case err != nil:
		return page{
			Title: "Sign-in failed", Heading: "Sign-in to " + who + " failed",
			Message: "mcplink received the authorization but could not finish signing in. Return to mcplink for details; you can close this tab.",
			Detail:  printable(err.Error(), maxDetail),
		}
	default:
		return page{
			Title: "Signed in", Heading: "Signed in",
			Message: "Signed in to " + who + ". You can close this tab.", OK: true,
		}
	}
}

// printable returns s without control characters (C0 but newline and tab,
// DEL, C1) and invalid UTF-8, cut to at most max bytes: text from servers
// shown on the page.
func printable(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != '\n' && r != '\t') {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > max {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// writeResult serves the page for a delivered code on f: it waits for the
// owner's report, writes the page, then releases f's place on its listener,
// which keeps serving until the page is out.
func (h *handler) writeResult(w http.ResponseWriter, req *http.Request, f *Flow) {
	err, reported := f.awaitResult(req.Context(), h.r.opts.ResultTimeout)
	// The sign-in is over: no later request belongs on this connection,
	// whose listener may stop right after.
	w.Header().Set("Connection", "close")
	writePage(w, http.StatusOK, resultPage(f.server, err, reported))
	h.r.mu.Lock()
	h.r.releaseLocked(f.l)
	h.r.mu.Unlock()
}
