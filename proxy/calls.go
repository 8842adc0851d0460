package proxy

import (
	"fmt"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// callTable is the proxy's one record of the calls awaiting an answer from
// the server: the client's (forwarded with their IDs unchanged, so the
// client's ID is also the upstream one) and the proxy's own (the replayed
// initialize of a re-initialization, under IDs of their own namespace, with a
// waiter that receives the answer). Every way a call ends removes its entry:
// the answer (resolve), a failed write (cancel), notifications/cancelled
// (cancel), the loss of its session (lose), or the proxy giving up on its
// own call (forget). What to do with an answer — filter a tools/list result,
// note the protocol version of an initialize or server/discover result — is
// part of the entry, so nothing about a call outlives it.
//
// One mutex guards it, taken once per message on the hot path (add, written,
// resolve), as the single proxy mutex was before; entries are values, so
// adding one allocates nothing beyond the map's own growth.
type callTable struct {
	mu      sync.Mutex
	calls   map[jsonrpc.ID]call
	clients int           // entries that are the client's calls
	gen     int           // generation of the newest session (newSession)
	lost    int           // generation of the newest session lost (lose)
	seq     int           // the proxy's own calls so far
	idle    chan struct{} // open while idleCh waits for clients to drop to 0, else nil
}

// call is one entry of a callTable.
type call struct {
	// gen is the generation of the session the call was written on (while
	// writing, the one current when it was added).
	gen int
	// writing: forward has not finished writing the call (it retries by
	// itself on a new session, so losing a session does not fail it).
	writing bool
	// filter: the answer is a tools/list result to filter (IgnoreTools).
	filter bool
	// version: the answer is an initialize or server/discover result,
	// whose protocolVersion the proxy sends from then on.
	version bool
	// waiter receives the answer of the proxy's own call (buffered, 1);
	// nil for the client's calls.
	waiter chan *jsonrpc.Response
}

func newCallTable() *callTable {
	return &callTable{calls: map[jsonrpc.ID]call{}}
}

// newSession starts a new session generation and returns it.
func (t *callTable) newSession() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	return t.gen
}

// add records the client's call id, about to be written on the current
// session generation. A client that reuses the ID of a call still pending
// replaces it (its answer cannot be told apart anyway).
func (t *callTable) add(id jsonrpc.ID, filter, version bool) {
	t.mu.Lock()
	old, ok := t.calls[id]
	if !ok || old.waiter != nil {
		// (A client ID equal to one of the proxy's own takes its entry:
		// that call then ends at its bound.)
		t.clients++
	}
	t.calls[id] = call{gen: t.gen, writing: true, filter: filter, version: version}
	t.mu.Unlock()
}

// written records that the writer of the client's call id is done with it,
// last on the session of generation gen: from now on losing that session
// fails it. If that session has been lost already — after the write, while
// the writer still held the call, so that lose left it alone — the call is
// removed and written reports true: its answer will never come, and the
// writer answers the client instead.
func (t *callTable) written(id jsonrpc.ID, gen int) (lost bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.calls[id]
	if !ok || c.waiter != nil {
		return false
	}
	if gen <= t.lost {
		t.remove(id, c)
		return true
	}
	c.writing, c.gen = false, gen
	t.calls[id] = c
	return false
}

// resolve removes the call an answer with id belongs to and returns it;
// false when no call awaits it (a late answer to a cancelled call, or a
// response the server sent unasked).
func (t *callTable) resolve(id jsonrpc.ID) (call, bool) {
	t.mu.Lock()
	c, ok := t.calls[id]
	if ok {
		t.remove(id, c)
	}
	t.mu.Unlock()
	return c, ok
}

// cancel removes the client's call id (it failed, or the client cancelled
// it) and reports whether it was pending. The proxy's own calls are not the
// client's to cancel.
func (t *callTable) cancel(id jsonrpc.ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.calls[id]
	if !ok || c.waiter != nil {
		return false
	}
	t.remove(id, c)
	return true
}

// lose removes the client's calls of session generations up to gen that
// were fully written — their answers will never come — and returns their
// IDs, to be answered with an error. Calls still being written are left to
// their writers, which retry them on the new session.
func (t *callTable) lose(gen int) []jsonrpc.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lost = max(t.lost, gen)
	var lost []jsonrpc.ID
	for id, c := range t.calls {
		if c.waiter == nil && c.gen <= gen && !c.writing {
			lost = append(lost, id)
			t.remove(id, c)
		}
	}
	return lost
}

// expect records a call of the proxy's own and returns its ID and the
// channel its answer arrives on. The caller forgets it when it stops
// waiting.
func (t *callTable) expect() (jsonrpc.ID, <-chan *jsonrpc.Response) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	id, _ := jsonrpc.MakeID(fmt.Sprintf("mcplink-proxy-reinit-%d", t.seq))
	ch := make(chan *jsonrpc.Response, 1)
	t.calls[id] = call{gen: t.gen, waiter: ch}
	return id, ch
}

// forget removes the proxy's own call id, answered or not.
func (t *callTable) forget(id jsonrpc.ID) {
	t.mu.Lock()
	if c, ok := t.calls[id]; ok && c.waiter != nil {
		t.remove(id, c)
	}
	t.mu.Unlock()
}

// pending returns how many of the client's calls await an answer.
func (t *callTable) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.clients
}

// size returns how many entries the table holds, the proxy's own included.
func (t *callTable) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.calls)
}

// idleCh returns a channel that is closed once none of the client's calls
// awaits an answer (already closed if none does). The drain at stdin's end
// waits on it.
func (t *callTable) idleCh() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.clients == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	return t.idle
}

// remove deletes entry c of id; t.mu is held.
func (t *callTable) remove(id jsonrpc.ID, c call) {
	delete(t.calls, id)
	if c.waiter != nil {
		return
	}
	t.clients--
	if t.clients == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}
