package manager

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestDecodeTaskSupportTolerates odd shapes: nothing fails, nothing panics,
// and only the known values count.
func TestDecodeTaskSupportTolerates(t *testing.T) {
	for _, c := range []struct {
		result string
		want   map[string]TaskSupport
	}{
		{`{"tools":[{"name":"a","execution":{"taskSupport":"optional"}},{"name":"b","execution":{"taskSupport":"required"}},{"name":"c"}]}`,
			map[string]TaskSupport{"a": TaskOptional, "b": TaskRequired, "c": TaskForbidden}},
		{`{"tools":[{"name":"a","execution":null},{"name":"b","execution":"x"},{"name":"c","execution":{"taskSupport":7}},{"name":"d","execution":{"taskSupport":"REQUIRED"}},{"name":"e","execution":[1]}]}`,
			map[string]TaskSupport{"a": TaskForbidden, "b": TaskForbidden, "c": TaskForbidden, "d": TaskForbidden, "e": TaskForbidden}},
		{`{"tools":[7,"x",null,{"execution":{"taskSupport":"required"}},{"name":3},{"name":"ok","execution":{"taskSupport":"optional"}}]}`,
			map[string]TaskSupport{"ok": TaskOptional}},
		{`{"tools":{"name":"a"}}`, nil},
		{`{"tools":null}`, map[string]TaskSupport{}},
		{`[]`, nil},
		{`"tools"`, nil},
		{``, nil},
		{`{"tools":[{"name":"a","execution":{"taskSupport":"optional"}`, nil}, // cut
	} {
		got := decodeTaskSupport(json.RawMessage(c.result))
		if !maps.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.result, got, c.want)
		}
	}
}

// TestTaskTableMatchesIDs: only answers to tools/list requests count, an
// error answer records nothing, and the requests waited for are bounded.
func TestTaskTableMatchesIDs(t *testing.T) {
	tb := newTaskTable()
	result := json.RawMessage(`{"tools":[{"name":"a","execution":{"taskSupport":"required"}}]}`)
	tools := []*mcp.Tool{{Name: "a"}}

	// An answer to another request, or to no request, is not looked at.
	tb.sent(&jsonrpc.Request{ID: mustID(1.0), Method: "tools/call"})
	tb.received(&jsonrpc.Response{ID: mustID(1.0), Result: result})
	tb.received(&jsonrpc.Response{ID: mustID(2.0), Result: result})
	tb.sent(&jsonrpc.Request{Method: "tools/list"}) // a notification (no ID): not a request
	tb.received(&jsonrpc.Response{Result: result})
	if got := tb.of(tools); got != nil {
		t.Fatalf("recorded from unrelated answers: %v", got)
	}
	// An error answer to tools/list records nothing and is done with.
	tb.sent(&jsonrpc.Request{ID: mustID("x"), Method: "tools/list"})
	tb.received(&jsonrpc.Response{ID: mustID("x"), Error: errors.New("boom"), Result: result})
	tb.received(&jsonrpc.Response{ID: mustID("x"), Result: result})
	if got := tb.of(tools); got != nil {
		t.Fatalf("recorded from an error answer: %v", got)
	}
	// The answer: recorded; then a later answer saying forbidden removes it.
	tb.sent(&jsonrpc.Request{ID: mustID(3.0), Method: "tools/list"})
	tb.received(&jsonrpc.Response{ID: mustID(3.0), Result: result})
	if got := tb.of(tools); got["a"] != TaskRequired {
		t.Fatalf("got %v", got)
	}
	tb.sent(&jsonrpc.Request{ID: mustID(4.0), Method: "tools/list"})
	tb.received(&jsonrpc.Response{ID: mustID(4.0), Result: json.RawMessage(`{"tools":[{"name":"a"}]}`)})
	if got := tb.of(tools); got != nil {
		t.Fatalf("still recorded after the tool stopped declaring it: %v", got)
	}
	// Requests never answered are bounded: the oldest go.
	for i := range 3 * maxPendingLists {
		tb.sent(&jsonrpc.Request{ID: mustID(float64(100 + i)), Method: "tools/list"})
	}
	if n := len(tb.pending); n != maxPendingLists {
		t.Fatalf("%d requests waited for, want %d", n, maxPendingLists)
	}
	tb.received(&jsonrpc.Response{ID: mustID(100.0), Result: result}) // dropped long ago
	if got := tb.of(tools); got != nil {
		t.Fatalf("recorded from the answer to a dropped request: %v", got)
	}
	tb.received(&jsonrpc.Response{ID: mustID(float64(100 + 3*maxPendingLists - 1)), Result: result})
	if got := tb.of(tools); got["a"] != TaskRequired {
		t.Fatalf("newest request's answer not recorded: %v", got)
	}
}

