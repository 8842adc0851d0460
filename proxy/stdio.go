package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// next returns the messages of the next non-empty line (a batch line gives
// several). A *badLineError means that line was not JSON-RPC or was longer
// than MaxLineLength: it was skipped, and reading may go on. Any other error
// (io.EOF included) ends the stream.
func (l *lineReader) next() ([]jsonrpc.Message, error) {
	for {
		line, err := l.readLine()
		if err != nil {
			return nil, err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if line[0] == '[' {
			var raws []json.RawMessage
			if err := json.Unmarshal(line, &raws); err != nil {
				return nil, &badLineError{err}
			}
			msgs := make([]jsonrpc.Message, 0, len(raws))
			for _, raw := range raws {
				m, err := decodeMessage(raw)
				if err != nil {
					return nil, &badLineError{err}
				}
				msgs = append(msgs, m)
			}
			return msgs, nil
		}
		m, err := decodeMessage(line)
		if err != nil {
			return nil, &badLineError{err}
		}
		return []jsonrpc.Message{m}, nil
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
	err error // first write error; later writes fail fast (guarded by mu)
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
	data = append(data, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if _, err := l.w.Write(data); err != nil {
		l.err = fmt.Errorf("writing to the client: %w", err)
		return l.err
	}
	return nil
}
