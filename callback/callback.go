// Package callback runs the loopback OAuth redirect listener and the registry
// of pending authorization flows.
//
// A listener is started by the first pending flow on its port and closed as
// soon as the last pending flow on it ends. Binding is atomic: a busy port is
// reported at once, before any browser opens. A redirect URI with host
// localhost is served on both 127.0.0.1 and ::1 (where the machine has ::1),
// so no other process can take the code on the other address family. Several flows (for several MCP
// servers) may share one listener; each completes with its own state. A port
// held by another mcplink process (detected by a probe the listener answers)
// is waited for instead of failing. A flow may also run without a listener
// (Request.NoListen, or Request.ListenFallback on a busy port) and complete
// only through Deliver, as with a pasted redirect URL.
//
// The page the browser gets says "Signed in" only once the flow's owner has
// reported (Flow.Report) that using the code succeeded; the listener waits
// for that report up to Options.ResultTimeout and shows the failure instead
// when it failed.
package callback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultPort and DefaultPath make up the default redirect URI
// http://127.0.0.1:19876/mcp/oauth/callback.
const (
	DefaultPort = 19876
	DefaultPath = "/mcp/oauth/callback"
)

// ProbePath is answered by every callback listener with
// {"mcplink":true,"pid":N}, so that another mcplink process finding the port
// busy can tell that the holder will free it soon.
const ProbePath = "/.well-known/mcplink-callback"

// Defaults for Options fields left zero.
const (
	DefaultProbeTimeout    = 300 * time.Millisecond
	DefaultRetryInterval   = 100 * time.Millisecond
	DefaultShutdownTimeout = 2 * time.Second
	DefaultResultTimeout   = 5 * time.Second
)

// ErrUnknownState is returned by Deliver for a state that matches no pending flow.
var ErrUnknownState = errors.New("unknown or already finished authorization request")

// ErrMissingCode is returned by Deliver for parameters with neither code nor
// error. The flow stays pending.
var ErrMissingCode = errors.New("redirect has no authorization code")

// ErrClosed is returned by Wait after Flow.Close or Registry.Close, and by
// Begin on a closed Registry.
var ErrClosed = errors.New("oauth callback flow closed")

// Request describes one pending flow.
type Request struct {
	// RedirectURI is the full redirect URI; its host must be loopback
	// (127.0.0.1, localhost or [::1]) and it must name a port.
	RedirectURI string
	// State is the flow's OAuth state value; it must be unique among the
	// registry's pending flows.
	State string
	// Server and ConfigFile name the config entry, for pages and error messages.
	Server     string
	ConfigFile string
	// Notify, when set, receives visible progress messages (for example while
	// waiting for another mcplink process to free the port).
	Notify func(msg string)
	// ListenHost, when set, is the host to listen on instead of the redirect
	// URI's (oauth.callbackHost: WSL, containers, forwarded ports). It must
	// be an IP literal or "localhost"; it may be non-loopback, which callers
	// must only allow when the user asked for it.
	ListenHost string
	// NoListen registers the flow without starting a listener: it completes
	// only through Deliver (a pasted redirect, device-less API use).
	NoListen bool
	// ListenFallback registers the flow without a listener, instead of
	// failing with *PortInUseError, when the port is held by a process that
	// is not mcplink (Flow.Listening then reports false and Notify is told).
	// A port held by another mcplink process is still waited for.
	ListenFallback bool
}

// Options configures a Registry. Zero values select the defaults.
type Options struct {
	// Logf receives diagnostic messages; it never receives codes, tokens or states.
	Logf func(format string, args ...any)
	// ProbeTimeout bounds the probe of a busy port's holder (default 300 ms).
	ProbeTimeout time.Duration
	// RetryInterval is the pause between bind attempts while another mcplink
	// process holds the port (default 100 ms).
	RetryInterval time.Duration
	// ShutdownTimeout bounds how long a stopping listener waits for in-flight
	// responses before closing connections (default 2 s). The port itself is
	// released at once.
	ShutdownTimeout time.Duration
	// ResultTimeout bounds how long the callback page waits for the flow's
	// owner to report the outcome of the token exchange (Flow.Report)
	// before it tells the user to look in mcplink instead (default 5 s).
	ResultTimeout time.Duration
}

