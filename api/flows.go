package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/fix"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// flow is one pending authorization started through the API: a browser
// flow (p set) or a device authorization grant (device set).
type flow struct {
	server string
	// state keys the flow in flowTable: the OAuth state of a browser flow,
	// a random "device:" key for a device flow.
	state   string
	authURL string
	scopes  []string
	expires time.Time
	started time.Time      // when it was started (monotonic), to find the newest
	p       *oauth.Pending // browser flows
	device  bool           // a device authorization grant (no redirect)
	// stop ends the flow early (DELETE /mcp/{name}/auth, Close); it is
	// idempotent and does not wait.
	stop func()

	done   chan struct{} // closed when the flow ended and, on success, the server was connected
	err    error         // why it failed; read after done
	status manager.State // the server's state after the flow; read after done
}

// flowTable holds the pending flows by server and state.
type flowTable struct {
	mu       sync.Mutex
	byServer map[string]map[string]*flow
	starting map[string]int // flows being started, counted against the cap
	closed   bool
	// wg is the server's WaitGroup: reserve adds to it under mu while the
	// table is open, so Close (closeAll, then Wait) cannot miss a flow.
	wg *sync.WaitGroup
}

func newFlowTable(wg *sync.WaitGroup) *flowTable {
	return &flowTable{byServer: map[string]map[string]*flow{}, starting: map[string]int{}, wg: wg}
}

// errShuttingDown is the answer to flows started while the server closes.
func errShuttingDown() error {
	return errorf(http.StatusServiceUnavailable, "shutting_down", "the API server is shutting down")
}

// reserve claims a slot for a new flow of server, or fails at the cap. A
// successful reservation also counts one goroutine in the server's
// WaitGroup: the caller calls wg.Done once, when the flow (or its failed
// start) is over.
func (t *flowTable) reserve(server string, limit int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errShuttingDown()
	}
	if len(t.byServer[server])+t.starting[server] >= limit {
		return errorf(http.StatusTooManyRequests, "too_many_pending_flows",
			"server %q already has %d pending authorization flows (the maximum); finish one, cancel them with DELETE /mcp/%s/auth, or wait for them to expire", server, limit, server)
	}
	t.starting[server]++
	t.wg.Add(1)
	return nil
}

// add turns a reservation into a pending flow (or releases it when f is nil).
// It reports false when the table was closed meanwhile.
func (t *flowTable) add(server string, f *flow) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.starting[server]--
	if t.starting[server] <= 0 {
		delete(t.starting, server)
	}
	if f == nil || t.closed {
		return false
	}
	m := t.byServer[server]
	if m == nil {
		m = map[string]*flow{}
		t.byServer[server] = m
	}
	m[f.state] = f
	return true
}

func (t *flowTable) remove(f *flow) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m := t.byServer[f.server]; m[f.state] == f {
		delete(m, f.state)
		if len(m) == 0 {
			delete(t.byServer, f.server)
		}
	}
}

func (t *flowTable) get(server, state string) *flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byServer[server][state]
}

// newest returns the browser flow of server started last, or nil.
func (t *flowTable) newest(server string) *flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out *flow
	for _, f := range t.byServer[server] {
		if f.device || f.p == nil {
			continue
		}
		if out == nil || f.started.After(out.started) {
			out = f
		}
	}
	return out
}

func (t *flowTable) count(server string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byServer[server])
}

// total returns the number of pending flows of every server.
func (t *flowTable) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, m := range t.byServer {
		n += len(m)
	}
	return n
}

func (t *flowTable) list(server string) []*flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*flow, 0, len(t.byServer[server]))
	for _, f := range t.byServer[server] {
		out = append(out, f)
	}
	return out
}

func (t *flowTable) closeAll() []*flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	var out []*flow
	for _, m := range t.byServer {
		for _, f := range m {
			out = append(out, f)
		}
	}
	return out
}

// PendingFlows returns the number of pending authorization flows.
func (s *Server) PendingFlows() int { return s.flows.total() }

// oauthEntry returns the entry of a remote server that uses OAuth.
func (s *Server) oauthEntry(name string) (*config.Entry, error) {
	return s.oauthEntryOf(name, true)
}

