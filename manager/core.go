package manager

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/limit"
	"github.com/mcplink/mcplink/oauth"
)

// Manager owns one connection per configured server. It is safe for
// concurrent use. Connection failures are reported in State (Status and
// Error); method errors are reserved for unknown or disabled servers, a
// missing session and a closed manager.
type Manager struct {
	opts Options

	mu      sync.Mutex
	servers map[string]*server
	subs    map[*subscriber]struct{}
	closed  bool
	wg      sync.WaitGroup // connect attempts and per-connection goroutines

	progress progressRouter // routes notifications/progress to CallToolProgress callers
}

type server struct {
	entry  *config.Entry
	state  State
	gen    uint64             // bumped by every Connect, Disconnect and Close
	cancel context.CancelFunc // cancels the in-flight connect attempt
	live   *live              // the current connection, nil unless connected
}

// live is one established connection.
type live struct {
	session *mcp.ClientSession
	proc    *process           // local servers only
	refresh chan struct{}      // tools/list_changed signals, capacity 1 (coalescing)
	stop    context.CancelFunc // stops the refresher
	release context.CancelFunc // releases transport resources after the session closed; may be nil
	rec     *recorder          // remote servers: the connection's HTTP recorder
	conn    *connTransport     // Streamable HTTP servers: the connection's transport
	tasks   *taskTable         // its tools' task support, read from tools/list answers
	once    sync.Once
}

// close ends the session, the refresher and (for local servers) the whole
// process group. It is idempotent.
func (l *live) close() {
	l.once.Do(func() {
		if l.stop != nil {
			l.stop()
		}
		if l.session != nil {
			_ = l.session.Close()
		}
		if l.release != nil {
			l.release()
		}
		if l.proc != nil {
			l.proc.stop(stdinGrace)
		}
	})
}

// New returns a manager for cfg's servers. It connects nothing: call
// ConnectAll or Connect. cfg must not be modified afterwards.
func New(cfg *config.Config, opts Options) *Manager {
	m := &Manager{opts: opts, servers: map[string]*server{}, subs: map[*subscriber]struct{}{}}
	if cfg == nil {
		return m
	}
	for name, e := range cfg.Servers {
		if e == nil {
			continue
		}
		m.servers[name] = newServer(name, e)
	}
	return m
}

// ConnectAll connects every enabled server concurrently, each bounded by its
// own timeout, and returns every configured server's state sorted by name
// (disabled servers as disabled). A slow server never delays another's
// connection; ConnectAll returns when the last attempt ends.
func (m *Manager) ConnectAll(ctx context.Context) []State {
	m.mu.Lock()
	var names []string
	for name, s := range m.servers {
		if s.entry.Enabled && s.entry.Untrusted == nil {
			names = append(names, name)
		}
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() { _, _ = m.Connect(ctx, name) })
	}
	wg.Wait()
	return m.States()
}

// Connect (re)connects one server and returns its resulting state. An
// existing connection (and, for a local server, its process group) is closed
// first; an attempt still in flight for the same server is cancelled. If
// another Connect, Disconnect or Close supersedes this one while it runs, the
// state returned is the server's current one.
func (m *Manager) Connect(ctx context.Context, name string) (State, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return State{}, ErrClosed
	}
	s, ok := m.servers[name]
	if !ok {
		m.mu.Unlock()
		return State{}, fmt.Errorf("%w: %q", ErrUnknownServer, name)
	}
	if ue := s.entry.Untrusted; ue != nil {
		// Never started or contacted; the error carries the file and the fix.
		st := s.snapshot()
		m.mu.Unlock()
		return st, untrusted(name, ue)
	}
	if !s.entry.Enabled {
		st := s.snapshot()
		m.mu.Unlock()
		return st, fmt.Errorf("%w: %q (set \"enabled\": true on the entry)", ErrDisabled, name)
	}
	old := m.detachLocked(s)
	gen := s.gen
	attemptCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.state.Status = StatusConnecting
	s.state.Error = ""
	s.state.Err = nil
	s.state.Tools = nil
	s.state.TaskSupport = nil
	if s.entry.Type != config.TypeLocal {
		s.state.Transport = ""
	}
	m.emitLocked(Event{Server: name, Kind: EventStatus, State: s.snapshot()})
	m.wg.Add(1)
	m.mu.Unlock()
	defer m.wg.Done()
	defer cancel()

	if old != nil {
		old.close()
	}
	l, out := m.attempt(attemptCtx, s.entry)

	m.mu.Lock()
	if s.gen != gen || m.closed {
		st := s.snapshot()
		closed := m.closed
		m.mu.Unlock()
		if l != nil {
			l.close()
		}
		if closed {
			return st, ErrClosed
		}
		return st, nil
	}
	s.cancel = nil
	s.state.Status = out.status
	s.state.Error = out.err
	s.state.Err = out.cause
	s.state.Tools = out.tools
	s.state.TaskSupport = out.tasks
	if out.transport != "" {
		s.state.Transport = out.transport
	}
	if l != nil {
		s.live = l
		m.startWatchersLocked(s, l)
	}
	st := s.snapshot()
	m.emitLocked(Event{Server: name, Kind: EventStatus, State: st})
	m.mu.Unlock()
	return st, nil
}

