package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/mcplink/mcplink/manager"
)

// Events is the hub behind GET /events. It never blocks a publisher: a
// subscriber whose buffer is full loses its oldest queued event.
type Events struct {
	mu     sync.Mutex
	subs   map[*eventSub]struct{}
	closed bool
}

type eventSub struct{ ch chan Event }

// NewEvents returns an empty hub.
func NewEvents() *Events { return &Events{subs: map[*eventSub]struct{}{}} }

// Notify publishes a progress message of the OAuth engine for server as a
// flow event (phase "progress"). Wire it to oauth.Options.Notify.
func (e *Events) Notify(server, msg string) {
	e.Publish(Event{Type: EventFlow, Server: server, Flow: &FlowEvent{Phase: FlowProgress, Message: msg}})
}

// Publish sends ev to every subscriber.
func (e *Events) Publish(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for sub := range e.subs {
		select {
		case sub.ch <- ev:
			continue
		default:
		}
		select {
		case <-sub.ch:
		default:
		}
		select {
		case sub.ch <- ev:
		default:
		}
	}
}

// Subscribe returns a channel of events and a function ending the
// subscription (closing the channel). Close closes every subscription.
func (e *Events) Subscribe(buf int) (<-chan Event, func()) {
	sub := &eventSub{ch: make(chan Event, max(buf, 1))}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		close(sub.ch)
		return sub.ch, func() {}
	}
	e.subs[sub] = struct{}{}
	e.mu.Unlock()
	var once sync.Once
	return sub.ch, func() {
		once.Do(func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			if _, ok := e.subs[sub]; ok {
				delete(e.subs, sub)
				close(sub.ch)
			}
		})
	}
}

// Close ends every subscription; later Subscribe calls get a closed channel.
func (e *Events) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for sub := range e.subs {
		delete(e.subs, sub)
		close(sub.ch)
	}
}

// forward turns the manager's events (servers added with POST /mcp
// included) into API events until ch is closed; ctx bounds reading stored
// credentials for their status.
func (s *Server) forward(ctx context.Context, ch <-chan manager.Event) {
	for ev := range ch {
		s.changed()
		typ := EventStatus
		if ev.Kind == manager.EventTools {
			typ = EventTools
		}
		st := s.status(ctx, ev.State)
		s.events.Publish(Event{Type: typ, Server: ev.Server, Status: &st})
	}
}

// sseHeartbeat is the interval of keep-alive comments on /events.
const sseHeartbeat = 15 * time.Second

// handleEvents streams events: first the status of every server, then
// changes as they happen.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream has no end
	ch, cancel := s.events.Subscribe(256)
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(ev Event) error {
		data, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, data); err != nil {
			return err
		}
		return rc.Flush()
	}
	for _, st := range s.m.States() {
		ss := s.status(r.Context(), st)
		if write(Event{Type: EventStatus, Server: st.Name, Status: &ss}) != nil {
			return
		}
	}
	if _, err := fmt.Fprint(w, ": ready\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	t := time.NewTicker(sseHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case ev, ok := <-ch:
			if !ok || write(ev) != nil {
				return
			}
		case <-t.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}
