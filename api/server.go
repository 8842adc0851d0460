package api

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/fix"
	"github.com/mcplink/mcplink/internal/netutil"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// Defaults for Options fields left zero.
const (
	DefaultFlowTTL             = oauth.DefaultFlowTimeout
	DefaultMaxPendingPerServer = 100
	DefaultMaxBodyBytes        = 1 << 20
	// DefaultAddr is the default listen address of `mcplink serve`.
	DefaultAddr = "127.0.0.1:19880"
	// TokenEnv is the environment variable holding the API token.
	TokenEnv = "MCPLINK_API_TOKEN"
)

// ErrTokenRequired is returned by New and CheckAddr when the address is not
// loopback and no token is configured.
var ErrTokenRequired = errors.New("an API token is required when listening on a non-loopback address")

// Options configures a Server. Config, Manager, Engine and Callbacks are required.
type Options struct {
	// Addr is the address the server listens on, with its real port (use the
	// listener's Addr after binding port 0). Host headers are checked against it.
	Addr string
	// Token, when not empty, must be sent as "Authorization: Bearer <token>"
	// (or as the password of HTTP Basic authentication).
	Token string

	Config  *config.Config
	Manager *manager.Manager
	// Engine runs the OAuth flows; it must use Callbacks.
	Engine    *oauth.Engine
	Callbacks *callback.Registry
	// Events receives progress from the engine (wire Engine's Notify to
	// Events.Notify); nil creates a private one.
	Events *Events
	// OpenURL opens a URL in a browser on this machine; nil means none can
	// be opened (POST .../auth/authenticate then only reports the URL).
	OpenURL func(ctx context.Context, url string) error

	// FlowTTL is how long a pending authorization flow lives (default 5 min).
	// Keep the engine's FlowTimeout at least as long.
	FlowTTL time.Duration
	// MaxPendingPerServer caps pending flows per server (default 100).
	MaxPendingPerServer int
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes int64
	// Logf receives diagnostics (never tokens or secrets); nil discards them.
	Logf func(format string, args ...any)
	// Add enables POST /mcp (adding a server to a config file); nil
	// refuses it.
	Add *AddOptions
}

// Server is the HTTP API. Create it with New, serve Handler (or call Serve)
// and Close it when done.
type Server struct {
	opts    Options
	cfg     *config.Config
	m       *manager.Manager
	eng     *oauth.Engine
	events  *Events
	handler http.Handler
	mux     *http.ServeMux
	hosts   map[string]bool // allowed Host headers; nil allows any
	cop     *http.CrossOriginProtection

	// closing is closed (once, by shutdown) when the server begins to close:
	// it ends event streams and cancels pending flows and the contexts of
	// closingContext.
	closing     chan struct{}
	closingOnce sync.Once
	// wg counts the server's goroutines: event forwarding and every flow
	// (from its reservation in flows on).
	wg sync.WaitGroup

	flows *flowTable
	auth  *authCache
	added addedServers // servers added with POST /mcp

	// version counts changes that can alter a status; listBody caches the
	// GET /mcp answer for one version (and at most authCacheTTL).
	version  atomic.Uint64
	listBody atomic.Pointer[cachedBody]
}

type cachedBody struct {
	version uint64
	at      time.Time
	data    []byte
}

// changed invalidates cached answers.
func (s *Server) changed() { s.version.Add(1) }

// CheckAddr validates a listen address before binding: it must be host:port,
// and a non-loopback host requires a token (ErrTokenRequired). A refused
// address is an *AddrError.
func CheckAddr(addr, token string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &AddrError{Addr: addr, Problem: "is not host:port (for example " + DefaultAddr + ")", Err: err}
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return &AddrError{Addr: addr, Problem: fmt.Sprintf("has port %q, not a number between 0 and 65535", port)}
	}
	if !netutil.IsLoopbackHost(host) && token == "" {
		return &AddrError{Addr: addr, Problem: "is not a loopback address", Err: ErrTokenRequired}
	}
	return nil
}

// AddrError is a listen address (Options.Addr) the server refuses. It
// names no flag: `mcplink serve` adds that its --addr was the address and,
// for ErrTokenRequired, how to give a token.
type AddrError struct {
	Addr    string
	Problem string // e.g. "is not a loopback address"
	Err     error  // ErrTokenRequired, or why the address did not parse
}

func (e *AddrError) Error() string {
	msg := fmt.Sprintf("listen address %q %s", e.Addr, e.Problem)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *AddrError) Unwrap() error { return e.Err }