// oauthEntryOf is oauthEntry; disabled servers pass unless requireEnabled.
func (s *Server) oauthEntryOf(name string, requireEnabled bool) (*config.Entry, error) {
	e, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	// opencode answers 400 BadRequest for a server that does not support
	// OAuth; so does mcplink.
	if e.Type != config.TypeRemote {
		return nil, errorf(http.StatusBadRequest, "not_remote", "server %q is a local server; OAuth applies to remote servers only", name)
	}
	if e.OAuthDisabled {
		return nil, errorf(http.StatusBadRequest, "oauth_disabled", "server %q has \"oauth\": false in %s; remove it to use OAuth", name, e.Source)
	}
	if requireEnabled && !e.Enabled {
		return nil, errorf(http.StatusConflict, "server_disabled", "server %q is disabled; set \"enabled\": true on the entry in %s", name, e.Source)
	}
	return e, nil
}

// beginTimeout bounds discovery, registration and binding the callback port.
const beginTimeout = 30 * time.Second

// startFlow begins an authorization for entry and keeps it pending.
func (s *Server) startFlow(ctx context.Context, e *config.Entry) (*flow, error) {
	if err := s.flows.reserve(e.Name, s.opts.MaxPendingPerServer); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, beginTimeout)
	defer cancel()
	p, err := s.eng.Begin(ctx, e)
	if err != nil {
		s.flows.add(e.Name, nil)
		s.wg.Done()
		return nil, fmt.Errorf("starting the authorization for %q: %w", e.Name, err)
	}
	f := &flow{
		server:  e.Name,
		state:   p.State,
		authURL: p.AuthorizationURL,
		scopes:  p.Scopes,
		expires: time.Now().Add(s.opts.FlowTTL),
		started: time.Now(),
		p:       p,
		stop:    p.Close,
		done:    make(chan struct{}),
	}
	ok := s.flows.add(e.Name, f)
	s.changed()
	if !ok {
		p.Close()
		s.wg.Done()
		return nil, errShuttingDown()
	}
	s.events.Publish(Event{Type: EventFlow, Server: f.server, Flow: &FlowEvent{Phase: FlowStarted, State: f.state, AuthorizationURL: f.authURL,
		Message: "open the authorization URL in a browser to sign in to " + f.server}})
	go func() {
		defer s.wg.Done()
		ctx, cancel := s.closingContext(context.Background())
		defer cancel()
		s.runFlow(ctx, f)
	}()
	return f, nil
}

// runFlow waits for f's redirect (at most FlowTTL, and until ctx ends), then
// connects the server.
func (s *Server) runFlow(ctx context.Context, f *flow) {
	defer close(f.done)
	wctx, cancel := context.WithTimeout(ctx, s.opts.FlowTTL)
	_, err := f.p.Wait(wctx) // closes the callback flow, freeing the port if it was the last
	cancel()
	s.flows.remove(f)
	s.changed()
	if err != nil {
		phase := FlowFailed
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			phase = FlowExpired
			err = errorf(http.StatusGatewayTimeout, "flow_expired", "the authorization for %q was not completed within %s; start a new one", f.server, s.opts.FlowTTL)
		case errors.Is(err, callback.ErrClosed), errors.Is(err, context.Canceled):
			phase = FlowCancelled
			err = errorf(http.StatusConflict, "flow_cancelled", "the authorization for %q was cancelled", f.server)
		}
		s.flowFailed(f, phase, err, FlowEvent{State: f.state})
		return
	}
	s.flowSucceeded(ctx, f, FlowEvent{State: f.state})
}

// flowFailed records why f failed and publishes its last event (ev with
// phase and message set).
func (s *Server) flowFailed(f *flow, phase string, err error, ev FlowEvent) {
	f.err = err
	ev.Phase, ev.Message = phase, fix.Message(err, fix.API)
	s.events.Publish(Event{Type: EventFlow, Server: f.server, Flow: &ev})
	f.status, _ = s.m.State(f.server)
}