// Registry owns the listeners and the pending flows of one process.
type Registry struct {
	opts    Options
	pid     int
	closing chan struct{} // closed by Close: callback pages stop waiting for results

	mu        sync.Mutex
	closed    bool
	listeners map[int]*listener // by port
	flows     map[string]*Flow  // pending flows by state

	wg sync.WaitGroup // serve and shutdown goroutines
}

// listener is one loopback HTTP server shared by every flow on its port,
// bound to one or more addresses (127.0.0.1 and ::1 for localhost). All
// fields but port and srv are guarded by Registry.mu.
type listener struct {
	port    int
	lns     map[string]net.Listener // by bind address
	srv     *http.Server
	pending int             // pending flows, plus callback pages still being written
	paths   map[string]bool // every callback path ever served here
	stopped bool
}

// New returns an empty registry; no listener runs until Begin.
func New(opts Options) *Registry {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = DefaultProbeTimeout
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.ResultTimeout <= 0 {
		opts.ResultTimeout = DefaultResultTimeout
	}
	return &Registry{
		opts:      opts,
		pid:       os.Getpid(),
		closing:   make(chan struct{}),
		listeners: make(map[int]*listener),
		flows:     make(map[string]*Flow),
	}
}

// Flow is one pending authorization flow.
type Flow struct {
	r           *Registry
	l           *listener // nil for a flow without a listener
	redirectURI string
	state       string
	path        string
	addr        string // the first address the flow asked to listen on
	server      string
	notify      func(string)
	done        chan struct{}
	listenErr   error // why a ListenFallback flow has no listener; set before Begin returns

	result     chan error // the owner's report (Report); capacity 1
	reportOnce sync.Once

	// Guarded by Registry.mu; params and err are read-only once done is closed.
	claimed  bool // a callback request is writing its page
	finished bool
	params   url.Values
	err      error
}

// errBusy marks a bind that failed because the address is in use.
var errBusy = errors.New("address in use")

// busyError is a bind of addr that failed with errBusy.
type busyError struct{ addr string }

func (e *busyError) Error() string        { return "listen on " + e.addr + ": " + errBusy.Error() }
func (e *busyError) Is(target error) bool { return target == errBusy }

// busyAddr returns the address a busy error is about, or fallback.
func busyAddr(err error, fallback string) string {
	var be *busyError
	if errors.As(err, &be) {
		return be.addr
	}
	return fallback
}

// Begin registers a pending flow, starting the listener for its redirect URI
// if needed. A port held by another process yields *PortInUseError at once;
// one held by another mcplink process is waited for until ctx ends.
func (r *Registry) Begin(ctx context.Context, req Request) (*Flow, error) {
	t, err := parseTarget(req.RedirectURI)
	if err == nil && req.ListenHost != "" {
		t, err = t.withHost(req.ListenHost)
	}
	if se := (*SettingError)(nil); errors.As(err, &se) {
		se.Server, se.ConfigFile = req.Server, req.ConfigFile
	}
	if err != nil {
		return nil, err
	}
	if req.State == "" {
		return nil, errors.New("oauth callback: empty state")
	}
	notify := req.Notify
	if notify == nil {
		notify = func(string) {}
	}
	if req.NoListen {
		return r.tryBegin(t, req, false)
	}
	otherPID := 0
	for attempt := 0; ; attempt++ {
		f, err := r.tryBegin(t, req, true)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, errBusy) {
			return nil, err
		}
		busy := busyAddr(err, t.bindAddr())
		// Re-probe on the first failure and about once a second after that,
		// in case the holder changed.
		if otherPID == 0 || attempt%10 == 0 {
			pid, ok := r.probe(ctx, busy)
			if !ok {
				if otherPID != 0 {
					// The holder went away or stopped answering: try
					// binding once more before giving up.
					if f, err := r.tryBegin(t, req, true); err == nil {
						return f, nil
					} else if !errors.Is(err, errBusy) {
						return nil, err
					}
				}
				pe := &PortInUseError{Port: t.port, Addr: busy, Server: req.Server, ConfigFile: req.ConfigFile}
				if req.ListenFallback {
					notify(fmt.Sprintf("could not start the OAuth callback listener: %v. Paste the redirect URL instead (see below).", pe))
					f, err := r.tryBegin(t, req, false)
					if f != nil {
						f.listenErr = pe
					}
					return f, err
				}
				return nil, pe
			}
			if otherPID == 0 {
				msg := fmt.Sprintf("OAuth callback port %d is held by another mcplink process (pid %d) finishing its own sign-in; waiting for it to free the port…", t.port, pid)
				r.opts.Logf("callback: %s", msg)
				notify(msg)
			}
			otherPID = pid
		}
		timer := time.NewTimer(r.opts.RetryInterval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, &PortInUseError{Port: t.port, Addr: busy, Server: req.Server, ConfigFile: req.ConfigFile, OtherMcplink: true, PID: otherPID, Cause: ctx.Err()}
		case <-timer.C:
		}
	}
}