// detachLocked cancels s's in-flight attempt and takes its connection away;
// the caller closes the returned connection outside the lock.
func (m *Manager) detachLocked(s *server) *live {
	s.gen++
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
	old := s.live
	s.live = nil
	return old
}

// Disconnect closes one server's connection (terminating a local server's
// process group) and cancels an attempt in flight. The server's status
// becomes disconnected (disabled for a disabled entry).
func (m *Manager) Disconnect(name string) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	s, ok := m.servers[name]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrUnknownServer, name)
	}
	if s.entry.Untrusted != nil {
		m.mu.Unlock()
		return nil // never connected; the status and its error stay
	}
	old := m.detachLocked(s)
	prev := s.state.Status
	s.state.Status = StatusDisconnected
	if !s.entry.Enabled {
		s.state.Status = StatusDisabled
	}
	s.state.Error = ""
	s.state.Err = nil
	s.state.Tools = nil
	s.state.TaskSupport = nil
	if prev != s.state.Status {
		m.emitLocked(Event{Server: name, Kind: EventStatus, State: s.snapshot()})
	}
	m.mu.Unlock()
	if old != nil {
		old.close()
	}
	return nil
}

// States returns every configured server's state, sorted by name.
func (m *Manager) States() []State {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]State, 0, len(m.servers))
	for _, s := range m.servers {
		out = append(out, s.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// State returns one server's state.
func (m *Manager) State(name string) (State, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.servers[name]
	if !ok {
		return State{}, false
	}
	return s.snapshot(), true
}

// Tools returns a connected server's tools. The list is fetched once per
// connection and refreshed when the server sends tools/list_changed.
func (m *Manager) Tools(ctx context.Context, name string) ([]*mcp.Tool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.connectedLocked(name)
	if err != nil {
		return nil, err
	}
	return slices.Clone(s.state.Tools), nil
}

// TaskSupport returns what a connected server's tool declares in
// "execution.taskSupport" (TaskForbidden when it declares nothing, and for
// an unknown server or tool). The value comes from the same tools/list
// answers as Tools.
func (m *Manager) TaskSupport(name, tool string) TaskSupport {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.servers[name]; ok && s.live != nil {
		if ts, ok := s.state.TaskSupport[tool]; ok {
			return ts
		}
	}
	return TaskForbidden
}

// CallTool calls a tool on a connected server: CallToolProgress without
// progress.
func (m *Manager) CallTool(ctx context.Context, name, tool string, args map[string]any) (*mcp.CallToolResult, error) {
	return m.CallToolProgress(ctx, name, tool, args, nil)
}

// Session returns a connected server's session, for operations the manager
// does not wrap. The caller must not close it.
func (m *Manager) Session(name string) (*mcp.ClientSession, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.servers[name]
	if !ok || s.live == nil {
		return nil, false
	}
	return s.live.session, true
}

// recorder returns the HTTP recorder of a connected remote server, nil if none.
func (m *Manager) recorder(name string) *recorder {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.servers[name]; ok && s.live != nil {
		return s.live.rec
	}
	return nil
}

// connOf returns the transport of a server connected over Streamable HTTP,
// nil if none.
func (m *Manager) connOf(name string) *connTransport {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.servers[name]; ok && s.live != nil {
		return s.live.conn
	}
	return nil
}

func (m *Manager) connectedLocked(name string) (*server, error) {
	if m.closed {
		return nil, ErrClosed
	}
	s, ok := m.servers[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownServer, name)
	}
	if s.live == nil {
		if ue := s.entry.Untrusted; ue != nil {
			return nil, untrusted(name, ue)
		}
		if !s.entry.Enabled {
			return nil, fmt.Errorf("%w: %q", ErrDisabled, name)
		}
		return nil, fmt.Errorf("%w: %q is %s", ErrNotConnected, name, s.state.Status)
	}
	return s, nil
}

// Close closes every session and terminates every local server's process
// group, cancels attempts in flight, waits for all of the manager's
// goroutines and closes every subscriber's channel. It is idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	var lives []*live
	for _, s := range m.servers {
		if l := m.detachLocked(s); l != nil {
			lives = append(lives, l)
		}
	}
	for sub := range m.subs {
		delete(m.subs, sub)
		close(sub.ch)
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range lives {
		wg.Go(l.close)
	}
	wg.Wait()
	m.wg.Wait()
	return nil
}

func (s *server) snapshot() State {
	st := s.state
	st.Tools = slices.Clone(s.state.Tools)
	st.TaskSupport = maps.Clone(s.state.TaskSupport)
	st.Command = slices.Clone(s.state.Command)
	return st
}

// outcome is the result of one connect attempt.
type outcome struct {
	status    Status
	err       string
	cause     error // the typed error behind err, if any (State.Err)
	transport string
	tools     []*mcp.Tool
	tasks     map[string]TaskSupport
}

// timeout returns the connect timeout for e.
func (m *Manager) timeout(e *config.Entry) time.Duration {
	if m.opts.Timeout > 0 {
		return m.opts.Timeout
	}
	return e.EffectiveTimeout()
}

// timeoutError is the *TimeoutError of a connect to e bounded by d.
func (m *Manager) timeoutError(e *config.Entry, d time.Duration) *TimeoutError {
	return &TimeoutError{Server: e.Name, Timeout: d, Override: m.opts.Timeout > 0, ConfigFile: e.Source}
}

// attempt connects to e and lists its tools within e's timeout.
func (m *Manager) attempt(ctx context.Context, e *config.Entry) (*live, outcome) {
	if e.Untrusted != nil { // Connect refuses these first; a second gate costs nothing
		return nil, outcome{status: StatusUntrusted, err: e.Untrusted.Error(), cause: e.Untrusted}
	}
	timeout := m.timeout(e)
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	l := &live{refresh: make(chan struct{}, 1), tasks: newTaskTable()}
	impl := m.opts.ClientInfo
	if impl == nil {
		impl = &mcp.Implementation{Name: "mcplink", Version: "dev"}
	}
	client := mcp.NewClient(impl, &mcp.ClientOptions{
		ProgressNotificationHandler: m.progress.handle,
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case l.refresh <- struct{}{}:
			default: // a refresh is already pending
			}
		},
	})
	timedOut := func() bool {
		return errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	}

	if e.Type == config.TypeLocal {
		p, err := startProcess(e)
		if err != nil {
			return nil, outcome{status: StatusFailed, err: err.Error(), cause: startCause(err), transport: TransportStdio}
		}
		l.proc = p
		cs, err := client.Connect(tctx, taskTransport{Transport: p.transport(), tasks: l.tasks}, m.opts.sessionOptions())
		var tools []*mcp.Tool
		if err == nil {
			l.session = cs
			tools, err = listTools(tctx, cs)
		}
		if err == nil {
			return l, outcome{status: StatusConnected, transport: TransportStdio, tools: tools, tasks: l.tasks.of(tools)}
		}
		var msg string
		var cause error
		switch {
		case p.out.err() != nil:
			msg = tooLargeMessage(p.out.err())
		case tctx.Err() == nil && p.waitExit(stdinGrace): // most likely it died
			msg = p.describeExit()
		case timedOut():
			te := m.timeoutError(e, timeout)
			msg, cause = te.Error(), te
		case ctx.Err() != nil:
			msg = "connect cancelled: " + ctx.Err().Error()
		default:
			msg = err.Error()
		}
		p.stop(0) // it failed the handshake: no grace for stdin
		l.close()
		return nil, outcome{status: StatusFailed, err: msg, cause: cause, transport: TransportStdio}
	}

	if e.URL == "" {
		return nil, outcome{status: StatusFailed, err: `no "url" set on the entry`}
	}
	// connCtx is the connection's lifetime: the connect deadline ends it
	// until the connection is established, and closing the connection after.
	connCtx, connCancel := context.WithCancel(context.Background())
	stopWatch := context.AfterFunc(tctx, connCancel)
	res := m.connectRemote(tctx, connCtx, e, client, l.tasks)
	err := res.err
	var tools []*mcp.Tool
	if err == nil {
		l.session = res.session
		l.release = connCancel
		l.rec = res.rec
		l.conn = res.conn
		tools, err = listTools(tctx, res.session)
		err = withTooLarge(err, res.rec)
		if err == nil && m.opts.OneShot && res.conn != nil {
			res.conn.settle(tctx) // before tctx's cancel below
		}
		if err == nil && stopWatch() {
			return l, outcome{status: StatusConnected, transport: res.transport, tools: tools, tasks: l.tasks.of(tools)}
		}
		if err == nil {
			err = tctx.Err()
		}
		l.close()
	}
	connCancel()
	var te *TimeoutError
	if timedOut() {
		te = m.timeoutError(e, timeout)
	}
	status, msg, cause := classify(e, err, res, te, ctx)
	return nil, outcome{status: status, err: msg, cause: cause}
}

