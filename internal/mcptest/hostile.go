package mcptest

import (
	"bufio"
	"context"
	"io"
	"os"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// HostileText is what the hostile server puts in every text it controls:
// an OSC that retitles the terminal window, a CSI that clears the screen, a
// C1 CSI (U+009B) and a right-to-left override.
const HostileText = "\x1b]0;pwned\x07 \x1b[2J \u009b31m \u202eevil"

// Names served by NewHostileServer. Each carries HostileText.
const (
	HostileServerName = "hostile" + HostileText
	HostileTool       = "pwn" + HostileText
	// HostileErrorTool answers every call with a JSON-RPC error whose
	// message is HostileErrorMessage.
	HostileErrorTool    = "err" + HostileText
	HostileErrorMessage = "server error " + HostileText
	// HostileResource is a text resource whose name, description and text
	// carry HostileText; HostilePrompt a prompt whose description, argument
	// and message do.
	HostileResource = "hostile://res"
	HostilePrompt   = "prompt" + HostileText
)

// NewHostileServer returns a server whose name, instructions, tool names,
// tool descriptions, results, errors, resource and prompt all carry terminal
// escape sequences:
// a stand-in for a malicious server in tests of what mcplink prints.
func NewHostileServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: HostileServerName, Version: "1"},
		&mcp.ServerOptions{Instructions: "instructions " + HostileText})
	mcp.AddTool(s, &mcp.Tool{Name: HostileTool, Description: "description " + HostileText},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return textResult("result " + HostileText), nil, nil
		})
	s.AddTool(&mcp.Tool{Name: HostileErrorTool, Description: "fails " + HostileText, InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: HostileErrorMessage}
		})
	s.AddResource(&mcp.Resource{URI: HostileResource, Name: "res" + HostileText, Description: "about " + HostileText, MIMEType: "text/plain"},
		func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: HostileResource, MIMEType: "text/plain", Text: "content " + HostileText}}}, nil
		})
	s.AddPrompt(&mcp.Prompt{Name: HostilePrompt, Description: "about " + HostileText, Arguments: []*mcp.PromptArgument{{Name: "arg" + HostileText}}},
		func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Description: "rendered " + HostileText, Messages: []*mcp.PromptMessage{
				{Role: "user", Content: &mcp.TextContent{Text: "message " + HostileText}},
			}}, nil
		})
	return s
}

// serveHostileStdio serves NewHostileServer on in/out.
func serveHostileStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	err := NewHostileServer().Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(in), Writer: nopWriteCloser{out}})
	if ctx.Err() != nil {
		return nil
	}
	return clientGone(err)
}

// EnvHugeLineBytes sets how many bytes ModeHugeLine writes in its one line
// (default 1 GiB).
const EnvHugeLineBytes = "MCPTEST_HUGE_LINE_BYTES"

// writeHugeLine waits for the client's first message, then answers with one
// line of n bytes, the start of a JSON-RPC response whose string never ends
// (no newline). It stops when the reader goes away.
func writeHugeLine(ctx context.Context, in io.Reader, out io.Writer, n int64) error {
	br := bufio.NewReader(in)
	if _, err := br.ReadSlice('\n'); err != nil {
		return nil
	}
	go func() { _, _ = io.Copy(io.Discard, br) }()
	head := []byte(`{"jsonrpc":"2.0","id":0,"result":{"x":"`)
	if _, err := out.Write(head); err != nil {
		return nil
	}
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 'a'
	}
	for written := int64(len(head)); written < n && ctx.Err() == nil; {
		c := chunk[:min(int64(len(chunk)), n-written)]
		m, err := out.Write(c)
		written += int64(m)
		if err != nil {
			return nil // the reader stopped: what this mode is for
		}
	}
	return nil
}

func hugeLineBytes() int64 {
	if v, err := strconv.ParseInt(os.Getenv(EnvHugeLineBytes), 10, 64); err == nil && v > 0 {
		return v
	}
	return 1 << 30
}