// New returns a Server. It starts forwarding the manager's events; Close stops it.
func New(opts Options) (*Server, error) {
	if opts.Config == nil || opts.Manager == nil || opts.Engine == nil || opts.Callbacks == nil {
		return nil, errors.New("api: Options.Config, Manager, Engine and Callbacks are required")
	}
	if err := CheckAddr(opts.Addr, opts.Token); err != nil {
		return nil, err
	}
	if opts.FlowTTL <= 0 {
		opts.FlowTTL = DefaultFlowTTL
	}
	if opts.MaxPendingPerServer <= 0 {
		opts.MaxPendingPerServer = DefaultMaxPendingPerServer
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Events == nil {
		opts.Events = NewEvents()
	}
	s := &Server{
		opts:    opts,
		cfg:     opts.Config,
		m:       opts.Manager,
		eng:     opts.Engine,
		events:  opts.Events,
		closing: make(chan struct{}),
		auth:    &authCache{entries: map[string]authCacheEntry{}},
		cop:     http.NewCrossOriginProtection(),
	}
	s.flows = newFlowTable(&s.wg)
	s.hosts = allowedHosts(opts.Addr)
	s.mux = http.NewServeMux()
	for _, rt := range s.routes() {
		s.mux.HandleFunc(rt.method+" "+rt.pattern, rt.h)
	}
	s.mux.HandleFunc("/", s.handleNoRoute)
	s.handler = s.guard(s.mux)

	ch, unsubscribe := s.m.Subscribe(256)
	s.wg.Go(func() {
		<-s.closing
		unsubscribe()
	})
	s.wg.Go(func() {
		ctx, cancel := s.closingContext(context.Background())
		defer cancel()
		s.forward(ctx, ch)
	})
	return s, nil
}

// shutdown begins closing the server: it closes s.closing (once), which ends
// event streams, cancels pending flows and every closingContext.
func (s *Server) shutdown() {
	s.closingOnce.Do(func() { close(s.closing) })
}

// closingContext returns a context derived from parent that is also
// cancelled when the server begins to close. The caller must call cancel: it
// ends the context's watcher goroutine, which otherwise lives until parent
// ends or the server closes.
func (s *Server) closingContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	select {
	case <-s.closing:
		cancel()
		return ctx, cancel
	default:
	}
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// allowedHosts returns the Host header values accepted for addr: its
// loopback names with the port. A non-loopback address allows any Host (the
// token protects it).
func allowedHosts(addr string) map[string]bool {
	host, port, _ := net.SplitHostPort(addr)
	if !netutil.IsLoopbackHost(host) {
		return nil
	}
	names := []string{"localhost", host}
	ip := net.ParseIP(host)
	switch {
	case ip != nil && ip.To4() != nil:
		names = append(names, "127.0.0.1")
	case ip != nil:
		names = append(names, "::1")
	default: // "localhost"
		names = append(names, "127.0.0.1", "::1")
	}
	out := map[string]bool{}
	for _, n := range names {
		out[strings.ToLower(net.JoinHostPort(n, port))] = true
		if port == "80" {
			hp := n
			if strings.Contains(n, ":") {
				hp = "[" + n + "]"
			}
			out[strings.ToLower(hp)] = true
		}
	}
	return out
}

// Handler returns the API's HTTP handler with every guard applied.
func (s *Server) Handler() http.Handler { return s.handler }

// Events returns the server's event hub.
func (s *Server) Events() *Events { return s.events }

// HTTPServer returns an http.Server for the API with timeouts and limits set.
// Long-running routes (events, authenticate, tool calls) extend their own
// write deadlines.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
}

// Serve serves the API on ln until ctx ends, then shuts down gracefully
// (at most 5 s) and closes the Server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := s.HTTPServer()
	// Requests see a context that ends with ctx or when the server closes.
	base, cancelBase := s.closingContext(ctx)
	defer cancelBase()
	hs.BaseContext = func(net.Listener) context.Context { return base }
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.shutdown() // ends event streams, pending flows and waiting requests
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := hs.Shutdown(sctx); serr != nil {
		_ = hs.Close()
	}
	if err == nil {
		err = <-errc
	}
	s.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close cancels every pending flow, stops forwarding events and waits for
// the server's goroutines. It does not close the manager, engine or registry.
func (s *Server) Close() error {
	s.shutdown()
	for _, f := range s.flows.closeAll() {
		f.stop()
	}
	s.wg.Wait()
	s.events.Close()
	return nil
}