// classify maps a remote connect error to a status and a message, from typed
// errors and recorded HTTP statuses only; cause is the typed error behind the
// message when the manager has one (State.Err).
//
// timedOut is the connect's *TimeoutError when its bound ended it, else nil.
func classify(e *config.Entry, err error, res remoteResult, timedOut *TimeoutError, ctx context.Context) (status Status, msg string, cause error) {
	var tl *limit.TooLargeError
	if errors.As(err, &tl) {
		return StatusFailed, err.Error(), tl
	}
	if res.rec != nil {
		// Refused configured credentials: signing in cannot help while they
		// are sent (with OAuth on, a configured Authorization header is
		// sent whenever no OAuth token is stored), so this is checked
		// before the OAuth handler's needs_auth.
		code, challenge := res.rec.last()
		if he := headerRefusal(e, code, challenge); he != nil {
			return StatusFailed, he.Error(), he
		}
	}
	st, msg, te := classifyMessage(e, err, res, timedOut, ctx)
	var cre *oauth.ClientRegistrationError
	var nae *oauth.NeedsAuthError
	var fe *oauth.FreshTokenRefusedError
	var be *oauth.BrakeError
	switch {
	case errors.As(err, &cre):
		return st, msg, cre
	case errors.As(err, &nae):
		return st, msg, nae
	case errors.As(err, &fe):
		return st, msg, fe
	case errors.As(err, &be):
		return st, msg, be
	case st == StatusNeedsAuth:
		// The surfaces word how to sign in (internal/fix).
		return st, msg, &oauth.NeedsAuthError{Server: e.Name, ConfigFile: e.Source, Reason: msg}
	case te != nil:
		return st, msg, te
	}
	return st, msg, nil
}

