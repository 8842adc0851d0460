package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/internal/mcptest"
)

// The negotiated protocol version goes on every request after the
// initialize result, POSTs (set by streamConn itself) and the standalone GET
// (set by oauth.Transport) alike; a configured Mcp-Protocol-Version header
// goes first, on every request, as it did when only the transport set it.
func TestProtocolVersionHeader(t *testing.T) {
	for _, tc := range []struct {
		name       string
		headers    map[string]string
		initialize string // the version the initialize POST carries
		after      string // the version every later request carries
	}{
		{"negotiated", nil, "", "2025-06-18"},
		{"configured", map[string]string{"mcp-protocol-version": "2024-11-05"}, "2024-11-05", "2024-11-05"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type seenReq struct {
				method, rpc string
				versions    []string
			}
			var mu sync.Mutex
			var seen []seenReq
			gotGET := make(chan struct{})
			var getOnce sync.Once
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				rpc := ""
				if len(body) > 0 {
					msg, err := decodeMessage(body)
					if err != nil {
						http.Error(w, err.Error(), http.StatusBadRequest)
						return
					}
					if req, ok := msg.(*jsonrpc.Request); ok {
						rpc = req.Method
					}
				}
				mu.Lock()
				seen = append(seen, seenReq{r.Method, rpc, r.Header.Values(protocolVersionHeader)})
				mu.Unlock()
				w.Header().Set("Mcp-Session-Id", "S")
				switch {
				case r.Method == http.MethodGet:
					getOnce.Do(func() { close(gotGET) })
					w.WriteHeader(http.StatusMethodNotAllowed)
				case rpc == "initialize":
					w.Header().Set("Content-Type", "application/json")
					fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}`)
				case rpc == "tools/call":
					w.Header().Set("Content-Type", "text/event-stream")
					fmt.Fprint(w, "data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[]}}\n\n")
				default:
					w.WriteHeader(http.StatusAccepted)
				}
			}))
			defer srv.Close()

			h := startRun(t, 10*time.Second, Options{URL: srv.URL, Headers: tc.headers})
			roundTrip := func(line string) string {
				t.Helper()
				h.send(line)
				return h.recv()
			}
			roundTrip(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`)
			h.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
			if got := roundTrip(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}`); !strings.Contains(got, `"id":2`) {
				t.Fatalf("tools/call answer = %s", got)
			}
			select {
			case <-gotGET:
			case <-h.ctx.Done():
				t.Fatal("no standalone GET")
			}
			if err := h.end(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			want := func(v string) []string {
				if v == "" {
					return nil
				}
				return []string{v}
			}
			var methods []string
			for i, r := range seen {
				methods = append(methods, r.method+" "+r.rpc)
				w := want(tc.after)
				if i == 0 {
					w = want(tc.initialize)
				}
				if fmt.Sprint(r.versions) != fmt.Sprint(w) {
					t.Errorf("%s %s carried %s %q, want %q", r.method, r.rpc, protocolVersionHeader, r.versions, w)
				}
			}
			for _, m := range []string{"POST initialize", "POST notifications/initialized", "POST tools/call", "GET "} {
				if !strings.Contains(strings.Join(methods, "|"), m) {
					t.Errorf("requests %q lack %q", methods, m)
				}
			}
		})
	}
}

// One sseBuffers serves answer after answer: each event's data is its own
// (a long two-line event, then short ones, then a new stream), and a buffer
// grown past keptBuffer is not kept.
func TestSSEBuffersReused(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	streams := []struct {
		body string
		want []string
	}{
		{"data: " + long + "\ndata: y\n\nid: 7\ndata: short\n\n", []string{long + "\ny", "short"}},
		{"event: message\ndata: a\ndata: b\n\n: comment\ndata: c\n\n", []string{"a\nb", "c"}},
	}
	bufs := new(sseBuffers)
	for i, s := range streams {
		var got []string
		err := scanSSE(strings.NewReader(s.body), 1<<20, bufs, func(ev sseEvent) error {
			got = append(got, string(ev.data))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(s.want) {
			t.Errorf("stream %d: events %.40q, want %.40q", i, got, s.want)
		}
		if c := bufs.data.Cap(); c > keptBuffer {
			t.Errorf("stream %d: a %d-byte data buffer was kept", i, c)
		}
		if len(bufs.line) != 4096 {
			t.Errorf("stream %d: line buffer of %d bytes, want the 4096-byte one", i, len(bufs.line))
		}
	}
}

// Concurrent calls through one proxy each get their own answer: the SSE
// buffers shared through the pool, the loop's signal channel and the
// request headers shared between POSTs mix nothing up.
func TestConcurrentCallsKeepTheirAnswers(t *testing.T) {
	s, err := mcptest.StartHTTP(mcptest.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := startRun(t, 30*time.Second, Options{URL: s.URL})
	ctx := h.ctx
	client := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.IOTransport{Reader: h.stdout, Writer: h.in}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				text := fmt.Sprintf("caller %d call %d %s", g, i, strings.Repeat("z", g*500))
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: mcptest.ToolEcho, Arguments: map[string]any{"text": text}})
				if err != nil {
					t.Error(err)
					return
				}
				var got bytes.Buffer
				for _, c := range res.Content {
					if tc, ok := c.(*mcp.TextContent); ok {
						got.WriteString(tc.Text)
					}
				}
				if !strings.Contains(got.String(), text) {
					t.Errorf("call %q answered %.80q", text, got.String())
					return
				}
			}
		}()
	}
	wg.Wait()
	cs.Close()
	if err := h.end(); err != nil {
		t.Fatal(err)
	}
}
