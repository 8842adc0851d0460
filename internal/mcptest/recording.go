package mcptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Hit is one HTTP request a Recording handler saw: its method, the JSON-RPC
// method of a POST body, the session it named (Mcp-Session-Id) and the
// client's address (one per TCP connection).
type Hit struct {
	Method, RPC, Session, Remote string
}

// maxRecordedBody bounds the POST body Recording reads to learn its
// JSON-RPC method.
const maxRecordedBody = 1 << 20

// Recording returns a handler that sends a Hit for every request on hits as
// it arrives, before next handles it, so a test sees the order the requests
// came in. A full channel holds the request up until there is room or the
// client goes away (then the request is dropped unanswered). A POST body is
// read (up to 1 MiB) for its JSON-RPC method and handed on to next
// unchanged.
func Recording(next http.Handler, hits chan<- Hit) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := Hit{Method: r.Method, Session: r.Header.Get("Mcp-Session-Id"), Remote: r.RemoteAddr}
		if r.Method == http.MethodPost {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxRecordedBody))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			var msg struct {
				Method string `json:"method"`
			}
			_ = json.Unmarshal(body, &msg) // a batch or non-JSON body records no method
			h.RPC = msg.Method
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		select {
		case hits <- h:
		case <-r.Context().Done():
			return
		}
		next.ServeHTTP(w, r)
	})
}

// NoDeleteError is UntilDelete's error: no DELETE arrived in time.
type NoDeleteError struct {
	Within time.Duration
	Got    []Hit // what did arrive
}

func (e *NoDeleteError) Error() string {
	return fmt.Sprintf("no session DELETE arrived within %v; the server got %v", e.Within, e.Got)
}

// UntilDelete collects hits until a DELETE arrives and returns them all, the
// DELETE last; when none arrives within the bound it returns what did
// arrive with a *NoDeleteError.
func UntilDelete(hits <-chan Hit, within time.Duration) ([]Hit, error) {
	var got []Hit
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		select {
		case h := <-hits:
			got = append(got, h)
			if h.Method == http.MethodDelete {
				return got, nil
			}
		case <-deadline.C:
			return got, &NoDeleteError{Within: within, Got: got}
		}
	}
}
