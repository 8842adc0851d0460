package mcptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tools, resources and prompts served by NewServer beyond the basic tools:
// what `mcplink resources`, `prompts`, progress and argument validation are
// tested against.
const (
	// ToolProgress reports progress while it works (ProgressArgs).
	ToolProgress = "progress"
	// ToolPick takes a required enum argument (PickArgs).
	ToolPick = "pick"

	// ResourceText is a text/plain resource whose text is ResourceTextBody.
	ResourceText = "mcptest://greeting.txt"
	// ResourceBlob is an image/png resource whose bytes are ResourceBlobBody.
	ResourceBlob = "mcptest://pixel.png"
	// ResourceTemplate is a template: mcptest://echo/{text} reads as {text}.
	ResourceTemplate = "mcptest://echo/{text}"

	// PromptGreet renders "Please greet NAME[ in STYLE style]."; name is required.
	PromptGreet = "greet"
)

// ResourceTextBody is the text of ResourceText.
const ResourceTextBody = "hello from mcptest"

// ResourceBlobBody is the content of ResourceBlob: a PNG signature followed
// by bytes no terminal should be sent (NUL, ESC).
var ResourceBlobBody = []byte("\x89PNG\r\n\x1a\n\x00\x1b[2Jnot-really-a-png")

// ProgressArgs are the arguments of the progress tool.
type ProgressArgs struct {
	Steps   int  `json:"steps" jsonschema:"how many steps (at most 10000)"`
	MS      int  `json:"ms,omitempty" jsonschema:"milliseconds per step (at most 1000)"`
	NoTotal bool `json:"noTotal,omitempty" jsonschema:"report progress without a total"`
}

// PickArgs are the arguments of the pick tool.
type PickArgs struct {
	Color string `json:"color"`
	Count int    `json:"count,omitempty"`
}

// pickSchema is written by hand: the enum and the bounds are what argument
// validation is tested against.
var pickSchema = &jsonschema.Schema{
	Type: "object",
	Properties: map[string]*jsonschema.Schema{
		"color": {Type: "string", Enum: []any{"red", "green", "blue"}, Description: "a color"},
		"count": {Type: "integer", Minimum: ptr(1.0), Maximum: ptr(9.0), Description: "how many"},
	},
	Required: []string{"color"},
}

func ptr[T any](v T) *T { return &v }

// addContent adds the progress and pick tools, the resources and the prompt.
func addContent(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{Name: ToolProgress, Description: "Work for steps×ms, reporting progress after each step."},
		func(ctx context.Context, req *mcp.CallToolRequest, in ProgressArgs) (*mcp.CallToolResult, any, error) {
			steps := min(max(in.Steps, 0), 10000)
			step := time.Duration(min(max(in.MS, 0), 1000)) * time.Millisecond
			token := req.Params.GetProgressToken()
			for i := 1; i <= steps; i++ {
				t := time.NewTimer(step)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return nil, nil, ctx.Err()
				}
				if token != nil {
					p := &mcp.ProgressNotificationParams{ProgressToken: token, Progress: float64(i), Message: fmt.Sprintf("step %d", i)}
					if !in.NoTotal {
						p.Total = float64(steps)
					}
					_ = req.Session.NotifyProgress(ctx, p)
				}
			}
			return textResult(fmt.Sprintf("done %d steps", steps)), nil, nil
		})

	mcp.AddTool(s, &mcp.Tool{Name: ToolPick, Description: "Pick a color.", InputSchema: pickSchema},
		func(_ context.Context, _ *mcp.CallToolRequest, in PickArgs) (*mcp.CallToolResult, any, error) {
			n := max(in.Count, 1)
			return textResult(fmt.Sprintf("picked %d %s", n, in.Color)), nil, nil
		})

	s.AddResource(&mcp.Resource{URI: ResourceText, Name: "greeting", Description: "A friendly text.", MIMEType: "text/plain"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: ResourceText, MIMEType: "text/plain", Text: ResourceTextBody}}}, nil
		})
	s.AddResource(&mcp.Resource{URI: ResourceBlob, Name: "pixel", Description: "Binary bytes.", MIMEType: "image/png"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: ResourceBlob, MIMEType: "image/png", Blob: ResourceBlobBody}}}, nil
		})
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: ResourceTemplate, Name: "echo", Description: "Reads as the text in its URI.", MIMEType: "text/plain"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			const prefix = "mcptest://echo/"
			text := req.Params.URI[min(len(prefix), len(req.Params.URI)):]
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: text}}}, nil
		})

	s.AddPrompt(&mcp.Prompt{Name: PromptGreet, Description: "Ask for a greeting.", Arguments: []*mcp.PromptArgument{
		{Name: "name", Description: "who to greet", Required: true},
		{Name: "style", Description: "formal or casual"},
	}}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		name, ok := req.Params.Arguments["name"]
		if !ok || name == "" {
			return nil, fmt.Errorf("prompt %s: argument \"name\" is required", PromptGreet)
		}
		text := "Please greet " + name
		if st := req.Params.Arguments["style"]; st != "" {
			text += " in " + st + " style"
		}
		return &mcp.GetPromptResult{Description: "A greeting request", Messages: []*mcp.PromptMessage{
			{Role: "user", Content: &mcp.TextContent{Text: text + "."}},
		}}, nil
	})
}

// serveStdioRecording is ServeStdio appending the method of every message
// it reads to the file at path (one per line), as it reads it — before the
// server handles it, so that a message the server got just before it was
// stopped is recorded too. A test in another process can then see, say, a
// notifications/cancelled arrive.
func serveStdioRecording(ctx context.Context, in io.Reader, out io.Writer, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	return ServeStdio(ctx, &methodRecorder{r: in, w: f}, out)
}

// methodRecorder passes reads through and writes the "method" of every
// complete line (a JSON-RPC message) read so far to w.
type methodRecorder struct {
	r   io.Reader
	w   io.Writer
	buf []byte
}

func (m *methodRecorder) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.buf = append(m.buf, p[:n]...)
	for {
		i := bytes.IndexByte(m.buf, '\n')
		if i < 0 {
			break
		}
		var msg struct {
			Method string `json:"method"`
		}
		if json.Unmarshal(m.buf[:i], &msg) == nil && msg.Method != "" {
			_, _ = io.WriteString(m.w, msg.Method+"\n")
		}
		m.buf = m.buf[i+1:]
	}
	if len(m.buf) > 1<<20 { // a test server: no message of ours is this long
		m.buf = m.buf[:0]
	}
	return n, err
}