// tryBegin registers the flow, binding the listener if none runs on the
// address (when listen is set). It returns an error wrapping errBusy when the
// port is taken.
func (r *Registry) tryBegin(t target, req Request, listen bool) (*Flow, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if _, dup := r.flows[req.State]; dup {
		return nil, errors.New("oauth callback: a pending flow already uses this state")
	}
	var l *listener
	if listen {
		var err error
		if l, err = r.bindLocked(t, req); err != nil {
			return nil, err
		}
		l.paths[t.path] = true
		l.pending++
	}
	f := &Flow{
		r:           r,
		l:           l,
		redirectURI: req.RedirectURI,
		state:       req.State,
		path:        t.path,
		addr:        t.bindAddr(),
		server:      req.Server,
		notify:      req.Notify,
		done:        make(chan struct{}),
		result:      make(chan error, 1),
	}
	r.flows[req.State] = f
	return f, nil
}

// bindLocked returns the listener on t's port, binding every address of t it
// does not serve yet. Binding is all or nothing: when one address is busy
// (an error wrapping errBusy naming it) or fails, the addresses bound for
// this call are released again. An optional address (::1 of localhost) that
// the machine lacks is skipped. Called with r.mu held.
func (r *Registry) bindLocked(t target, req Request) (*listener, error) {
	l := r.listeners[t.port]
	fresh := map[string]net.Listener{}
	fail := func(err error) (*listener, error) {
		for _, ln := range fresh {
			_ = ln.Close()
		}
		return nil, err
	}
	for _, addr := range t.addrs {
		if l != nil && l.lns[addr] != nil {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		switch {
		case err == nil:
			fresh[addr] = ln
		case isAddrInUse(err):
			return fail(&busyError{addr: addr})
		case addr == t.optional:
			// No ::1 on this machine (IPv6 disabled): nobody can listen
			// there either.
			r.opts.Logf("callback: not listening on %s: %v", addr, err)
		default:
			return fail(&ListenError{Addr: addr, Server: req.Server, ConfigFile: req.ConfigFile, Err: err})
		}
	}
	if l == nil {
		l = r.newListenerLocked(t.port)
	}
	for addr, ln := range fresh {
		r.serveLocked(l, addr, ln)
	}
	return l, nil
}

// newListenerLocked creates the (not yet serving) listener for port. Called
// with r.mu held.
func (r *Registry) newListenerLocked(port int) *listener {
	l := &listener{
		port:  port,
		lns:   make(map[string]net.Listener),
		paths: make(map[string]bool),
	}
	l.srv = &http.Server{
		Handler:           &handler{r: r, l: l},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// A callback page waits up to ResultTimeout for the token exchange.
		WriteTimeout:   r.opts.ResultTimeout + 10*time.Second,
		IdleTimeout:    30 * time.Second,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       log.New(logWriter(r.opts.Logf), "callback: ", 0),
	}
	r.listeners[port] = l
	return l
}

// serveLocked serves l on ln, bound to addr. Called with r.mu held.
func (r *Registry) serveLocked(l *listener, addr string, ln net.Listener) {
	oln := &onceCloseListener{Listener: ln}
	l.lns[addr] = oln
	r.opts.Logf("callback: listening on %s", addr)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		_ = l.srv.Serve(oln) // returns once the listener is closed
	}()
}

// stopLocked releases the port at once and drains in-flight responses in the
// background. Called with r.mu held.
func (r *Registry) stopLocked(l *listener) {
	if l.stopped {
		return
	}
	l.stopped = true
	if r.listeners[l.port] == l {
		delete(r.listeners, l.port)
	}
	addrs := make([]string, 0, len(l.lns))
	for addr, ln := range l.lns {
		_ = ln.Close()
		addrs = append(addrs, addr)
	}
	sort.Strings(addrs)
	r.opts.Logf("callback: stopped listening on %s", strings.Join(addrs, " and "))
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.ShutdownTimeout)
		defer cancel()
		if err := l.srv.Shutdown(ctx); err != nil {
			_ = l.srv.Close()
		}
	}()
}

