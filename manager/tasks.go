package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TaskSupport is what a tool declares in "execution.taskSupport" (MCP
// 2025-11-25): whether it may, or must, be called as a task (a
// task-augmented tools/call whose result is fetched later).
type TaskSupport string

// Task support values. A tool that declares nothing, or a value this
// version does not know, is TaskForbidden: the spec's default.
const (
	TaskForbidden TaskSupport = "forbidden"
	TaskOptional  TaskSupport = "optional"
	TaskRequired  TaskSupport = "required"
)

// TaskRequiredError is a call refused before it was sent: the tool declares
// "execution.taskSupport": "required", so the server answers a plain
// tools/call with an error (-32601 by the spec), and mcplink cannot make
// task-augmented calls yet (go-sdk v1.8.0 has no client side for tasks).
type TaskRequiredError struct {
	Server string
	Tool   string
}

func (e *TaskRequiredError) Error() string {
	return fmt.Sprintf("tool %q of server %q can only be called as a task (its execution.taskSupport is \"required\"), and mcplink does not make task-based calls yet", e.Tool, e.Server)
}

// Why the manager reads tools/list answers itself: go-sdk v1.8.0's mcp.Tool
// has no "execution" member, so the decoded tools have lost it. A
// connection's taskTable sees the raw messages — through taskConn (stdio
// and the SSE fallback) or, for Streamable HTTP, through the HTTP layer
// (connTransport with tasks set): go-sdk tells its Streamable HTTP
// connection the negotiated protocol version through an unexported
// interface, which a wrapping mcp.Connection would hide, so that
// connection is left as it is and the POST bodies and their answers are
// looked at instead.

// maxPendingLists bounds the tools/list requests a table waits for: go-sdk
// lists page by page, one request at a time, and a request that is never
// answered (cancelled, connection lost) stays until the bound drops it.
const maxPendingLists = 16

// taskTable records the task support of a connection's tools from the
// answers to the tools/list requests sent on it. It never changes a
// message and never fails one: an answer of an odd shape records nothing.
type taskTable struct {
	mu      sync.Mutex
	pending []jsonrpc.ID           // tools/list requests sent and not yet answered, oldest first
	support map[string]TaskSupport // tool name → optional or required, from the latest answer naming it
}

func newTaskTable() *taskTable { return &taskTable{support: map[string]TaskSupport{}} }

// sent notes a message going to the server.
func (t *taskTable) sent(msg jsonrpc.Message) {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || req.Method != "tools/list" || !req.IsCall() {
		return
	}
	t.mu.Lock()
	if len(t.pending) == maxPendingLists {
		t.pending = t.pending[1:]
	}
	t.pending = append(t.pending, req.ID)
	t.mu.Unlock()
}

// received notes a message from the server; it runs before go-sdk sees the
// message, so the caller of tools/list finds the table up to date.
func (t *taskTable) received(msg jsonrpc.Message) {
	resp, ok := msg.(*jsonrpc.Response)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	i := -1
	for j, id := range t.pending {
		if id == resp.ID {
			i = j
			break
		}
	}
	if i < 0 {
		return
	}
	t.pending = append(t.pending[:i], t.pending[i+1:]...)
	if resp.Error != nil {
		return
	}
	for name, ts := range decodeTaskSupport(resp.Result) {
		if ts == TaskForbidden {
			delete(t.support, name)
		} else {
			t.support[name] = ts
		}
	}
}

// of returns the task support of tools (those declaring optional or
// required), nil when none does.
func (t *taskTable) of(tools []*mcp.Tool) map[string]TaskSupport {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var out map[string]TaskSupport
	for _, tool := range tools {
		if ts, ok := t.support[tool.Name]; ok {
			if out == nil {
				out = map[string]TaskSupport{}
			}
			out[tool.Name] = ts
		}
	}
	return out
}

// decodeTaskSupport reads each tool's name and execution.taskSupport from a
// tools/list result. It is tolerant: a tool of another shape (no name,
// execution not an object, taskSupport not a known string) is read as
// forbidden or skipped, and a result that is not an object with a tools
// array gives nothing. The result is already bounded (limit, maxMessageSize).
func decodeTaskSupport(result json.RawMessage) map[string]TaskSupport {
	var res struct {
		Tools []json.RawMessage `json:"tools"`
	}
	if json.Unmarshal(result, &res) != nil {
		return nil
	}
	out := make(map[string]TaskSupport, len(res.Tools))
	for _, raw := range res.Tools {
		var tool struct {
			Name      string          `json:"name"`
			Execution json.RawMessage `json:"execution"`
		}
		if json.Unmarshal(raw, &tool) != nil || tool.Name == "" {
			continue
		}
		ts := TaskForbidden
		var exec struct {
			TaskSupport any `json:"taskSupport"`
		}
		if len(tool.Execution) > 0 && json.Unmarshal(tool.Execution, &exec) == nil {
			switch v, _ := exec.TaskSupport.(string); TaskSupport(v) {
			case TaskOptional:
				ts = TaskOptional
			case TaskRequired:
				ts = TaskRequired
			}
		}
		out[tool.Name] = ts
	}
	return out
}

// taskTransport is an mcp.Transport whose connections show their messages
// to a taskTable. For stdio and the SSE fallback only (see taskTable).
type taskTransport struct {
	mcp.Transport
	tasks *taskTable
}

func (t taskTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &taskConn{Connection: c, tasks: t.tasks}, nil
}

// taskConn is a connection of a taskTransport.
type taskConn struct {
	mcp.Connection
	tasks *taskTable
}

func (c *taskConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if err == nil {
		c.tasks.received(msg)
	}
	return msg, err
}

func (c *taskConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	c.tasks.sent(msg) // before the write: the answer cannot come first
	return c.Connection.Write(ctx, msg)
}

// maxListRequest bounds the POST bodies looked at for a tools/list request:
// go-sdk's are tens of bytes (a cursor at most), and a larger body is not
// read a second time.
const maxListRequest = 4096

// listRequest returns the tools/list request a Streamable HTTP POST
// carries, nil if it carries none. It reads a copy of the body (GetBody),
// never the body itself.
func listRequest(req *http.Request) *jsonrpc.Request {
	if req.Method != http.MethodPost || req.GetBody == nil || req.ContentLength <= 0 || req.ContentLength > maxListRequest {
		return nil
	}
	rc, err := req.GetBody()
	if err != nil {
		return nil
	}
	defer rc.Close()
	body := make([]byte, req.ContentLength)
	if _, err := io.ReadFull(rc, body); err != nil || !bytes.Contains(body, []byte(`"tools/list"`)) {
		return nil
	}
	msg, err := jsonrpc.DecodeMessage(body)
	if err != nil {
		return nil
	}
	r, _ := msg.(*jsonrpc.Request)
	if r == nil || r.Method != "tools/list" || !r.IsCall() {
		return nil
	}
	return r
}

// listAnswerBody passes the body of the answer to a tools/list POST through
// unchanged and shows every JSON-RPC message in it to the table: the whole
// body when it is JSON, each event's data when it is an event stream. The
// body below is bounded per message (oauth.Transport), so are its buffers.
// A message is handed over inside the Read that returned its last byte,
// before go-sdk can decode it.
type listAnswerBody struct {
	io.ReadCloser
	tasks *taskTable
	sse   bool
	buf   []byte // JSON: the body so far; SSE: the current line
	data  []byte // SSE: the current event's data
	has   bool   // SSE: the current event has a data line
	ended bool
}

func newListAnswerBody(resp *http.Response, tasks *taskTable) *listAnswerBody {
	ct := resp.Header.Get("Content-Type")
	return &listAnswerBody{ReadCloser: resp.Body, tasks: tasks, sse: bytes.HasPrefix([]byte(ct), []byte("text/event-stream"))}
}

func (b *listAnswerBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.ended {
		return n, err
	}
	if b.sse {
		b.scan(p[:n])
	} else {
		b.buf = append(b.buf, p[:n]...)
	}
	switch {
	case err == io.EOF:
		if b.sse {
			b.line(b.buf)
			b.dispatch()
		} else {
			b.message(b.buf)
		}
		b.end()
	case err != nil:
		b.end() // a failed body (too large, cut): no message is taken from it
	}
	return n, err
}

func (b *listAnswerBody) end() { b.ended, b.buf, b.data, b.has = true, nil, nil, false }

// scan splits event-stream bytes into lines (LF or CRLF).
func (b *listAnswerBody) scan(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			b.buf = append(b.buf, p...)
			return
		}
		if len(b.buf) > 0 {
			b.buf = append(b.buf, p[:i]...)
			b.line(b.buf)
			b.buf = b.buf[:0]
		} else {
			b.line(p[:i])
		}
		p = p[i+1:]
	}
}

// line handles one event-stream line: data is collected, an empty line
// ends the event, other fields are not needed here.
func (b *listAnswerBody) line(l []byte) {
	l = bytes.TrimSuffix(l, []byte("\r"))
	if len(l) == 0 {
		b.dispatch()
		return
	}
	v, ok := bytes.CutPrefix(l, []byte("data:"))
	if !ok {
		return
	}
	v = bytes.TrimPrefix(v, []byte(" "))
	if b.has {
		b.data = append(b.data, '\n')
	}
	b.data, b.has = append(b.data, v...), true
}

func (b *listAnswerBody) dispatch() {
	if b.has {
		b.message(b.data)
	}
	b.data, b.has = b.data[:0], false
}

func (b *listAnswerBody) message(data []byte) {
	if msg, err := jsonrpc.DecodeMessage(bytes.TrimSpace(data)); err == nil {
		b.tasks.received(msg)
	}
}