// guard applies the safety checks in front of mux.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if s.hosts != nil && !s.hosts[strings.ToLower(r.Host)] {
			writeError(w, http.StatusForbidden, "forbidden_host", fmt.Sprintf("Host %q is not allowed: the API answers only requests addressed to its loopback address %s (DNS rebinding protection)", r.Host, s.opts.Addr))
			return
		}
		if s.opts.Token != "" && !s.authorized(r) {
			if r.Method == http.MethodGet && (r.URL.Path == "/" || r.URL.Path == "/app.js") {
				h.Set("WWW-Authenticate", `Basic realm="mcplink", charset="UTF-8"`)
			} else {
				h.Set("WWW-Authenticate", `Bearer realm="mcplink"`)
			}
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong API token: send \"Authorization: Bearer <token>\" with the token this server was started with (its token file, or "+TokenEnv+")")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
			if err := s.cop.Check(r); err != nil {
				writeError(w, http.StatusForbidden, "cross_site_request", "cross-site browser requests are refused on state-changing routes (Origin / Sec-Fetch-Site is not same-origin)")
				return
			}
			if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" {
				// CrossOriginProtection lets "none" (a typed URL) through;
				// a POST never legitimately comes from one.
				writeError(w, http.StatusForbidden, "cross_site_request", "cross-site browser requests are refused on state-changing routes (Sec-Fetch-Site: "+sfs+")")
				return
			}
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// authorized checks the bearer token (or Basic password) in constant time.
func (s *Server) authorized(r *http.Request) bool {
	got := ""
	a := r.Header.Get("Authorization")
	switch {
	case len(a) > 7 && strings.EqualFold(a[:7], "bearer "):
		got = strings.TrimSpace(a[7:])
	case len(a) > 6 && strings.EqualFold(a[:6], "basic "):
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(a[6:]))
		if err != nil {
			return false
		}
		_, pw, ok := strings.Cut(string(raw), ":")
		if !ok {
			return false
		}
		got = pw
	default:
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Token)) == 1
}

// handleNoRoute answers 405 (with Allow) when the path exists for another
// method and 404 otherwise.
func (s *Server) handleNoRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pat := s.mux.Handler(probe); pat != "/" && pat != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
		return
	}
	writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route %s %s; see /openapi.json", r.Method, r.URL.Path))
}

// apiError is an error with its HTTP status and envelope code.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, code, format string, a ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, a...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "encoding the response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	name := ErrorNameUnknown
	switch status {
	case http.StatusNotFound:
		name = ErrorNameNotFound
	case http.StatusBadRequest:
		name = ErrorNameBadRequest
	}
	data, _ := json.Marshal(ErrorBody{Name: name, Data: ErrorData{Message: msg}, Error: ErrorDetail{Code: code, Message: msg}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// fail writes err as the error envelope, mapping known errors to statuses.
func fail(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	writeError(w, ae.status, ae.code, ae.msg)
}

func toAPIError(err error) *apiError {
	var ae *apiError
	var cre *oauth.ClientRegistrationError
	var pie *callback.PortInUseError
	var aze *callback.AuthorizationError
	var mbe *http.MaxBytesError
	var tre *manager.TaskRequiredError
	msg := fix.Message(err, fix.API)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "request body is larger than %d bytes", mbe.Limit)
	case errors.Is(err, manager.ErrUnknownServer), errors.Is(err, config.ErrNotFound):
		return &apiError{http.StatusNotFound, "unknown_server", msg}
	case errors.Is(err, manager.ErrDisabled):
		return &apiError{http.StatusConflict, "server_disabled", msg}
	case errors.Is(err, config.ErrUntrusted):
		return &apiError{http.StatusConflict, "untrusted", msg}
	case errors.Is(err, manager.ErrNotConnected):
		return &apiError{http.StatusConflict, "not_connected", msg + "; connect it with POST /mcp/{name}/connect"}
	case errors.Is(err, manager.ErrClosed):
		return &apiError{http.StatusServiceUnavailable, "shutting_down", msg}
	case errors.Is(err, oauth.ErrTooManyAttempts):
		return &apiError{http.StatusTooManyRequests, "too_many_attempts", msg}
	case errors.Is(err, oauth.ErrDeviceNotSupported):
		return &apiError{http.StatusBadRequest, "device_not_supported", msg}
	case errors.Is(err, oauth.ErrNotProtected):
		// opencode answers 400 for a server that does not support OAuth.
		return &apiError{http.StatusBadRequest, "not_protected", msg}
	case errors.As(err, &cre):
		return &apiError{http.StatusConflict, "needs_client_registration", msg}
	case errors.As(err, &pie):
		return &apiError{http.StatusConflict, "callback_port_in_use", msg}
	case errors.As(err, &tre):
		return &apiError{http.StatusConflict, "task_required", msg}
	case errors.As(err, &aze):
		return &apiError{http.StatusBadRequest, "authorization_denied", msg}
	case errors.Is(err, callback.ErrUnknownState):
		return &apiError{http.StatusBadRequest, "unknown_state", msg}
	case errors.Is(err, callback.ErrMissingCode):
		return &apiError{http.StatusBadRequest, "missing_code", msg}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{http.StatusGatewayTimeout, "timeout", msg}
	case errors.Is(err, context.Canceled), errors.Is(err, callback.ErrClosed):
		return &apiError{http.StatusConflict, "cancelled", msg}
	default:
		return &apiError{http.StatusBadGateway, "upstream_error", msg}
	}
}
