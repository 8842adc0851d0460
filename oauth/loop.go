package oauth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcplink/mcplink/config"
)

// Loop brakes. A server that keeps refusing the credentials we obtain for it
// would otherwise make every request refresh the token or open the browser
// again.
const (
	// FreshTokenWindow: a token this process obtained less than this long
	// ago that the MCP server refuses again the same way is not refreshed or
	// re-authorized: the request fails with a *FreshTokenRefusedError. The
	// same way means a 401 for a token obtained because of a 401 that the
	// server never accepted, or a 403 insufficient_scope for scopes the
	// token was requested with.
	FreshTokenWindow = 10 * time.Second
	// MaxRefreshesPerWindow token refreshes caused by 401 answers per server
	// per RefreshWindow; more fail with ErrTooManyRefreshes.
	MaxRefreshesPerWindow = 5
	RefreshWindow         = 30 * time.Second
	// MaxBrakeWindow caps the windows of the brakes (AttemptWindow,
	// RefreshWindow, FreshTokenWindow), which double with every consecutive
	// trip of any of them and return to their base after a success: the
	// MCP server accepting the first request made with a token this process
	// obtained.
	MaxBrakeWindow = 10 * time.Minute
)

// ErrTooManyRefreshes is the refresh brake: the MCP server answered 401 to
// refreshed tokens too often in a short time.
var ErrTooManyRefreshes = errors.New("too many token refreshes")

// ErrFreshTokenRefused means the MCP server refused credentials this
// process had just obtained for it, the same way it refused the previous
// ones; see FreshTokenRefusedError.
var ErrFreshTokenRefused = errors.New("the server refuses freshly obtained credentials")

// FreshTokenRefusedError is the loop brake for a server that refuses a
// token obtained moments ago: signing in or refreshing again would only
// produce another token it refuses. It does not match ErrNeedsAuth: a new
// sign-in does not help.
type FreshTokenRefusedError struct {
	Server string        // config entry name
	Status int           // 401 or 403
	Scope  string        // the challenged scopes of a 403
	Age    time.Duration // how long ago the refused token was obtained
	Retry  time.Duration // how long no new token is obtained for it
}

func (e *FreshTokenRefusedError) Error() string {
	what := "HTTP 401"
	if e.Status == http.StatusForbidden {
		what = "HTTP 403 insufficient_scope"
		if e.Scope != "" {
			what += " (scope " + e.Scope + ")"
		}
	}
	return fmt.Sprintf("MCP server %q refused the token obtained %s ago with %s again; not signing in or refreshing again for %s to avoid a loop",
		e.Server, e.Age.Round(time.Millisecond), what, e.Retry.Round(time.Second))
}

// Is makes errors.Is(err, ErrFreshTokenRefused) true.
func (e *FreshTokenRefusedError) Is(target error) bool { return target == ErrFreshTokenRefused }

// BrakeError is a loop brake that stopped an attempt: too many
// authorizations (ErrTooManyAttempts) or, with Refresh, too many refreshed
// tokens refused (ErrTooManyRefreshes) for Server within Span.
type BrakeError struct {
	Server  string
	Refresh bool          // the refresh brake, not the authorization brake
	Count   int           // attempts within Span
	Span    time.Duration // the window they fell in
	Wait    time.Duration // how long no further attempt is made
}

func (e *BrakeError) Error() string {
	if e.Refresh {
		return fmt.Sprintf("MCP server %q refused %d refreshed tokens within %s; not refreshing again for %s: %v",
			e.Server, e.Count, e.Span, e.Wait.Round(time.Second), ErrTooManyRefreshes)
	}
	return fmt.Sprintf("MCP server %q: %d authorization attempts within %s; stopping to avoid a sign-in loop for %s: %v",
		e.Server, e.Count, e.Span, e.Wait.Round(time.Second), ErrTooManyAttempts)
}

// Is makes errors.Is match ErrTooManyRefreshes or ErrTooManyAttempts.
func (e *BrakeError) Is(target error) bool {
	if e.Refresh {
		return target == ErrTooManyRefreshes
	}
	return target == ErrTooManyAttempts
}

// loopGuard is the loop brake state of one server (in this process).
type loopGuard struct {
	mu      sync.Mutex
	trips   int         // consecutive brake trips since the last success
	auth    brakeWindow // interactive authorizations and machine grants
	refresh brakeWindow // refreshes caused by a 401

	// obtained is the last token this process obtained for the server.
	obtained atomic.Pointer[obtainedToken]
}

// brakeWindow is one sliding-window limit.
type brakeWindow struct {
	events  []time.Time
	tripped bool // refusing since the last trip, which was counted
}

// obtainedToken is a token this process obtained, with what the transport
// (dpopTransport, the TransportWrapper) saw the server answer to its first use.
type obtainedToken struct {
	token     string
	at        time.Time
	requested []string     // scopes asked for (a refresh: the token's scopes)
	cause     atomic.Int32 // HTTP status of the refusal it was obtained for; 0: none
	verdict   atomic.Int32 // verdictUnknown, verdictAccepted or verdictRefused
	tripped   atomic.Bool  // a fresh-refusal trip was counted for it
}

const (
	verdictUnknown int32 = iota
	verdictAccepted
	verdictRefused
)