// classifyMessage is classify without the configured-header case; its
// error is the *TimeoutError when the bound ended the connect.
func classifyMessage(e *config.Entry, err error, res remoteResult, timedOut *TimeoutError, ctx context.Context) (Status, string, error) {
	var cre *oauth.ClientRegistrationError
	if errors.As(err, &cre) {
		return StatusNeedsClientRegistration, cre.Error(), nil
	}
	var nae *oauth.NeedsAuthError
	if errors.As(err, &nae) {
		// The typed error says why and how to fix it; the transport chain
		// around it adds nothing for the user.
		return StatusNeedsAuth, nae.Error(), nil
	}
	if errors.Is(err, oauth.ErrNeedsAuth) {
		return StatusNeedsAuth, "authorization required: " + err.Error(), nil
	}
	if res.rec != nil {
		if code, challenge := res.rec.last(); code == http.StatusUnauthorized {
			if res.oauth {
				// The OAuth handler ran and failed without saying why in a
				// typed error (for example its authorization server was
				// unreachable): that is a failure, not a missing login.
				return StatusFailed, "authorization failed: " + err.Error(), nil
			}
			if e.OAuthDisabled {
				msg := `server answered 401 Unauthorized: it wants credentials; set "headers" on the entry (for example an Authorization header), or remove "oauth": false to use OAuth`
				if challenge != "" {
					msg += " (WWW-Authenticate: " + challenge + ")"
				}
				return StatusFailed, msg, nil
			}
			return StatusNeedsAuth, "server answered 401 Unauthorized", nil
		}
	}
	switch {
	case timedOut != nil:
		return StatusFailed, timedOut.Error(), timedOut
	case ctx.Err() != nil:
		return StatusFailed, "connect cancelled: " + ctx.Err().Error(), nil
	}
	if msg := unreachable(e, err); msg != "" {
		return StatusFailed, msg, nil
	}
	return StatusFailed, err.Error(), nil
}

