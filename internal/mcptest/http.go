package mcptest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// HTTPOptions configures StartHTTP.
type HTTPOptions struct {
	// Server configures the MCP server behind the endpoint.
	Server ServerOptions
	// SSEOnly serves only the 2024-11-05 SSE transport: a Streamable HTTP
	// POST to the endpoint (one without a sessionid) is answered 405, so a
	// client has to fall back to SSE.
	SSEOnly bool
	// JSONResponse answers Streamable HTTP POSTs with application/json
	// bodies instead of event streams.
	JSONResponse bool
	// Latency is added before every response is started.
	Latency time.Duration
	// RecordHeaders records the method, path and headers of every request
	// (see HTTPServer.Requests).
	RecordHeaders bool
	// RecordMethods records the JSON-RPC method of every message the MCP
	// server handles (see HTTPServer.Methods).
	RecordMethods bool
	// Unauthorized answers every request 401 with a Bearer challenge
	// (WWW-Authenticate: Bearer realm="mcptest"). No OAuth metadata is served.
	Unauthorized bool
	// RequireAuthorization, when set, answers 401 (with the same challenge)
	// to every request whose Authorization header differs from it.
	RequireAuthorization string
	// Hang never answers: every request blocks until the client gives up or
	// the server is closed.
	Hang bool
	// Status, when non-zero, answers every request with this HTTP status and
	// a short plain-text body.
	Status int
	// Hits, when set, gets a Hit for every request to the endpoint as it
	// arrives, before anything else is done with it (see Recording).
	Hits chan<- Hit
	// HoldDelete, when set, holds every DELETE (after it is recorded): it is
	// neither handled nor answered until HoldDelete is closed, the client
	// goes away or the server is closed.
	HoldDelete <-chan struct{}
}

// Challenge is the WWW-Authenticate value sent with 401 answers.
const Challenge = `Bearer realm="mcptest"`

// Request is one recorded HTTP request.
type Request struct {
	Method string
	Path   string
	Header http.Header
}

// HTTPServer is a running loopback MCP server.
type HTTPServer struct {
	// URL is the MCP endpoint (http://127.0.0.1:port/mcp).
	URL string
	// MCP is the server behind the endpoint; tests may add tools to it.
	MCP *mcp.Server

	opts HTTPOptions
	srv  *httptest.Server
	done chan struct{}

	mu        sync.Mutex
	requests  []Request
	methods   []string
	closeOnce sync.Once
}

// StartHTTP starts an MCP server on 127.0.0.1 on a free port.
func StartHTTP(opts HTTPOptions) (*HTTPServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &HTTPServer{MCP: NewServer(opts.Server), opts: opts, done: make(chan struct{})}
	if opts.RecordMethods {
		s.MCP.AddReceivingMiddleware(s.recordMethod)
	}
	getServer := func(*http.Request) *mcp.Server { return s.MCP }
	var mcpHandler http.Handler
	if opts.SSEOnly {
		mcpHandler = SSEOnlyHandler(getServer)
	} else {
		mcpHandler = mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{JSONResponse: opts.JSONResponse})
	}
	endpoint := s.wrap(mcpHandler)
	if opts.Hits != nil {
		endpoint = Recording(endpoint, opts.Hits)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", endpoint)
	mux.Handle("/", s.wrap(http.NotFoundHandler()))
	s.srv = httptest.NewUnstartedServer(mux)
	s.srv.Listener = ln
	s.srv.Start()
	s.URL = s.srv.URL + "/mcp"
	return s, nil
}

// SSEOnlyHandler serves only the 2024-11-05 SSE transport: GET opens the
// event stream and messages are POSTed to ?sessionid=…; a POST without a
// sessionid, which is a Streamable HTTP attempt, is answered 405, so a client
// has to fall back to SSE.
func SSEOnlyHandler(getServer func(*http.Request) *mcp.Server) http.Handler {
	sse := mcp.NewSSEHandler(getServer, nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.URL.Query().Get("sessionid") == "" {
			w.Header().Set("Allow", "GET")
			http.Error(w, "this server speaks only the SSE transport", http.StatusMethodNotAllowed)
			return
		}
		sse.ServeHTTP(w, r)
	})
}

// StartSSE is StartHTTP with SSEOnly set.
func StartSSE(opts HTTPOptions) (*HTTPServer, error) {
	opts.SSEOnly = true
	return StartHTTP(opts)
}

func (s *HTTPServer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.RecordHeaders {
			s.mu.Lock()
			s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()})
			s.mu.Unlock()
		}
		if s.opts.HoldDelete != nil && r.Method == http.MethodDelete {
			select {
			case <-s.opts.HoldDelete:
			case <-r.Context().Done():
				return
			case <-s.done:
				return
			}
		}
		if s.opts.Hang {
			// Consume the body so that the server notices when the client
			// hangs up (which cancels r.Context()).
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-s.done:
			}
			return
		}
		if s.opts.Latency > 0 {
			t := time.NewTimer(s.opts.Latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			case <-s.done:
				t.Stop()
				return
			}
		}
		if s.opts.Unauthorized || (s.opts.RequireAuthorization != "" && r.Header.Get("Authorization") != s.opts.RequireAuthorization) {
			w.Header().Set("WWW-Authenticate", Challenge)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if s.opts.Status != 0 {
			http.Error(w, http.StatusText(s.opts.Status), s.opts.Status)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Requests returns the requests recorded so far (RecordHeaders must be set).
func (s *HTTPServer) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// recordMethod records the method of every JSON-RPC message the server
// handles (requests and notifications, notifications/cancelled included).
func (s *HTTPServer) recordMethod(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		s.mu.Lock()
		s.methods = append(s.methods, method)
		s.mu.Unlock()
		return next(ctx, method, req)
	}
}

// Methods returns the JSON-RPC methods the server has handled so far, in
// order (RecordMethods must be set).
func (s *HTTPServer) Methods() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.methods)
}

// Close closes every MCP session, every client connection and the listener,
// and waits for all handlers to return. It is safe to call more than once.
func (s *HTTPServer) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		for ss := range s.MCP.Sessions() {
			_ = ss.Close()
		}
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// ErrUnknownMode is returned by RunChild for a mode it does not know.
var ErrUnknownMode = errors.New("mcptest: unknown child mode")