// finishLocked ends f with the given outcome unless it already ended, and
// stops its listener if f was the last pending flow on it. Called with r.mu held.
func (r *Registry) finishLocked(f *Flow, params url.Values, err error) bool {
	if !r.endLocked(f, params, err) {
		return false
	}
	if f.l != nil {
		r.releaseLocked(f.l)
	}
	return true
}

// endLocked ends f with the given outcome unless it already ended, keeping
// its place on the listener: the caller releases it (releaseLocked) once the
// callback page is written. Called with r.mu held.
func (r *Registry) endLocked(f *Flow, params url.Values, err error) bool {
	if f.finished {
		return false
	}
	f.finished = true
	f.params, f.err = params, err
	if r.flows[f.state] == f {
		delete(r.flows, f.state)
	}
	close(f.done)
	return true
}

// releaseLocked drops one pending use of l and stops it after the last.
// Called with r.mu held.
func (r *Registry) releaseLocked(l *listener) {
	l.pending--
	if l.pending <= 0 {
		r.stopLocked(l)
	}
}

// probe asks the holder of addr whether it is an mcplink callback listener
// and returns its pid.
func (r *Registry) probe(ctx context.Context, addr string) (int, bool) {
	return probeHolder(ctx, addr, r.opts.ProbeTimeout)
}

