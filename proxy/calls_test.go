package proxy

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// callID is an ID as the client's JSON gives it (a number or a string).
func callID(t *testing.T, v any) jsonrpc.ID {
	t.Helper()
	if n, ok := v.(int); ok {
		v = float64(n)
	}
	id, err := jsonrpc.MakeID(v)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// empty fails t unless the table holds nothing and its idle channel is closed.
func empty(t *testing.T, tab *callTable) {
	t.Helper()
	if n, c := tab.size(), tab.pending(); n != 0 || c != 0 {
		t.Fatalf("table holds %d entries (%d client calls), want none: %v", n, c, tab.calls)
	}
	select {
	case <-tab.idleCh():
	default:
		t.Fatal("idle channel of an empty table is open")
	}
}

// TestCallTableEveryEndRemovesTheCall: a call ends by its answer, a failed
// write or the client's cancellation, whatever it was (tools/list to
// filter, server/discover whose version is noted), and leaves nothing
// behind; the drain's channel closes when the last one ends.
func TestCallTableEveryEndRemovesTheCall(t *testing.T) {
	tab := newCallTable()
	gen := tab.newSession()
	answered, failed, cancelled := callID(t, 1), callID(t, "two"), callID(t, 3)
	tab.add(answered, true, false) // tools/list
	tab.add(failed, false, true)   // server/discover
	tab.add(cancelled, false, true)
	if got := tab.pending(); got != 3 {
		t.Fatalf("pending = %d, want 3", got)
	}
	idle := tab.idleCh()
	for _, id := range []jsonrpc.ID{answered, failed, cancelled} {
		if tab.written(id, gen) {
			t.Fatalf("written(%v) reported a lost session", id)
		}
	}

	c, ok := tab.resolve(answered)
	if !ok || !c.filter || c.version || c.waiter != nil || c.gen != gen {
		t.Fatalf("resolve(answered) = %+v, %v; want the tools/list entry to filter", c, ok)
	}
	if _, ok := tab.resolve(answered); ok {
		t.Fatal("a second answer to the same call resolved it again")
	}
	if !tab.cancel(failed) { // forward's write failed
		t.Fatal("cancel(failed) = false, want the pending call removed")
	}
	select {
	case <-idle:
		t.Fatal("idle channel closed while a call is pending")
	default:
	}
	if !tab.cancel(cancelled) { // notifications/cancelled
		t.Fatal("cancel(cancelled) = false")
	}
	select {
	case <-idle:
	case <-time.After(5 * time.Second):
		t.Fatal("idle channel still open after the last call ended")
	}
	if tab.cancel(cancelled) {
		t.Fatal("cancelling an ended call reported it pending")
	}
	if c, ok := tab.resolve(cancelled); ok {
		t.Fatalf("a late answer to a cancelled call resolved %+v", c)
	}
	empty(t, tab)

	// A call cancelled while its writer still holds it: the writer's
	// written finds nothing to update and adds nothing back.
	tab.add(cancelled, false, false)
	tab.cancel(cancelled)
	tab.written(cancelled, gen)
	empty(t, tab)

	// A client that reuses the ID of a pending call has one call pending.
	tab.add(answered, false, false)
	tab.add(answered, true, false)
	if got := tab.pending(); got != 1 {
		t.Fatalf("pending after reusing an ID = %d, want 1", got)
	}
	tab.resolve(answered)
	empty(t, tab)
}

// TestCallTableSessionLoss: losing a session fails the calls fully written
// on it, leaves the ones still being written to their writers (which retry
// them on the next session), and a call whose write ended on the lost
// session after the loss is reported lost by written — none stays behind.
func TestCallTableSessionLoss(t *testing.T) {
	tab := newCallTable()
	gen1 := tab.newSession()
	sent, retried, late := callID(t, 1), callID(t, 2), callID(t, 3)
	tab.add(sent, false, true)
	tab.add(retried, false, false)
	tab.add(late, true, false)
	tab.written(sent, gen1)

	gen2 := tab.newSession()
	lost := tab.lose(gen1)
	if len(lost) != 1 || lost[0] != sent {
		t.Fatalf("lose = %v, want only the written call %v", lost, sent)
	}
	if got := tab.pending(); got != 2 {
		t.Fatalf("pending after the loss = %d, want the 2 calls still being written", got)
	}
	// retried's write failed on gen1 and succeeded on gen2: it awaits its
	// answer there.
	if tab.written(retried, gen2) {
		t.Fatal("a call written on the new session was reported lost")
	}
	// late's write succeeded on gen1 just before the loss: its answer
	// will never come.
	if !tab.written(late, gen1) {
		t.Fatal("a call written on the lost session was not reported lost")
	}
	if _, ok := tab.resolve(late); ok {
		t.Fatal("the lost call is still in the table")
	}
	// Losing gen2 fails retried.
	tab.newSession()
	if lost := tab.lose(gen2); len(lost) != 1 || lost[0] != retried {
		t.Fatalf("lose(gen2) = %v, want [%v]", lost, retried)
	}
	empty(t, tab)
}

// TestCallTableReinitialization: the proxy's own call (the replayed
// initialize) has a waiter, is not the client's to cancel, survives the
// loss of the client's calls, does not hold up the drain, and is gone once
// forgotten — answered or not.
func TestCallTableReinitialization(t *testing.T) {
	tab := newCallTable()
	gen1 := tab.newSession()
	client := callID(t, 7)
	tab.add(client, false, true) // the client's initialize
	tab.written(client, gen1)

	tab.newSession()
	if lost := tab.lose(gen1); len(lost) != 1 || lost[0] != client {
		t.Fatalf("lose = %v, want [%v]", lost, client)
	}
	own, ch := tab.expect()
	select {
	case <-tab.idleCh():
	default:
		t.Fatal("the proxy's own call holds up the drain")
	}
	if tab.cancel(own) {
		t.Fatal("the client cancelled the proxy's own call")
	}
	if lost := tab.lose(gen1 + 1); len(lost) != 0 {
		t.Fatalf("lose took the proxy's own call: %v", lost)
	}
	c, ok := tab.resolve(own)
	if !ok || c.waiter == nil {
		t.Fatalf("resolve(own) = %+v, %v; want the waiter", c, ok)
	}
	resp := &jsonrpc.Response{ID: own}
	c.waiter <- resp // buffered: fromServer never blocks on it
	if got := <-ch; got != resp {
		t.Fatalf("waiter got %v", got)
	}
	tab.forget(own) // replayInit's deferred forget after the answer
	empty(t, tab)

	// Unanswered (a timeout): forget removes it.
	own2, _ := tab.expect()
	if own2 == own {
		t.Fatalf("two own calls share the ID %v", own)
	}
	if got := tab.size(); got != 1 {
		t.Fatalf("size = %d, want the own call", got)
	}
	tab.forget(own2)
	empty(t, tab)
}

// BenchmarkCallTable is a call's whole hot-path life in the table (add when
// the client sends it, written once posted, resolve when answered): one
// lock each, and no allocation once the map has room.
func BenchmarkCallTable(b *testing.B) {
	tab := newCallTable()
	gen := tab.newSession()
	ids := make([]jsonrpc.ID, 64)
	for i := range ids {
		ids[i], _ = jsonrpc.MakeID(float64(i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := ids[i%len(ids)]
		tab.add(id, false, false)
		tab.written(id, gen)
		tab.resolve(id)
		i++
	}
	if tab.size() != 0 {
		b.Fatalf("%d entries left", tab.size())
	}
}

// TestDrainEndsWithTheLastCall: at stdin's end the drain waits while a
// client call is pending — the proxy's own calls aside — and returns as soon
// as the last one ends, long before its grace.
func TestDrainEndsWithTheLastCall(t *testing.T) {
	p, err := newProxy(Options{URL: "http://127.0.0.1:1/mcp"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	gen := p.calls.newSession()
	a, b := callID(t, 1), callID(t, 2)
	p.calls.add(a, false, false)
	p.calls.add(b, false, false)
	p.calls.written(a, gen)
	own, _ := p.calls.expect() // a re-initialization in progress
	defer p.calls.forget(own)

	drained := make(chan struct{})
	go func() { p.drain(context.Background(), time.Minute); close(drained) }()
	p.calls.resolve(a)
	select {
	case <-drained:
		t.Fatal("the drain ended with a call pending")
	case <-time.After(50 * time.Millisecond):
	}
	p.calls.cancel(b)
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("the drain still waits 10s after the last call ended")
	}

	// Nothing pending: it returns at once; a cancelled ctx ends it too.
	p.drain(context.Background(), time.Minute)
	p.calls.add(a, false, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.drain(ctx, time.Minute)
}
