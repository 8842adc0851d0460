package api_test

import (
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/api/apitest"
	"github.com/mcplink/mcplink/internal/mcptest"
)

// TestToolsTaskSupport: GET /mcp/{name}/tools gives the tools' task support
// beside them (read from the server's raw tools/list answer), and calling a
// task-only tool is 409 task_required without the server being asked.
func TestToolsTaskSupport(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := start(t, apitest.Options{Plain: 1,
		LocalCommand: []string{exe}, LocalEnv: map[string]string{mcptest.EnvChild: mcptest.ModeTasks}})
	ctx := ctxT(t, 30*time.Second)
	list, err := env.Client.ToolList(ctx, "local")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{mcptest.ToolSlow: "optional", mcptest.ToolProgress: "required"}; !maps.Equal(list.TaskSupport, want) {
		t.Fatalf("taskSupport = %v, want %v", list.TaskSupport, want)
	}
	if len(list.Tools) < 7 {
		t.Fatalf("tools = %d", len(list.Tools))
	}
	res, err := env.Client.CallTool(ctx, "local", mcptest.ToolSlow, map[string]any{"ms": 1})
	if err != nil || res.IsError {
		t.Fatalf("slow = %+v, %v", res, err)
	}
	_, err = env.Client.CallTool(ctx, "local", mcptest.ToolProgress, map[string]any{"steps": 1})
	ce := wantAPIError(t, err, 409, "task_required")
	if want := `tool "progress" of server "local" can only be called as a task`; !strings.Contains(ce.Message, want) {
		t.Fatalf("message %q lacks %q", ce.Message, want)
	}
	// A server that declares nothing has no taskSupport member.
	plain, err := env.Client.ToolList(ctx, "plain0")
	if err != nil || plain.TaskSupport != nil || len(plain.Tools) == 0 {
		t.Fatalf("plain0: %+v, %v", plain, err)
	}
}
