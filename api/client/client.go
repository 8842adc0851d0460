// Package client is a typed Go client for mcplink's HTTP API (package api).
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/api"
)

// Error is an error answer of the API: its HTTP status and envelope.
type Error struct {
	StatusCode int
	Code       string
	Message    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("mcplink API: %s (%d %s)", e.Message, e.StatusCode, e.Code)
}

// Client calls one API server. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// Options configures a Client.
type Options struct {
	// Token is sent as a bearer token when not empty.
	Token string
	// HTTPClient is used for every request; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// New returns a client for the API at baseURL (for example http://127.0.0.1:19880).
func New(baseURL string, opts Options) *Client {
	hc := opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: opts.Token, hc: hc}
}

// Do sends a request with an optional JSON body and decodes a JSON answer
// into out (when not nil). A non-2xx answer is returned as *Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var eb api.ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
			return &Error{StatusCode: resp.StatusCode, Code: "http_error", Message: strings.TrimSpace(string(data))}
		}
		return &Error{StatusCode: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding the answer of %s %s: %w", method, path, err)
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

// List returns the status of every configured server by name (GET /mcp).
func (c *Client) List(ctx context.Context) (map[string]api.ServerStatus, error) {
	var out map[string]api.ServerStatus
	return out, c.Do(ctx, http.MethodGet, "/mcp", nil, &out)
}

func (c *Client) status(ctx context.Context, method, path string, body any) (*api.ServerStatus, error) {
	var out api.ServerStatus
	if err := c.Do(ctx, method, path, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Get returns one server's status (GET /mcp/{name}).
func (c *Client) Get(ctx context.Context, name string) (*api.ServerStatus, error) {
	return c.status(ctx, http.MethodGet, "/mcp/"+esc(name), nil)
}

// Connect (re)connects a server (POST /mcp/{name}/connect, which answers
// true as opencode's does) and returns its status after the attempt
// (GET /mcp/{name}).
func (c *Client) Connect(ctx context.Context, name string) (*api.ServerStatus, error) {
	if err := c.boolCall(ctx, "/mcp/"+esc(name)+"/connect"); err != nil {
		return nil, err
	}
	return c.Get(ctx, name)
}

// Disconnect disconnects a server (POST /mcp/{name}/disconnect, which
// answers true) and returns its status (GET /mcp/{name}).
func (c *Client) Disconnect(ctx context.Context, name string) (*api.ServerStatus, error) {
	if err := c.boolCall(ctx, "/mcp/"+esc(name)+"/disconnect"); err != nil {
		return nil, err
	}
	return c.Get(ctx, name)
}

// boolCall POSTs to path and expects the answer true.
func (c *Client) boolCall(ctx context.Context, path string) error {
	var ok bool
	if err := c.Do(ctx, http.MethodPost, path, nil, &ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("POST %s answered false", path)
	}
	return nil
}

// Add adds a server (POST /mcp, opencode's mcp.add): config is its entry in
// the config file's shape, for example
// map[string]any{"type": "remote", "url": "https://example.com/mcp"}. The API
// writes it to its config file, connects it and returns every server's status.
func (c *Client) Add(ctx context.Context, name string, config any) (map[string]api.ServerStatus, error) {
	data, err := json.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("encoding the config: %w", err)
	}
	var out map[string]api.ServerStatus
	return out, c.Do(ctx, http.MethodPost, "/mcp", api.AddRequest{Name: name, Config: data}, &out)
}

// StartAuth starts an authorization flow that stays pending (POST /mcp/{name}/auth).
func (c *Client) StartAuth(ctx context.Context, name string) (*api.AuthStart, error) {
	var out api.AuthStart
	if err := c.Do(ctx, http.MethodPost, "/mcp/"+esc(name)+"/auth", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Callback finishes a pending flow (POST /mcp/{name}/auth/callback).
func (c *Client) Callback(ctx context.Context, name string, req api.CallbackRequest) (*api.ServerStatus, error) {
	return c.status(ctx, http.MethodPost, "/mcp/"+esc(name)+"/auth/callback", req)
}

// Authenticate opens the browser on the API's machine and waits for the
// sign-in (POST /mcp/{name}/auth/authenticate).
func (c *Client) Authenticate(ctx context.Context, name string) (*api.ServerStatus, error) {
	return c.status(ctx, http.MethodPost, "/mcp/"+esc(name)+"/auth/authenticate", nil)
}

// StartDeviceAuth starts a sign-in with the device authorization grant
// (POST /mcp/{name}/auth/device): show the user the verification URI and
// code; the API polls and connects the server when the user approved.
// Follow the outcome with Events (flow events carrying the user code) or Get.
func (c *Client) StartDeviceAuth(ctx context.Context, name string) (*api.DeviceAuthStart, error) {
	var out api.DeviceAuthStart
	if err := c.Do(ctx, http.MethodPost, "/mcp/"+esc(name)+"/auth/device", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Logout cancels pending flows, revokes the stored tokens at the
// authorization server when it can, deletes them (keeping the client
// registration) and disconnects (DELETE /mcp/{name}/auth). The answer is the
// server's status and, in its Logout field, what became of the tokens: a failed
// revocation is reported there, not as an error.
func (c *Client) Logout(ctx context.Context, name string) (*api.ServerStatus, error) {
	return c.status(ctx, http.MethodDelete, "/mcp/"+esc(name)+"/auth", nil)
}

// Tools lists a connected server's tools (GET /mcp/{name}/tools).
func (c *Client) Tools(ctx context.Context, name string) ([]*mcp.Tool, error) {
	out, err := c.ToolList(ctx, name)
	if err != nil {
		return nil, err
	}
	return out.Tools, nil
}

// ToolList is Tools with the tools' task support (api.ToolList).
func (c *Client) ToolList(ctx context.Context, name string) (*api.ToolList, error) {
	var out api.ToolList
	if err := c.Do(ctx, http.MethodGet, "/mcp/"+esc(name)+"/tools", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CallTool calls a tool (POST /mcp/{name}/tools/{tool}). A failing tool is
// reported in the result's IsError, not as an error.
func (c *Client) CallTool(ctx context.Context, name, tool string, args map[string]any) (*mcp.CallToolResult, error) {
	if args == nil {
		args = map[string]any{}
	}
	var out mcp.CallToolResult
	if err := c.Do(ctx, http.MethodPost, "/mcp/"+esc(name)+"/tools/"+esc(tool), args, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// OpenAPI returns the OpenAPI document (GET /openapi.json).
func (c *Client) OpenAPI(ctx context.Context) (map[string]any, error) {
	var out map[string]any
	return out, c.Do(ctx, http.MethodGet, "/openapi.json", nil, &out)
}

// EventStream reads GET /events. Close it when done.
type EventStream struct {
	body io.ReadCloser
	sc   *bufio.Scanner
}

// Events opens the event stream; it ends when ctx ends or Close is called.
func (c *Client) Events(ctx context.Context) (*EventStream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var eb api.ErrorBody
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = json.Unmarshal(data, &eb)
		return nil, &Error{StatusCode: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	return &EventStream{body: resp.Body, sc: sc}, nil
}

// Next returns the next event. It returns io.EOF when the stream ended.
func (s *EventStream) Next() (api.Event, error) {
	var data []byte
	for s.sc.Scan() {
		line := s.sc.Bytes()
		switch {
		case len(line) == 0:
			if data != nil {
				var ev api.Event
				if err := json.Unmarshal(data, &ev); err != nil {
					return ev, fmt.Errorf("decoding an event: %w", err)
				}
				return ev, nil
			}
		case bytes.HasPrefix(line, []byte("data:")):
			data = append(data, bytes.TrimSpace(line[5:])...)
		}
	}
	if err := s.sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return api.Event{}, err
	}
	return api.Event{}, io.EOF
}

// Close ends the stream.
func (s *EventStream) Close() error { return s.body.Close() }
