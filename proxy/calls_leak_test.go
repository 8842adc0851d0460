package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/testwait"
)

// leakServer is a minimal Streamable HTTP server on a loopback socket whose
// answer to server/discover is chosen by the call's params: "fail" answers
// 500, "hang" never answers, "accept" answers 202 (the answer would come on
// a stream, and never does). expire makes it forget the session.
type leakServer struct {
	*httptest.Server
	mu       sync.Mutex
	session  int
	accepted chan struct{} // a server/discover was answered 202
}

func startLeakServer(t *testing.T) *leakServer {
	s := &leakServer{session: 1, accepted: make(chan struct{}, 1)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *leakServer) expire() {
	s.mu.Lock()
	s.session++
	s.mu.Unlock()
}

func (s *leakServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	sid := fmt.Sprintf("s%d", s.session)
	s.mu.Unlock()
	switch r.Method {
	case http.MethodDelete:
		return
	case http.MethodGet:
		w.WriteHeader(http.StatusMethodNotAllowed) // no standalone stream
		return
	}
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Answer string `json:"answer"`
		} `json:"params"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if msg.Method == "initialize" {
		w.Header().Set("Mcp-Session-Id", sid)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"leak","version":"1"}}}`, msg.ID)
		return
	}
	if r.Header.Get("Mcp-Session-Id") != sid {
		http.Error(w, "session not found", http.StatusNotFound)
		return
	}
	switch {
	case len(msg.ID) == 0: // a notification
		w.WriteHeader(http.StatusAccepted)
	case msg.Method == "server/discover" && msg.Params.Answer == "fail":
		http.Error(w, "discovery broke", http.StatusInternalServerError)
	case msg.Method == "server/discover" && msg.Params.Answer == "hang":
		<-r.Context().Done()
	case msg.Method == "server/discover" && msg.Params.Answer == "accept":
		w.WriteHeader(http.StatusAccepted)
		s.accepted <- struct{}{}
	default:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{}}`, msg.ID)
	}
}

// TestNoCallLeftBehind runs the proxy against a real loopback server and
// ends calls every way but an answer: a failed POST, the client's
// notifications/cancelled, and the loss of the session the call was sent
// on. After each, the pending-call table is empty. (server/discover's
// entry used to stay behind in all three.)
func TestNoCallLeftBehind(t *testing.T) {
	srv := startLeakServer(t)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	t.Cleanup(func() { inW.Close(); outR.Close() })
	p, err := newProxy(Options{URL: srv.URL, Mode: ModeHTTPOnly}, outW)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.run(ctx, inR); outW.Close() }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the proxy did not end")
		}
	})

	answers := make(chan map[string]any, 16)
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				answers <- m
			}
		}
		close(answers)
	}()
	send := func(line string) {
		t.Helper()
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	// await returns the answers to the given IDs (JSON numbers), in any order.
	await := func(ids ...float64) map[float64]map[string]any {
		t.Helper()
		got := map[float64]map[string]any{}
		timeout := time.After(10 * time.Second)
		for len(got) < len(ids) {
			select {
			case m, ok := <-answers:
				if !ok {
					t.Fatalf("the proxy's output ended; got %v", got)
				}
				id, _ := m["id"].(float64)
				got[id] = m
			case <-timeout:
				t.Fatalf("no answer to %v within 10s; got %v", ids, got)
			}
		}
		for _, id := range ids {
			if got[id] == nil {
				t.Fatalf("answers %v, want ones to %v", got, ids)
			}
		}
		return got
	}
	// idle asserts that the table is empty, waiting (bounded) for the
	// client's calls to end.
	idle := func(what string) {
		t.Helper()
		select {
		case <-p.calls.idleCh():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: %d client calls still in the table after 10s", what, p.calls.pending())
		}
		if n := p.calls.size(); n != 0 {
			t.Fatalf("%s: the table holds %d entries, want none: %v", what, n, p.calls.calls)
		}
	}

	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	if m := await(1)[1]; m["result"] == nil {
		t.Fatalf("initialize: %v", m)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	idle("after initialize")

	// The POST fails: the client gets an error naming it.
	send(`{"jsonrpc":"2.0","id":2,"method":"server/discover","params":{"answer":"fail"}}`)
	if m := await(2)[2]; m["error"] == nil {
		t.Fatalf("server/discover answered 500: %v, want an error", m)
	}
	idle("after a failed call")

	// The client cancels a call the server never answers.
	send(`{"jsonrpc":"2.0","id":3,"method":"server/discover","params":{"answer":"hang"}}`)
	send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"t"}}`)
	idle("after a cancelled call")

	// The session the call was sent on is lost before its answer came:
	// the next call re-initializes, and the lost one gets an error.
	send(`{"jsonrpc":"2.0","id":4,"method":"server/discover","params":{"answer":"accept"}}`)
	select {
	case <-srv.accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the server never got the call to accept")
	}
	// Its writer lets go of it (else closing the session would interrupt
	// the write, and the writer would send it again on the new session).
	if !testwait.Until(10*time.Second, func() bool {
		p.calls.mu.Lock()
		defer p.calls.mu.Unlock()
		return !p.calls.calls[callID(t, 4)].writing
	}) {
		t.Fatal("the call accepted 202 is still being written after 10s")
	}
	srv.expire()
	send(`{"jsonrpc":"2.0","id":5,"method":"ping"}`)
	got := await(4, 5)
	if got[4]["error"] == nil {
		t.Fatalf("the call on the lost session: %v, want an error", got[4])
	}
	if got[5]["result"] == nil {
		t.Fatalf("ping on the new session: %v, want a result", got[5])
	}
	idle("after a session loss")
}
