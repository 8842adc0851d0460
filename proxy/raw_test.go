package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// decodeHead accepts and refuses exactly what decodeMessage does, with the
// same ID, method and kind of message; what it decodes light leaves out only
// the params or result.
func TestDecodeHeadMatchesDecodeMessage(t *testing.T) {
	inputs := []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`,
		`{"jsonrpc":"2.0","id":"a-b","method":"tools/call","params":{}}`,
		`{"jsonrpc":"2.0","id":"\u00e9\n","method":"x"}`,
		`{"jsonrpc":"2.0","id":-7,"method":"x"}`,
		`{"jsonrpc":"2.0","id":1e3,"method":"x"}`,
		`{"jsonrpc":"2.0","id":1.5,"method":"x"}`,
		`{"jsonrpc":"2.0","id":12345678901234567890,"method":"x"}`,
		`{"jsonrpc":"2.0","id":null,"method":"notifications/progress","params":{"progress":1}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":true,"method":"x"}`,
		`{"jsonrpc":"1.0","id":1,"method":"x"}`,
		`{"id":1,"method":"x"}`,
		`{"jsonrpc":"2.0","id":3,"result":{"content":[]}}`,
		`{"jsonrpc":"2.0","id":3,"result":null}`,
		`{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}`,
		`{"jsonrpc":"2.0","id":3,"error":null,"result":{}}`,
		`{"jsonrpc":"2.0","id":3,"error":"bad"}`,
		`{"jsonrpc":"2.0","id":3}`,
		`{"jsonrpc":"2.0","result":{}}`,
		`{"jsonrpc":"2.0"}`,
		"{\"jsonrpc\":\"2.0\",\n\"id\":4,\"result\":{}}",
		`{"jsonrpc":"2.0","id":1,"method":"x"`,
		`[1]`,
		`"str"`,
	}
	for _, in := range inputs {
		want, werr := decodeMessage([]byte(in))
		got, light, gerr := decodeHead([]byte(in), nil)
		if (werr == nil) != (gerr == nil) {
			t.Errorf("%s: decodeHead error %v, decodeMessage error %v", in, gerr, werr)
			continue
		}
		if werr != nil {
			continue
		}
		if !light {
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: decodeHead = %#v, want %#v", in, got, want)
			}
			continue
		}
		switch w := want.(type) {
		case *jsonrpc.Request:
			g, ok := got.(*jsonrpc.Request)
			if !ok || g.ID != w.ID || g.Method != w.Method || g.Params != nil {
				t.Errorf("%s: decodeHead = %#v, want %#v without params", in, got, want)
			}
		case *jsonrpc.Response:
			g, ok := got.(*jsonrpc.Response)
			if !ok || g.ID != w.ID || g.Error != nil || w.Error != nil || g.Result != nil {
				t.Errorf("%s: decodeHead = %#v, want %#v without result", in, got, want)
			}
		}
	}
	// A request the proxy looks inside is decoded whole.
	in := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"a":1}}`
	got, light, err := decodeHead([]byte(in), func(m string) bool { return m == "initialize" })
	if err != nil || light || string(got.(*jsonrpc.Request).Params) != `{"a":1}` {
		t.Errorf("initialize: decodeHead = %#v, %v, %v; want it whole", got, light, err)
	}
}

// The proxy forwards the client's bytes to the server as the client wrote
// them, and the server's answers to the client as the server wrote them,
// each on one line: an SSE event whose data spans two lines is re-encoded on
// one, and a tools/list result is still filtered (--ignore-tool).
func TestRawForwarding(t *testing.T) {
	var mu sync.Mutex
	var posted []string
	callAnswer := `{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"a  b"}]},"x-extra":[1, 2]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		posted = append(posted, string(body))
		mu.Unlock()
		msg, err := decodeMessage(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := msg.(*jsonrpc.Request)
		w.Header().Set("Mcp-Session-Id", "S")
		switch req.Method {
		case "initialize":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}`)
		case "tools/call":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "event: message\ndata: %s\n\n", callAnswer)
		case "tools/list":
			// Pretty-printed over two data lines.
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"jsonrpc\":\"2.0\",\"id\":3,\ndata:  \"result\":{\"tools\":[{\"name\":\"keep\"},{\"name\":\"hide_me\"}]}}\n\n")
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer srv.Close()

	h := startRun(t, 10*time.Second, Options{URL: srv.URL, IgnoreTools: []string{"hide_*"}})
	initLine := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`
	h.send(initLine)
	if got := h.recv(); !strings.Contains(got, `"serverInfo"`) {
		t.Fatalf("initialize answer = %s", got)
	}
	h.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	callLine := `{ "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "a  b"}}, "x-client": true }`
	h.send(callLine)
	if got := h.recv(); got != callAnswer {
		t.Errorf("tools/call answer = %s, want the server's bytes %s", got, callAnswer)
	}
	h.send(`{"jsonrpc":"2.0","id":3,"method":"tools/list"}`)
	got := h.recv()
	var list struct {
		ID     int `json:"id"`
		Result struct {
			Tools []struct{ Name string } `json:"tools"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(got), &list); err != nil || list.ID != 3 || len(list.Result.Tools) != 1 || list.Result.Tools[0].Name != "keep" {
		t.Errorf("tools/list answer = %s (%v), want id 3 and only the tool keep", got, err)
	}
	if err := h.end(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	found := false
	for _, p := range posted {
		found = found || p == callLine
	}
	if !found {
		t.Errorf("the server got %q, want the client's tools/call line as it was written", posted)
	}
}
