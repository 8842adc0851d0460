package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// MaxLineLength bounds one newline-delimited message from the client.
const MaxLineLength = 16 << 20

// errLineTooLong reports a client message longer than MaxLineLength.
var errLineTooLong = errors.New("message longer than 16 MiB")

// lineReader reads newline-delimited JSON-RPC messages (or batches of them).
// A malformed line is reported and skipped; the stream stays usable.
type lineReader struct {
	r *bufio.Reader
}

// inMessage is one message from the client: decoded, and when it can be
// forwarded as the client wrote it, light (msg lacks its params; see
// decodeHead) with raw its bytes.
type inMessage struct {
	msg   jsonrpc.Message
	raw   []byte
	light bool
}

// full returns the message decoded whole.
func (m inMessage) full() (jsonrpc.Message, error) {
	if !m.light {
		return m.msg, nil
	}
	return decodeMessage(m.raw)
}

// lineMessages are the messages of one line: one message, or a batch's.
// (One message needs no slice of its own.)
type lineMessages struct {
	one   inMessage
	batch []inMessage // a batch line's messages; nil for one message
}

// next returns the messages of the next non-empty line (a batch line gives
// several); full(method) names the requests to decode whole (see
// decodeHead). A *badLineError means that line was not JSON-RPC or was
// longer than MaxLineLength: it was skipped, and reading may go on. Any other
// error (io.EOF included) ends the stream.
func (l *lineReader) next(full func(string) bool) (lineMessages, error) {
	for {
		line, err := l.readLine()
		if err != nil {
			return lineMessages{}, err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if line[0] == '[' {
			var raws []json.RawMessage
			if err := json.Unmarshal(line, &raws); err != nil {
				return lineMessages{}, &badLineError{err}
			}
			msgs := make([]inMessage, 0, len(raws))
			for _, raw := range raws {
				m, light, err := decodeHead(raw, full)
				if err != nil {
					return lineMessages{}, &badLineError{err}
				}
				msgs = append(msgs, inMessage{m, raw, light})
			}
			return lineMessages{batch: msgs}, nil
		}
		m, light, err := decodeHead(line, full)
		if err != nil {
			return lineMessages{}, &badLineError{err}
		}
		return lineMessages{one: inMessage{m, line, light}}, nil
	}
}

// wireMessage is the JSON-RPC 2.0 wire form of any message.
type wireMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   *jsonrpc.Error  `json:"error"`
}

// decodeMessage decodes one message: the client's, and the server's on the
// Streamable HTTP side (streamConn, the standalone stream). It does what
// jsonrpc.DecodeMessage does with encoding/json, which allocates far less
// per message than the SDK's decoder.
func decodeMessage(data []byte) (jsonrpc.Message, error) {
	var w wireMessage
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, err
	}
	if w.JSONRPC != "2.0" {
		return nil, fmt.Errorf("jsonrpc is %q, want \"2.0\"", w.JSONRPC)
	}
	var id jsonrpc.ID
	if len(w.ID) > 0 && string(w.ID) != "null" {
		var v any
		if err := json.Unmarshal(w.ID, &v); err != nil {
			return nil, err
		}
		if f, ok := v.(float64); ok && f != float64(int64(f)) {
			return nil, fmt.Errorf("id %s is not an integer", w.ID)
		}
		var err error
		if id, err = jsonrpc.MakeID(v); err != nil {
			return nil, err
		}
	}
	if w.Method != "" {
		return &jsonrpc.Request{ID: id, Method: w.Method, Params: w.Params}, nil
	}
	if !id.IsValid() {
		return nil, errors.New("a message with neither a method nor an id")
	}
	if w.Error != nil {
		return &jsonrpc.Response{ID: id, Error: w.Error}, nil
	}
	if w.Result == nil {
		return nil, errors.New("a response with neither a result nor an error")
	}
	return &jsonrpc.Response{ID: id, Result: w.Result}, nil
}

// headMessage is the part of a message the proxy routes by. Unmarshalling
// into it copies neither params nor result: seen only notes that result is
// there, as json.RawMessage's presence does in wireMessage.
type headMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      rawRef          `json:"id"`
	Method  string          `json:"method"`
	Result  seen            `json:"result"`
	Error   json.RawMessage `json:"error"`
}

// rawRef is a JSON value as it stands in the data being decoded, not
// copied (json.RawMessage copies): valid only as long as that data is
// unchanged. decodeHead parses the ID it holds before returning.
type rawRef []byte

func (r *rawRef) UnmarshalJSON(b []byte) error { *r = b; return nil }

// seen records that a field was present (null included), without its value.
type seen bool

func (s *seen) UnmarshalJSON([]byte) error { *s = true; return nil }