// flowSucceeded publishes f's success (ev with phase and message set) and
// connects the server.
func (s *Server) flowSucceeded(ctx context.Context, f *flow, ev FlowEvent) {
	s.invalidateAuth(f.server)
	ev.Phase, ev.Message = FlowSucceeded, "signed in to "+f.server+"; connecting"
	s.events.Publish(Event{Type: EventFlow, Server: f.server, Flow: &ev})
	st, cerr := s.m.Connect(ctx, f.server)
	s.changed()
	if cerr != nil {
		st, _ = s.m.State(f.server)
	}
	f.status = st
}

// waitFlow waits for f to end (or ctx) and returns the server's state after it.
func (s *Server) waitFlow(ctx context.Context, f *flow) (manager.State, error) {
	select {
	case <-f.done:
	case <-ctx.Done():
		return manager.State{}, fmt.Errorf("waiting for the authorization of %q: %w", f.server, ctx.Err())
	}
	if f.err != nil {
		return f.status, f.err
	}
	return f.status, nil
}

// cancelFlows ends every pending flow of server and waits for them.
func (s *Server) cancelFlows(ctx context.Context, server string) {
	fs := s.flows.list(server)
	for _, f := range fs {
		f.stop()
	}
	for _, f := range fs {
		select {
		case <-f.done:
		case <-ctx.Done():
			return
		}
	}
}

// authCache caches stored-credential states briefly: GET /mcp is hot and
// the store is a locked file other processes also write.
type authCache struct {
	mu      sync.Mutex
	entries map[string]authCacheEntry
}

type authCacheEntry struct {
	st  oauth.AuthStatus
	err bool
	at  time.Time
}

const authCacheTTL = time.Second

// invalidateAuth forgets the cached credential state of name.
func (s *Server) invalidateAuth(name string) {
	s.auth.mu.Lock()
	delete(s.auth.entries, name)
	s.auth.mu.Unlock()
	s.changed()
}

func (s *Server) authStatus(ctx context.Context, e *config.Entry) *AuthStatus {
	now := time.Now()
	s.auth.mu.Lock()
	ce, ok := s.auth.entries[e.Name]
	s.auth.mu.Unlock()
	if !ok || now.Sub(ce.at) > authCacheTTL {
		st, err := s.eng.Status(ctx, e)
		ce = authCacheEntry{st: st, err: err != nil, at: now}
		if err != nil {
			s.opts.Logf("api: %s: reading stored credentials: %v", e.Name, err)
		}
		s.auth.mu.Lock()
		s.auth.entries[e.Name] = ce
		s.auth.mu.Unlock()
	}
	a := &AuthStatus{State: string(ce.st.State), Scopes: ce.st.Scopes, Refreshable: ce.st.Refreshable, PendingFlows: s.flows.count(e.Name)}
	if ce.err {
		a.State = "unknown"
	}
	if !ce.st.Expiry.IsZero() {
		t := ce.st.Expiry
		a.ExpiresAt = &t
	}
	return a
}

// status converts a manager state to the API's status object.
func (s *Server) status(ctx context.Context, st manager.State) ServerStatus {
	out := ServerStatus{
		Name: st.Name, Type: st.Type, Status: OpencodeStatus(st.Status), State: string(st.Status), Error: fix.State(st, fix.API),
		Tools: make([]string, 0, len(st.Tools)), URL: st.URL, Command: slices.Clone(st.Command), Transport: st.Transport,
	}
	for _, t := range st.Tools {
		out.Tools = append(out.Tools, t.Name)
	}
	// A disabled server shows no auth state: nothing connects to it, so
	// "not_authenticated" would only look like something to fix.
	if e := s.entryOf(st.Name); e != nil && e.Enabled && e.Type == config.TypeRemote && !e.OAuthDisabled {
		out.Auth = s.authStatus(ctx, e)
	}
	// opencode's McpStatusFailed and McpStatusNeedsClientRegistration
	// require an error.
	if out.Error == "" && (out.Status == StatusFailed || out.Status == StatusNeedsClientRegistration) {
		out.Error = fmt.Sprintf("%s (no detail was recorded; run \"mcplink debug %s\")", strings.ReplaceAll(out.State, "_", " "), st.Name)
	}
	return out
}