// backoff is base doubled trips times, at most MaxBrakeWindow.
func backoff(base time.Duration, trips int) time.Duration {
	d := base
	for i := 0; i < trips && d < MaxBrakeWindow; i++ {
		d *= 2
	}
	return min(d, MaxBrakeWindow)
}

// take records an event in w unless max events already happened within the
// window (base, doubled per trip). A refusal that starts a trip doubles the
// windows; wait is when the next event will be allowed.
func (g *loopGuard) take(w *brakeWindow, now time.Time, max int, base time.Duration) (n int, span, wait time.Duration, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	span = backoff(base, g.trips)
	kept := w.events[:0]
	for _, t := range w.events {
		if now.Sub(t) < span {
			kept = append(kept, t)
		}
	}
	w.events = kept
	if len(kept) >= max {
		if !w.tripped {
			w.tripped = true
			g.trips++
			span = backoff(base, g.trips)
		}
		return len(kept), span, kept[0].Add(span).Sub(now), false
	}
	w.tripped = false
	w.events = append(w.events, now)
	return 0, span, 0, true
}

// succeeded resets the backoff: the server accepted a token we obtained.
func (g *loopGuard) succeeded() {
	g.mu.Lock()
	g.trips = 0
	g.auth.tripped, g.refresh.tripped = false, false
	g.mu.Unlock()
}

// reset forgets every brake of the server: a logout (the user's explicit
// fresh start, typically after fixing what tripped a brake) must not leave
// the next sign-in refused, least of all for an API user who cannot restart
// the process holding the brake.
func (g *loopGuard) reset() {
	g.mu.Lock()
	g.trips = 0
	g.auth, g.refresh = brakeWindow{}, brakeWindow{}
	g.mu.Unlock()
	g.obtained.Store(nil)
}

// obtainedNow records that this process obtained token, requesting scopes.
func (e *Engine) obtainedNow(entry *config.Entry, token string, requested []string) {
	e.state(entry.Name).guard.obtained.Store(&obtainedToken{token: token, at: e.opts.Now(), requested: requested})
}

// obtainedFor records that the token this process obtained at or after
// since was obtained because the server refused a request with status.
func (e *Engine) obtainedFor(entry *config.Entry, since time.Time, status int) {
	if o := e.state(entry.Name).guard.obtained.Load(); o != nil && !o.at.Before(since) {
		o.cause.Store(int32(status))
	}
}

// observe records the server's answer to the first request carrying token,
// when this process obtained it. Called by the transport wrapper.
func (g *loopGuard) observe(token string, status int) {
	o := g.obtained.Load()
	if o == nil || o.token != token || o.verdict.Load() != verdictUnknown {
		return
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		o.verdict.CompareAndSwap(verdictUnknown, verdictRefused)
	case status >= 200 && status < 400:
		if o.verdict.CompareAndSwap(verdictUnknown, verdictAccepted) {
			g.succeeded()
		}
	}
}

// checkFresh is the fresh-token brake: it returns a *FreshTokenRefusedError
// when token, which this process obtained within the fresh window, is
// refused again: with a 401 although the server never accepted it, or with
// a 403 insufficient_scope for scopes (need) it was requested with.
func (e *Engine) checkFresh(entry *config.Entry, token string, status int, need []string) error {
	if token == "" {
		return nil
	}
	g := &e.state(entry.Name).guard
	o := g.obtained.Load()
	if o == nil || o.token != token {
		return nil
	}
	switch status {
	case http.StatusUnauthorized:
		if o.cause.Load() != http.StatusUnauthorized || o.verdict.Load() == verdictAccepted {
			return nil // not a 401 again, or it worked: it expired or was revoked since
		}
	case http.StatusForbidden:
		if !covers(o.requested, need) {
			return nil // step-up: it was not asked for these scopes
		}
	default:
		return nil
	}
	age := e.opts.Now().Sub(o.at)
	g.mu.Lock()
	defer g.mu.Unlock()
	window := backoff(FreshTokenWindow, g.trips)
	if age >= window {
		return nil
	}
	if o.tripped.CompareAndSwap(false, true) {
		g.trips++
		window = backoff(FreshTokenWindow, g.trips)
	}
	return &FreshTokenRefusedError{Server: entry.Name, Status: status, Scope: strings.Join(need, " "), Age: age, Retry: window - age}
}

// brake records an authorization attempt for entry and refuses it when
// MaxAttemptsPerWindow attempts already happened within AttemptWindow
// (doubled per consecutive trip, see MaxBrakeWindow).
func (e *Engine) brake(entry *config.Entry) error {
	g := &e.state(entry.Name).guard
	n, span, wait, ok := g.take(&g.auth, e.opts.Now(), MaxAttemptsPerWindow, AttemptWindow)
	if ok {
		return nil
	}
	return &BrakeError{Server: entry.Name, Count: n, Span: span, Wait: wait}
}

// refreshBrake records a refresh caused by a 401 and refuses it when
// MaxRefreshesPerWindow happened within RefreshWindow (doubled per
// consecutive trip).
func (e *Engine) refreshBrake(entry *config.Entry) error {
	g := &e.state(entry.Name).guard
	n, span, wait, ok := g.take(&g.refresh, e.opts.Now(), MaxRefreshesPerWindow, RefreshWindow)
	if ok {
		return nil
	}
	return &BrakeError{Server: entry.Name, Refresh: true, Count: n, Span: span, Wait: wait}
}