// decodeHead decodes what the proxy needs to route data — its ID, its method,
// whether it is a response — and reports with light whether msg leaves out
// the params or result: then data itself is to be forwarded, not msg
// re-encoded, which costs a copy of the body and an encoding per message.
// A message that full(method) asks for (a request the proxy looks inside), an
// error response, a message spread over several lines (an SSE event's data
// may be) and one that does not decode as a head are decoded whole by
// decodeMessage, with light false. full may be nil (no request needs its
// params). The checks on what is decoded are decodeMessage's. The head is
// read by scanHead, a single pass without reflection, unless it gives up.
func decodeHead(data []byte, full func(method string) bool) (msg jsonrpc.Message, light bool, err error) {
	if bytes.IndexByte(data, '\n') >= 0 || bytes.IndexByte(data, '\r') >= 0 {
		msg, err = decodeMessage(data)
		return msg, false, err
	}
	var h headMessage
	bad := false
	if !scanHead(data, &h) { // encoding/json for what the fast path leaves
		h, bad = unmarshalHead(data)
	}
	if bad || h.Error != nil || (h.Method == "" && !bool(h.Result)) || (h.Method != "" && full != nil && full(h.Method)) {
		msg, err = decodeMessage(data)
		return msg, false, err
	}
	if h.JSONRPC != "2.0" {
		return nil, false, fmt.Errorf("jsonrpc is %q, want \"2.0\"", h.JSONRPC)
	}
	id, err := parseID(json.RawMessage(h.ID))
	if err != nil {
		return nil, false, err
	}
	if h.Method != "" {
		return &jsonrpc.Request{ID: id, Method: h.Method}, true, nil
	}
	if !id.IsValid() {
		return nil, false, errors.New("a message with neither a method nor an id")
	}
	return &jsonrpc.Response{ID: id}, true, nil
}

// unmarshalHead unmarshals data into a headMessage of its own (so that
// decodeHead's, which json.Unmarshal would move to the heap, stays on the
// stack); bad reports an error.
func unmarshalHead(data []byte) (h headMessage, bad bool) {
	bad = json.Unmarshal(data, &h) != nil
	return h, bad
}

// parseID parses a JSON-RPC id as decodeMessage always did (through a float64
// for a number: an integer, or an error), with a fast path for the usual
// short integers and plain strings.
func parseID(raw json.RawMessage) (jsonrpc.ID, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return jsonrpc.ID{}, nil
	}
	if len(raw) <= 15 { // exact in a float64, so the same ID as the slow path
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return jsonrpc.MakeID(float64(n))
		}
	}
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && plainString(raw[1:len(raw)-1]) {
		return jsonrpc.MakeID(string(raw[1 : len(raw)-1]))
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return jsonrpc.ID{}, err
	}
	if f, ok := v.(float64); ok && f != float64(int64(f)) {
		return jsonrpc.ID{}, fmt.Errorf("id %s is not an integer", raw)
	}
	return jsonrpc.MakeID(v)
}

// plainString reports whether s, between a JSON string's quotes, needs no
// unescaping or validation (printable ASCII without backslash or quote).
func plainString(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '\\' || c == '"' {
			return false
		}
	}
	return true
}

// readLine returns one line without its newline, at most MaxLineLength long.
// A longer line is skipped whole and reported as a badLineError.
func (l *lineReader) readLine() ([]byte, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > MaxLineLength {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return nil, &badLineError{errLineTooLong}
			}
			return buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0 && !tooLong:
			return buf, nil
		default:
			return nil, err
		}
	}
}

// badLineError is a client line that is not a JSON-RPC message.
type badLineError struct{ err error }

func (e *badLineError) Error() string { return "invalid message from the client: " + e.err.Error() }
func (e *badLineError) Unwrap() error { return e.err }

// lineWriter writes newline-delimited messages, one Write call each.
type lineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error  // first write error; later writes fail fast (guarded by mu)
	buf []byte // a line being written, reused (guarded by mu)
}

// failed returns the first write error, if any. Writers run in the
// goroutines that forward messages, so the error is read under the mutex.
func (l *lineWriter) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *lineWriter) write(msg jsonrpc.Message) error {
	data, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return fmt.Errorf("encoding a message for the client: %w", err)
	}
	return l.writeRaw(data)
}

// writeRaw writes data, one message on one line, and its newline.
func (l *lineWriter) writeRaw(data []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	l.buf = append(append(l.buf[:0], data...), '\n')
	_, err := l.w.Write(l.buf)
	if cap(l.buf) > 64<<10 {
		l.buf = nil // a large message's buffer is not kept
	}
	if err != nil {
		l.err = fmt.Errorf("writing to the client: %w", err)
		return l.err
	}
	return nil
}
