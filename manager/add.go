package manager

import (
	"context"
	"errors"
	"slices"

	"github.com/mcplink/mcplink/config"
)

// Add runs e as server name while the manager runs: a new server, or the
// replacement of the server of that name, whose connection (a local
// server's process group included) is closed and whose connect attempt in
// flight is cancelled first. An enabled, trusted entry is then connected as
// Connect does (bounded by ctx and the entry's timeout; the outcome is in
// the returned state, and in events); a disabled or untrusted one is not
// connected, and one status event reports its state. e must not be
// modified afterwards.
//
// If another Add, Connect, Disconnect or Close supersedes this one while it
// connects, the state returned is the server's current one.
func (m *Manager) Add(ctx context.Context, name string, e *config.Entry) (State, error) {
	if name == "" || e == nil {
		return State{}, errors.New("manager: Add needs a server name and an entry")
	}
	s := newServer(name, e)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return State{}, ErrClosed
	}
	var old *live
	if prev, ok := m.servers[name]; ok {
		// The previous server's attempt in flight and its watchers hold
		// prev, not s: detaching it bumps prev's generation, so they drop
		// what they find instead of touching the new server.
		old = m.detachLocked(prev)
	}
	m.servers[name] = s
	connect := e.Enabled && e.Untrusted == nil
	st := s.snapshot()
	if !connect {
		m.emitLocked(Event{Server: name, Kind: EventStatus, State: st})
	}
	m.mu.Unlock()
	if old != nil {
		old.close() // before the new one starts, as Connect does
	}
	if !connect {
		return st, nil
	}
	// Connect reports "connecting" and then the outcome.
	st, err := m.Connect(ctx, name)
	if err != nil && !errors.Is(err, ErrClosed) {
		// Only a later Add of a disabled or untrusted entry can get here;
		// that entry is the server now, and its state says so.
		if cur, ok := m.State(name); ok {
			return cur, nil
		}
	}
	return st, err
}

// Entry returns the entry server name runs with: the configured one, or
// the one given to Add. It must not be modified.
func (m *Manager) Entry(name string) (*config.Entry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.servers[name]
	if !ok {
		return nil, false
	}
	return s.entry, true
}

// newServer returns the not yet connected server of entry e: disconnected,
// or disabled or untrusted as e says.
func newServer(name string, e *config.Entry) *server {
	st := State{Name: name, Type: e.Type, Status: StatusDisconnected}
	switch {
	case e.Untrusted != nil:
		st.Status, st.Error, st.Err = StatusUntrusted, e.Untrusted.Error(), e.Untrusted
	case !e.Enabled:
		st.Status = StatusDisabled
	}
	switch e.Type {
	case config.TypeLocal:
		st.Command = slices.Clone(e.Command)
		st.Transport = TransportStdio
	default:
		st.URL = e.URL
	}
	return &server{entry: e, state: st}
}