// TestListAnswerBody reads the answers of Streamable HTTP POSTs as go-sdk
// does, split at every byte: the body passes unchanged, and the message in
// it is recorded before its last byte is returned.
func TestListAnswerBody(t *testing.T) {
	answer := `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"a","execution":{"taskSupport":"optional"}}]}}`
	split := `{"jsonrpc":"2.0","id":7,` + "\r\ndata: " + `"result":{"tools":[{"name":"a","execution":{"taskSupport":"optional"}}]}}`
	// early: recorded once the event's last byte is returned, before the
	// reader sees EOF (go-sdk acts on an event at its blank line; on a JSON
	// body only after ReadAll reached EOF).
	for _, c := range []struct {
		name, ct, body string
		want, early    bool
	}{
		{"json", "application/json", answer, true, false},
		{"sse", "text/event-stream", "event: message\nid: 1\ndata: " + answer + "\n\n", true, true},
		{"sse-crlf-multiline", "text/event-stream; charset=utf-8", ": comment\r\ndata: " + split + "\r\n\r\n", true, true},
		{"sse-no-space", "text/event-stream", "data:" + answer + "\n\n", true, true},
		{"sse-eof-without-blank-line", "text/event-stream", "data: " + answer, true, false},
		{"sse-other-event-first", "text/event-stream", "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\ndata: " + answer + "\n\n", true, true},
		{"json-garbage", "application/json", `{"jsonrpc":"2.0","id":7,"result":`, false, false},
		{"sse-garbage", "text/event-stream", "data: {{{\n\n", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb := newTaskTable()
			tb.sent(&jsonrpc.Request{ID: mustID(7.0), Method: "tools/list"})
			resp := &http.Response{Header: http.Header{"Content-Type": {c.ct}}, Body: io.NopCloser(strings.NewReader(c.body))}
			b := newListAnswerBody(resp, tb)
			var out bytes.Buffer
			r := iotest.OneByteReader(b)
			buf := make([]byte, 1)
			for {
				n, err := r.Read(buf)
				out.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if c.early && out.Len() == len(c.body) && tb.of([]*mcp.Tool{{Name: "a"}}) == nil {
					t.Fatal("the event's last byte was returned before its message was recorded")
				}
			}
			if out.String() != c.body {
				t.Fatalf("body changed: %q", out.String())
			}
			got := tb.of([]*mcp.Tool{{Name: "a"}})["a"] == TaskOptional
			if got != c.want {
				t.Fatalf("recorded = %v, want %v", got, c.want)
			}
		})
	}
}

// TestListAnswerBodyFailedRead: a body that fails (for instance over its
// size bound) gives no message, even if what came before parses.
func TestListAnswerBodyFailedRead(t *testing.T) {
	tb := newTaskTable()
	tb.sent(&jsonrpc.Request{ID: mustID(7.0), Method: "tools/list"})
	body := `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"a","execution":{"taskSupport":"optional"}}]}}`
	resp := &http.Response{Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(io.MultiReader(strings.NewReader(body), iotest.ErrReader(errors.New("too large"))))}
	if _, err := io.ReadAll(newListAnswerBody(resp, tb)); err == nil {
		t.Fatal("no error")
	}
	if got := tb.of([]*mcp.Tool{{Name: "a"}}); got != nil {
		t.Fatalf("recorded from a failed body: %v", got)
	}
}

// TestListRequest finds go-sdk's tools/list POSTs and nothing else.
func TestListRequest(t *testing.T) {
	post := func(body string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/mcp", strings.NewReader(body))
		return r
	}
	if r := listRequest(post(`{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":"x"}}`)); r == nil || r.ID != mustID(3.0) {
		t.Fatalf("tools/list request not found: %+v", r)
	}
	for _, body := range []string{
		`{"jsonrpc":"2.0","method":"tools/list"}`,                                       // a notification
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"tools/list"}}`, // the string elsewhere
		`{"jsonrpc":"2.0","id":3,"result":{"x":"tools/list"}}`,                          // a response
		`not json "tools/list"`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":"` + strings.Repeat("x", maxListRequest) + `"}}`, // too large to look at
	} {
		if r := listRequest(post(body)); r != nil {
			t.Errorf("%.80s: found %+v", body, r)
		}
	}
	get, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/mcp", nil)
	if listRequest(get) != nil {
		t.Error("a GET")
	}
}

// mustID is a JSON-RPC ID as go-sdk decodes one (a JSON number or string).
func mustID(v any) jsonrpc.ID {
	id, err := jsonrpc.MakeID(v)
	if err != nil {
		panic(err)
	}
	return id
}
