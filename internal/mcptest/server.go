// Package mcptest provides real, in-process MCP servers for tests and for the
// `mcplink demo` command: a go-sdk server with a handful of tools, loopback
// HTTP servers (Streamable HTTP or SSE only) with injectable latency, header
// and request recording, 401 challenges, held DELETEs and hangs, and a stdio
// server plus child-process modes that let a test binary act as a local MCP
// server.
package mcptest

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tool names served by NewServer.
const (
	ToolEcho = "echo"
	ToolAdd  = "add"
	ToolFail = "fail"
	ToolSlow = "slow"
	ToolGrow = "grow"
)

// FailMessage is the text of the error result returned by the fail tool.
const FailMessage = "mcptest: the fail tool always fails"

// ServerOptions configures NewServer.
type ServerOptions struct {
	// Name and Version identify the server; they default to "mcptest" and "0.1.0".
	Name    string
	Version string
	// ToolsOnly leaves out what content.go adds (the progress and pick
	// tools, resources and prompts): a server declaring neither resources
	// nor prompts.
	ToolsOnly bool
	// Execution gives tools an "execution" member in tools/list answers
	// (tool name → its value, written as given; see TaskExecution), and
	// makes a plain call of a tool whose taskSupport is "required" fail.
	Execution map[string]any
	// PageSize, when set, is the most tools (resources, prompts) per
	// list page: a client has to follow nextCursor.
	PageSize int
}

// EchoArgs are the arguments of the echo tool.
type EchoArgs struct {
	Text string `json:"text" jsonschema:"the text to echo back"`
}

// AddArgs are the arguments of the add tool.
type AddArgs struct {
	A float64 `json:"a" jsonschema:"first addend"`
	B float64 `json:"b" jsonschema:"second addend"`
}

// AddResult is the structured output of the add tool.
type AddResult struct {
	Sum float64 `json:"sum"`
}

// SlowArgs are the arguments of the slow tool.
type SlowArgs struct {
	MS int `json:"ms" jsonschema:"milliseconds to sleep before answering (at most 60000)"`
}

// GrowArgs are the arguments of the grow tool.
type GrowArgs struct {
	Name string `json:"name,omitempty" jsonschema:"name of the tool to add (default grown-N)"`
}

// NewServer returns a go-sdk server with the tools echo, add, fail, slow,
// grow, progress and pick, two resources, a resource template and a prompt
// (see content.go). grow adds a new echo-like tool, which makes the server send
// notifications/tools/list_changed to every connected session.
func NewServer(opts ServerOptions) *mcp.Server {
	name, version := opts.Name, opts.Version
	if name == "" {
		name = "mcptest"
	}
	if version == "" {
		version = "0.1.0"
	}
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: version}, &mcp.ServerOptions{PageSize: opts.PageSize})

	mcp.AddTool(s, &mcp.Tool{Name: ToolEcho, Description: "Echo the given text."},
		func(_ context.Context, _ *mcp.CallToolRequest, in EchoArgs) (*mcp.CallToolResult, any, error) {
			return textResult(in.Text), nil, nil
		})

	mcp.AddTool(s, &mcp.Tool{Name: ToolAdd, Description: "Add two numbers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in AddArgs) (*mcp.CallToolResult, AddResult, error) {
			sum := in.A + in.B
			return textResult(fmt.Sprint(sum)), AddResult{Sum: sum}, nil
		})

	mcp.AddTool(s, &mcp.Tool{Name: ToolFail, Description: "Always return an error result."},
		func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
			r := textResult(FailMessage)
			r.IsError = true
			return r, nil, nil
		})

	mcp.AddTool(s, &mcp.Tool{Name: ToolSlow, Description: "Sleep for ms milliseconds, then answer."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in SlowArgs) (*mcp.CallToolResult, any, error) {
			d := time.Duration(min(max(in.MS, 0), 60000)) * time.Millisecond
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return textResult(fmt.Sprintf("slept %dms", d.Milliseconds())), nil, nil
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		})

	var grown atomic.Int64
	mcp.AddTool(s, &mcp.Tool{Name: ToolGrow, Description: "Add a new tool (triggers tools/list_changed)."},
		func(_ context.Context, _ *mcp.CallToolRequest, in GrowArgs) (*mcp.CallToolResult, any, error) {
			n := in.Name
			if n == "" {
				n = fmt.Sprintf("grown-%d", grown.Add(1))
			}
			mcp.AddTool(s, &mcp.Tool{Name: n, Description: "A tool added by grow; echoes text."},
				func(_ context.Context, _ *mcp.CallToolRequest, in EchoArgs) (*mcp.CallToolResult, any, error) {
					return textResult(in.Text), nil, nil
				})
			return textResult("added " + n), nil, nil
		})
	if !opts.ToolsOnly {
		addContent(s)
	}
	withExecution(s, opts.Execution)
	return s
}

func textResult(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}
