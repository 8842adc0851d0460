package manager

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Resources, prompts and tool calls with progress: the MCP operations beyond
// tools/list that the command line offers, wrapped like Tools and CallTool
// (the server must be connected; errors name the server).

// Features a server may lack (UnsupportedError.Feature).
const (
	FeatureResources = "resources"
	FeaturePrompts   = "prompts"
)

// UnsupportedError reports a server that did not declare a capability in its
// initialize answer, so asking it would only earn "method not found".
type UnsupportedError struct {
	Server  string
	Feature string // FeatureResources or FeaturePrompts
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("server %q offers no %s", e.Server, e.Feature)
}

// session returns a connected server's session or the error saying why
// there is none (unknown, untrusted, disabled, not connected, closed).
func (m *Manager) session(name string) (*mcp.ClientSession, error) {
	if cs, ok := m.Session(name); ok {
		return cs, nil
	}
	m.mu.Lock()
	_, err := m.connectedLocked(name)
	m.mu.Unlock()
	if err == nil {
		err = fmt.Errorf("%w: %q", ErrNotConnected, name)
	}
	return nil, err
}

// capable returns name's session after checking that the server declared
// feature.
func (m *Manager) capable(name, feature string) (*mcp.ClientSession, error) {
	cs, err := m.session(name)
	if err != nil {
		return nil, err
	}
	var ok bool
	if ir := cs.InitializeResult(); ir != nil && ir.Capabilities != nil {
		switch feature {
		case FeatureResources:
			ok = ir.Capabilities.Resources != nil
		case FeaturePrompts:
			ok = ir.Capabilities.Prompts != nil
		}
	}
	if !ok {
		return nil, &UnsupportedError{Server: name, Feature: feature}
	}
	return cs, nil
}

// Resources lists a connected server's resources and resource templates
// (every page of each).
func (m *Manager) Resources(ctx context.Context, name string) ([]*mcp.Resource, []*mcp.ResourceTemplate, error) {
	cs, err := m.capable(name, FeatureResources)
	if err != nil {
		return nil, nil, err
	}
	var res []*mcp.Resource
	for r, err := range cs.Resources(ctx, nil) {
		if err != nil {
			return nil, nil, fmt.Errorf("list resources of %s: %w", name, withTooLarge(err, m.recorder(name)))
		}
		res = append(res, r)
	}
	var tmpls []*mcp.ResourceTemplate
	for t, err := range cs.ResourceTemplates(ctx, nil) {
		if err != nil {
			return nil, nil, fmt.Errorf("list resource templates of %s: %w", name, withTooLarge(err, m.recorder(name)))
		}
		tmpls = append(tmpls, t)
	}
	return res, tmpls, nil
}

// ReadResource reads one resource of a connected server.
func (m *Manager) ReadResource(ctx context.Context, name, uri string) (*mcp.ReadResourceResult, error) {
	cs, err := m.capable(name, FeatureResources)
	if err != nil {
		return nil, err
	}
	res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", uri, name, withTooLarge(err, m.recorder(name)))
	}
	return res, nil
}

// Prompts lists a connected server's prompts (every page).
func (m *Manager) Prompts(ctx context.Context, name string) ([]*mcp.Prompt, error) {
	cs, err := m.capable(name, FeaturePrompts)
	if err != nil {
		return nil, err
	}
	var ps []*mcp.Prompt
	for p, err := range cs.Prompts(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("list prompts of %s: %w", name, withTooLarge(err, m.recorder(name)))
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// GetPrompt renders one prompt of a connected server with args.
func (m *Manager) GetPrompt(ctx context.Context, name, prompt string, args map[string]string) (*mcp.GetPromptResult, error) {
	cs, err := m.capable(name, FeaturePrompts)
	if err != nil {
		return nil, err
	}
	res, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: prompt, Arguments: args})
	if err != nil {
		return nil, fmt.Errorf("get prompt %s from %s: %w", prompt, name, withTooLarge(err, m.recorder(name)))
	}
	return res, nil
}

// Progress is one notifications/progress report for a call in flight.
type Progress struct {
	Progress float64
	Total    float64 // 0 when the server did not say
	Message  string
}

// cancelFlush bounds how long CallToolProgress waits, after its context is
// cancelled, for the server to have been told (notifications/cancelled).
const cancelFlush = 500 * time.Millisecond

// CallToolProgress calls a tool on a connected server with a progress
// token: every notifications/progress the server sends for this call is
// passed to onProgress (on the session's goroutine; it must not block). A
// nil onProgress sends no token. A tool that fails reports it in the result
// (IsError); err is for protocol and transport failures. With
// Options.OneShot it returns once the answer's HTTP response is drained (at
// most one round trip later, settleFloor on a fast connection), so a caller
// that cancels ctx right after does not cost the connection.
//
// When ctx is cancelled the SDK retires the call and sends
// notifications/cancelled from a goroutine of its own, and returns at once.
// A session closed before that goroutine has handed the notification to the
// connection drops it (closing waits only for notifications already in
// flight), so CallToolProgress then waits for the answer to a ping, at most
// cancelFlush: by then the goroutine, started before the ping, has run.
// Measured without it: the server never saw the cancellation.
// The error then wraps ctx.Err().
func (m *Manager) CallToolProgress(ctx context.Context, name, tool string, args map[string]any, onProgress func(Progress)) (*mcp.CallToolResult, error) {
	cs, err := m.session(name)
	if err != nil {
		return nil, err
	}
	if m.TaskSupport(name, tool) == TaskRequired {
		return nil, &TaskRequiredError{Server: name, Tool: tool}
	}
	if args == nil {
		args = map[string]any{}
	}
	params := &mcp.CallToolParams{Name: tool, Arguments: args}
	if onProgress != nil {
		token, done := m.progress.add(onProgress)
		defer done()
		params.SetProgressToken(token)
	}
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		if ctx.Err() != nil {
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelFlush)
			_ = cs.Ping(pctx, nil) // a server that can't answer in time just isn't waited for
			cancel()
			return nil, fmt.Errorf("call %s on %s: %w", tool, name, ctx.Err())
		}
		return nil, fmt.Errorf("call %s on %s: %w", tool, name, withTooLarge(err, m.recorder(name)))
	}
	if m.opts.OneShot {
		if c := m.connOf(name); c != nil {
			c.settle(ctx) // before the caller cancels ctx (see connTransport.settle)
		}
	}
	return res, nil
}

// progressRouter hands notifications/progress to the caller whose request
// carried the token. Tokens are unique per manager.
type progressRouter struct {
	mu   sync.Mutex
	next uint64
	subs map[string]func(Progress)
}

func (r *progressRouter) add(f func(Progress)) (token string, done func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	token = "mcplink-" + strconv.FormatUint(r.next, 10)
	if r.subs == nil {
		r.subs = map[string]func(Progress){}
	}
	r.subs[token] = f
	return token, func() {
		r.mu.Lock()
		delete(r.subs, token)
		r.mu.Unlock()
	}
}

// handle is the client's ProgressNotificationHandler.
func (r *progressRouter) handle(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	if req == nil || req.Params == nil {
		return
	}
	token, ok := req.Params.ProgressToken.(string)
	if !ok {
		return // not one of ours: ours are strings
	}
	r.mu.Lock()
	f := r.subs[token]
	r.mu.Unlock()
	if f != nil {
		f(Progress{Progress: req.Params.Progress, Total: req.Params.Total, Message: req.Params.Message})
	}
}

// IsUnsupported reports whether err says a server lacks a feature.
func IsUnsupported(err error) bool {
	var ue *UnsupportedError
	return errors.As(err, &ue)
}