// unreachable explains a connection that never reached the server (refused,
// unknown host, no route, TLS failure), from typed network errors; "" when err
// is something else.
func unreachable(e *config.Entry, err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("cannot resolve the host %q of %s; check the \"url\" of the entry", dnsErr.Name, e.URL)
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return fmt.Sprintf("the TLS certificate of %s is not trusted: %v", e.URL, certErr.Err)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		switch {
		case errors.Is(opErr.Err, syscall.ECONNREFUSED):
			return fmt.Sprintf("cannot connect to %s: connection refused (is the server running on that port?)", e.URL)
		default:
			return fmt.Sprintf("cannot connect to %s: %v", e.URL, opErr.Err)
		}
	}
	return ""
}

// listTools lists every tool of a session, following pagination.
func listTools(ctx context.Context, cs *mcp.ClientSession) ([]*mcp.Tool, error) {
	var tools []*mcp.Tool
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("list tools: %w", err)
		}
		tools = append(tools, t)
	}
	return tools, nil
}

// startWatchersLocked starts l's two goroutines, owned by m.wg and stopped by
// l.close: one refreshes tools after tools/list_changed, one notices the
// session ending on its own (server gone, local process exited).
func (m *Manager) startWatchersLocked(s *server, l *live) {
	ctx, stop := context.WithCancel(context.Background())
	l.stop = stop
	timeout := m.timeout(s.entry)
	m.wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.refresh:
			}
			tctx, cancel := context.WithTimeout(ctx, timeout)
			tools, err := listTools(tctx, l.session)
			cancel()
			if err != nil {
				continue // keep the previous list; the watcher reports a dead session
			}
			m.mu.Lock()
			if s.live == l {
				s.state.Tools = tools
				s.state.TaskSupport = l.tasks.of(tools)
				m.emitLocked(Event{Server: s.state.Name, Kind: EventTools, State: s.snapshot()})
			}
			m.mu.Unlock()
		}
	})
	m.wg.Go(func() {
		err := l.session.Wait()
		m.mu.Lock()
		if s.live != l {
			m.mu.Unlock()
			return // closed on purpose
		}
		s.live = nil
		s.gen++
		gen := s.gen
		m.mu.Unlock()
		msg := "connection lost"
		if err != nil {
			msg += ": " + err.Error()
		}
		switch {
		case l.proc != nil && l.proc.out.err() != nil:
			msg = tooLargeMessage(l.proc.out.err())
		case l.proc != nil && l.proc.waitExit(stdinGrace):
			msg = "server " + l.proc.describeExit()
		}
		l.close()
		m.mu.Lock()
		if s.gen == gen && !m.closed { // no Connect or Disconnect since
			s.state.Status = StatusFailed
			s.state.Error = msg
			s.state.Err = nil
			s.state.Tools = nil
			s.state.TaskSupport = nil
			m.emitLocked(Event{Server: s.state.Name, Kind: EventStatus, State: s.snapshot()})
		}
		m.mu.Unlock()
	})
}

// untrusted returns ue naming the server (errors.Is(err,
// config.ErrUntrusted) holds; errors.As finds the *config.UntrustedError).
func untrusted(name string, ue *config.UntrustedError) error {
	c := *ue
	c.Server = name
	return &c
}
