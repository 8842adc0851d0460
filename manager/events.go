package manager

import "sync"

type subscriber struct {
	ch chan Event
}

// Subscribe returns a channel of status and tool-list events and a function
// that ends the subscription (and closes the channel). Close also closes it.
//
// The manager never blocks on a subscriber: when a subscriber's buffer (buf,
// at least 1) is full, the oldest queued event is dropped to make room for the
// new one, so a slow subscriber always receives the most recent changes.
// Use States for a complete snapshot.
func (m *Manager) Subscribe(buf int) (<-chan Event, func()) {
	sub := &subscriber{ch: make(chan Event, max(buf, 1))}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		close(sub.ch)
		return sub.ch, func() {}
	}
	m.subs[sub] = struct{}{}
	m.mu.Unlock()
	var once sync.Once
	return sub.ch, func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if _, ok := m.subs[sub]; ok {
				delete(m.subs, sub)
				close(sub.ch)
			}
		})
	}
}

// emitLocked delivers ev to every subscriber without blocking. m.mu is held,
// which keeps each subscriber's events in order.
func (m *Manager) emitLocked(ev Event) {
	for sub := range m.subs {
		select {
		case sub.ch <- ev:
			continue
		default:
		}
		select { // full: drop the oldest event
		case <-sub.ch:
		default:
		}
		select {
		case sub.ch <- ev:
		default: // the subscriber is reading concurrently; its buffer refilled
		}
	}
}