// Deliver completes the pending flow with the given state using params (the
// redirect's query parameters), as from a pasted redirect URL or an API call.
// It returns ErrUnknownState when no pending flow has that state (or params
// carry a different state) and ErrMissingCode, leaving the flow pending, when
// params hold neither code nor error. An error= redirect completes the flow
// with *AuthorizationError and Deliver returns nil.
func (r *Registry) Deliver(state string, params url.Values) error {
	if state == "" {
		return ErrUnknownState
	}
	if len(params["state"]) > 1 || (params.Get("state") != "" && params.Get("state") != state) {
		return ErrUnknownState
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.flows[state]
	if f == nil || f.claimed || f.finished {
		return ErrUnknownState
	}
	p := maps.Clone(params)
	if p == nil {
		p = url.Values{}
	}
	p.Set("state", state)
	if aerr := authorizationError(p); aerr != nil {
		r.finishLocked(f, nil, aerr)
		return nil
	}
	if len(p["code"]) != 1 || p.Get("code") == "" {
		return ErrMissingCode
	}
	r.finishLocked(f, p, nil)
	return nil
}

// Close ends every pending flow with ErrClosed, stops every listener and
// waits for their goroutines. It is idempotent.
func (r *Registry) Close() error {
	r.mu.Lock()
	if !r.closed {
		close(r.closing)
	}
	r.closed = true
	for _, f := range r.flows {
		r.finishLocked(f, nil, ErrClosed)
	}
	for _, l := range r.listeners {
		r.stopLocked(l)
	}
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}

// Listening reports whether a callback listener serves the flow; false for
// NoListen flows and ListenFallback flows whose port was busy, which complete
// only through Deliver.
func (f *Flow) Listening() bool { return f.l != nil }

// ListenError says why a ListenFallback flow has no listener (a
// *PortInUseError); nil for every other flow.
func (f *Flow) ListenError() error { return f.listenErr }

// ListenAddr returns the address the flow's listener is bound to, or "".
// For a localhost redirect URI it is the IPv4 one; ::1 is bound too.
func (f *Flow) ListenAddr() string {
	if f.l == nil {
		return ""
	}
	return f.addr
}

// RedirectURI returns the flow's redirect URI as given to Begin.
func (f *Flow) RedirectURI() string { return f.redirectURI }

// Done is closed when the flow has ended, whatever the outcome.
func (f *Flow) Done() <-chan struct{} { return f.done }

// Wait returns the redirect's query parameters (code, state, iss, ...).
// An error= redirect yields *AuthorizationError. When ctx ends first the flow
// ends with ctx's error (freeing the port if it was the last pending flow).
func (f *Flow) Wait(ctx context.Context) (url.Values, error) {
	select {
	case <-f.done:
	case <-ctx.Done():
		f.r.mu.Lock()
		f.r.finishLocked(f, nil, fmt.Errorf("waiting for the OAuth callback: %w", ctx.Err()))
		f.r.mu.Unlock()
	}
	<-f.done
	if f.err != nil {
		return nil, f.err
	}
	return maps.Clone(f.params), nil
}

// Close ends the flow; it is idempotent. The listener stops once no flow is
// pending. A callback page still waiting for Report stops waiting.
func (f *Flow) Close() {
	f.r.mu.Lock()
	f.r.finishLocked(f, nil, ErrClosed)
	f.r.mu.Unlock()
	f.report(errNoReport)
}

// Report tells the callback page the outcome of using the delivered code
// (the token exchange): nil shows "Signed in", an error shows the failure.
// The owner of the flow calls it once after Wait returned parameters; later
// calls are ignored. Without a report (within Options.ResultTimeout, or
// before Close) the page tells the user to look in mcplink.
func (f *Flow) Report(err error) {
	if err == nil {
		f.report(nil)
		return
	}
	f.report(&exchangeError{err})
}

func (f *Flow) report(err error) {
	f.reportOnce.Do(func() { f.result <- err })
}

// PortInUseError reports a callback port that another process holds.
type PortInUseError struct {
	Port int    // the redirect URI's port
	Addr string // the address that could not be bound, e.g. 127.0.0.1:19876 or [::1]:19876
	// Server and ConfigFile name the config entry (Request), for the
	// surface's fix: its "oauth.callbackPort" or "oauth.redirectUri".
	Server     string
	ConfigFile string
	// OtherMcplink is true when the holder answered our probe; PID is its
	// process id and Cause why waiting for it stopped (usually ctx's error).
	OtherMcplink bool
	PID          int
	Cause        error
}

func (e *PortInUseError) Error() string {
	if e.OtherMcplink {
		return fmt.Sprintf("OAuth callback port %d is still held by another mcplink process (pid %d) finishing its own sign-in", e.Port, e.PID)
	}
	port := fmt.Sprint(e.Port)
	if host, _, err := net.SplitHostPort(e.Addr); err == nil && host != "127.0.0.1" {
		port += " (" + e.Addr + ")" // e.g. ::1 of a localhost redirect URI
	}
	return fmt.Sprintf("OAuth callback port %s is already in use by another process", port)
}

// Unwrap returns why waiting for another mcplink process stopped, if any.
func (e *PortInUseError) Unwrap() error { return e.Cause }

// ListenError is a callback address that could not be bound for another
// reason than a process holding it (no such address, no permission).
type ListenError struct {
	Addr string // e.g. 127.0.0.1:19876
	// Server and ConfigFile name the config entry (Request), for the
	// surface's fix: its "oauth.callbackPort" or "oauth.redirectUri".
	Server     string
	ConfigFile string
	Err        error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("cannot listen on %s for the OAuth callback: %v", e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// AuthorizationError is an error= redirect from the authorization server.
type AuthorizationError struct {
	Code        string // error, e.g. access_denied
	Description string // error_description
	URI         string // error_uri
}

func (e *AuthorizationError) Error() string {
	if e.Description != "" {
		return fmt.Sprintf("authorization server returned %s: %s", e.Code, e.Description)
	}
	return "authorization server returned " + e.Code
}

// authorizationError returns the error= redirect in p, or nil.
func authorizationError(p url.Values) *AuthorizationError {
	if p.Get("error") == "" {
		return nil
	}
	return &AuthorizationError{Code: p.Get("error"), Description: p.Get("error_description"), URI: p.Get("error_uri")}
}

// isAddrInUse reports whether err is a bind failure on a busy address.
func isAddrInUse(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	return errno == syscall.EADDRINUSE || (runtime.GOOS == "windows" && errno == 10048) // WSAEADDRINUSE
}

// onceCloseListener lets the registry release the port itself and
// http.Server.Shutdown close it again without an error.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// logWriter adapts Logf to an io.Writer for http.Server.ErrorLog.
type logWriter func(format string, args ...any)

func (w logWriter) Write(p []byte) (int, error) {
	w("%s", string(p))
	return len(p), nil
}

var _ io.Writer = logWriter(nil)
