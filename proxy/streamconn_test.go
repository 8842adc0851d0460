package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/limit"
)

// A hand-written Streamable HTTP server exercising what go-sdk's server does
// not do on demand: a JSON batch answer, an SSE answer that breaks before the
// response (resumed with GET + Last-Event-ID after the retry interval), and a
// forgotten session (404).
func TestStreamConnBatchResumeAndSessionLoss(t *testing.T) {
	var mu sync.Mutex
	var resumeHeader, resumeSession string
	var resumeAt, brokenAt time.Time
	forget := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if forget && r.Header.Get("Mcp-Session-Id") != "" {
			http.Error(w, "session not found", http.StatusNotFound)
			return
		}
		switch r.Method {
		case http.MethodGet:
			resumeHeader, resumeSession, resumeAt = r.Header.Get("Last-Event-ID"), r.Header.Get("Mcp-Session-Id"), time.Now()
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"ok\":true}}\n\n")
		case http.MethodPost:
			body, _ := io.ReadAll(r.Body)
			msg, err := decodeMessage(body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			req := msg.(*jsonrpc.Request)
			switch req.Method {
			case "initialize":
				w.Header().Set("Mcp-Session-Id", "S1")
				w.Header().Set("Content-Type", "application/json")
				// A batch: a log notification, then the response.
				fmt.Fprint(w, `[{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"hi"}},{"jsonrpc":"2.0","id":1,"result":{}}]`)
			case "tools/call":
				w.Header().Set("Content-Type", "text/event-stream")
				// One event, a short retry interval, then the stream breaks.
				fmt.Fprint(w, "retry: 50\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"p\",\"progress\":1}}\n\n")
				brokenAt = time.Now()
			default:
				w.WriteHeader(http.StatusAccepted)
			}
		}
	}))
	defer srv.Close()

	c := newStreamConn(srv.URL, srv.Client(), limit.DefaultMessageSize)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	read := func() jsonrpc.Message {
		t.Helper()
		m, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	if err := c.Write(ctx, &jsonrpc.Request{ID: mustID(t, 1), Method: "initialize"}); err != nil {
		t.Fatal(err)
	}
	if m, ok := read().(*jsonrpc.Request); !ok || m.Method != "notifications/message" {
		t.Fatalf("first batch member = %#v", m)
	}
	if m, ok := read().(*jsonrpc.Response); !ok || m.ID != mustID(t, 1) {
		t.Fatalf("second batch member = %#v", m)
	}
	if c.SessionID() != "S1" {
		t.Fatalf("session = %q", c.SessionID())
	}

	if err := c.Write(ctx, &jsonrpc.Request{ID: mustID(t, 2), Method: "tools/call"}); err != nil {
		t.Fatal(err)
	}
	if m, ok := read().(*jsonrpc.Request); !ok || m.Method != "notifications/progress" {
		t.Fatalf("first event = %#v", m)
	}
	if m, ok := read().(*jsonrpc.Response); !ok || m.ID != mustID(t, 2) {
		t.Fatalf("resumed answer = %#v", m)
	}
	mu.Lock()
	if resumeHeader != "1" || resumeSession != "S1" {
		t.Errorf("resume GET: Last-Event-ID %q, session %q", resumeHeader, resumeSession)
	}
	if wait := resumeAt.Sub(brokenAt); wait < 40*time.Millisecond {
		t.Errorf("resumed %v after the break; the server asked for retry: 50 (ms)", wait)
	}
	forget = true
	mu.Unlock()

	err := c.Write(ctx, &jsonrpc.Request{ID: mustID(t, 3), Method: "tools/list"})
	if !errors.Is(err, mcp.ErrSessionMissing) {
		t.Fatalf("after the server forgot the session: %v, want ErrSessionMissing", err)
	}
}

func mustID(t *testing.T, v int64) jsonrpc.ID {
	t.Helper()
	id, err := jsonrpc.MakeID(float64(v))
	if err != nil {
		t.Fatal(err)
	}
	return id
}
