package mcptest

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TaskExecution is the "execution" member ModeTasks (and NewServer with
// ServerOptions.Execution set to it) gives its tools: slow may be called as
// a task, progress must be, echo says it must not, add and fail carry
// shapes a client has to tolerate (no object; an unknown value), and the
// other tools declare nothing.
var TaskExecution = map[string]any{
	ToolSlow:     map[string]any{"taskSupport": "optional"},
	ToolProgress: map[string]any{"taskSupport": "required"},
	ToolEcho:     map[string]any{"taskSupport": "forbidden"},
	ToolAdd:      "not an object",
	ToolFail:     map[string]any{"taskSupport": 42, "other": true},
}

// TaskRequiredMessage is the error a server with ServerOptions.Execution
// answers to a plain (not task-augmented) tools/call of a tool whose
// execution.taskSupport is "required" (code -32601, as the spec says).
const TaskRequiredMessage = "mcptest: this tool must be called as a task"

// withExecution makes s declare execution (tool name → the value of its
// "execution" member, written as given) in its tools/list answers, and
// answer a plain call of a tool whose taskSupport is "required" with an
// error, as the spec has servers do. go-sdk v1.8.0's mcp.Tool has no
// "execution" member, so a receiving middleware re-encodes the answer.
func withExecution(s *mcp.Server, execution map[string]any) {
	if len(execution) == 0 {
		return
	}
	s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/call" {
				if p, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok && requiresTask(execution[p.Name]) {
					return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: TaskRequiredMessage}
				}
			}
			res, err := next(ctx, method, req)
			if lr, ok := res.(*mcp.ListToolsResult); ok && err == nil && method == "tools/list" {
				return &toolsWithExecution{ListToolsResult: lr, execution: execution}, nil
			}
			return res, err
		}
	})
}

func requiresTask(v any) bool {
	m, _ := v.(map[string]any)
	return m != nil && m["taskSupport"] == "required"
}

// toolsWithExecution is a tools/list result whose tools carry an
// "execution" member.
type toolsWithExecution struct {
	*mcp.ListToolsResult
	execution map[string]any
}

func (r *toolsWithExecution) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(r.ListToolsResult)
	if err != nil {
		return nil, err
	}
	var res map[string]any
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	tools, _ := res["tools"].([]any)
	for _, t := range tools {
		tool, _ := t.(map[string]any)
		if tool == nil {
			return nil, fmt.Errorf("mcptest: a tool encoded as %T", t)
		}
		name, _ := tool["name"].(string)
		if v, ok := r.execution[name]; ok {
			tool["execution"] = v
		}
	}
	return json.Marshal(res)
}
