package manager_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/manager"
)

// TestTaskSupport reads execution.taskSupport, which go-sdk's mcp.Tool
// drops, from the tools/list answers of real servers over every transport:
// Streamable HTTP answering with event streams and with JSON bodies, the
// SSE fallback and stdio; one-shot and long-lived connections alike. A tool
// that requires a task is refused before anything is sent.
func TestTaskSupport(t *testing.T) {
	server := mcptest.ServerOptions{Execution: mcptest.TaskExecution}
	want := map[string]manager.TaskSupport{mcptest.ToolSlow: manager.TaskOptional, mcptest.ToolProgress: manager.TaskRequired}
	cases := []struct {
		name      string
		opts      mcptest.HTTPOptions // remote when set
		local     bool
		oneShot   bool
		transport string
	}{
		{name: "streamable-sse", opts: mcptest.HTTPOptions{Server: server, RecordMethods: true}, transport: manager.TransportStreamable},
		{name: "streamable-json", opts: mcptest.HTTPOptions{Server: server, RecordMethods: true, JSONResponse: true}, transport: manager.TransportStreamable},
		{name: "streamable-oneshot", opts: mcptest.HTTPOptions{Server: server, RecordMethods: true}, oneShot: true, transport: manager.TransportStreamable},
		{name: "sse", opts: mcptest.HTTPOptions{Server: server, RecordMethods: true, SSEOnly: true}, transport: manager.TransportSSE},
		{name: "stdio", local: true, transport: manager.TransportStdio},
		// Two tools per tools/list page: every page's answer counts.
		{name: "paged", opts: mcptest.HTTPOptions{Server: mcptest.ServerOptions{Execution: mcptest.TaskExecution, PageSize: 2}, RecordMethods: true}, transport: manager.TransportStreamable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e *config.Entry
			var s *mcptest.HTTPServer
			if c.local {
				e = local(t, c.name, mcptest.ModeTasks)
			} else {
				s = startHTTP(t, c.opts)
				e = remote(c.name, s.URL)
			}
			m := newManager(t, manager.Options{OneShot: c.oneShot}, e)
			ctx := context.Background()
			st, _ := m.Connect(ctx, e.Name)
			wantStatus(t, st, manager.StatusConnected)
			if st.Transport != c.transport {
				t.Fatalf("transport = %s, want %s", st.Transport, c.transport)
			}
			if !maps.Equal(st.TaskSupport, want) {
				t.Fatalf("TaskSupport = %v, want %v", st.TaskSupport, want)
			}
			for tool, ts := range map[string]manager.TaskSupport{
				mcptest.ToolSlow:     manager.TaskOptional,
				mcptest.ToolProgress: manager.TaskRequired,
				mcptest.ToolEcho:     manager.TaskForbidden, // said so
				mcptest.ToolAdd:      manager.TaskForbidden, // execution not an object
				mcptest.ToolFail:     manager.TaskForbidden, // taskSupport not a string
				mcptest.ToolGrow:     manager.TaskForbidden, // nothing declared
				"no-such-tool":       manager.TaskForbidden,
			} {
				if got := m.TaskSupport(e.Name, tool); got != ts {
					t.Errorf("TaskSupport(%s) = %q, want %q", tool, got, ts)
				}
			}

			// An optional one is called as usual.
			res, err := m.CallTool(ctx, e.Name, mcptest.ToolSlow, map[string]any{"ms": 1})
			if err != nil || res.IsError {
				t.Fatalf("slow: %v, %+v", err, res)
			}
			// A required one is refused here, with the data to word it.
			for _, call := range []func() error{
				func() error { _, err := m.CallTool(ctx, e.Name, mcptest.ToolProgress, nil); return err },
				func() error {
					_, err := m.CallToolProgress(ctx, e.Name, mcptest.ToolProgress, nil, func(manager.Progress) {})
					return err
				},
			} {
				err := call()
				var tre *manager.TaskRequiredError
				if !errors.As(err, &tre) || tre.Server != e.Name || tre.Tool != mcptest.ToolProgress {
					t.Fatalf("call of a task-only tool: %v (%T), want *TaskRequiredError", err, err)
				}
				if strings.Contains(err.Error(), mcptest.TaskRequiredMessage) {
					t.Fatalf("the server was asked: %v", err)
				}
			}
			if s != nil {
				calls, lists := 0, 0
				for _, mth := range s.Methods() {
					switch mth {
					case "tools/call":
						calls++
					case "tools/list":
						lists++
					}
				}
				if calls != 1 { // slow only
					t.Fatalf("server handled %d tools/call, want 1 (methods %v)", calls, s.Methods())
				}
				if ps := c.opts.Server.PageSize; ps > 0 && lists != (len(st.Tools)+ps-1)/ps {
					t.Fatalf("%d tools/list pages for %d tools, want one per %d", lists, len(st.Tools), ps)
				}
			}
		})
	}
}

// TestTaskSupportPlainServer: a server that declares nothing has no
// TaskSupport, and a required tool the server would refuse goes through
// the server as before when mcplink was not told.
func TestTaskSupportPlainServer(t *testing.T) {
	s := startHTTP(t, mcptest.HTTPOptions{})
	m := newManager(t, manager.Options{}, remote("web", s.URL))
	st, _ := m.Connect(context.Background(), "web")
	wantStatus(t, st, manager.StatusConnected)
	if st.TaskSupport != nil {
		t.Fatalf("TaskSupport = %v, want nil", st.TaskSupport)
	}
	if got := m.TaskSupport("web", mcptest.ToolSlow); got != manager.TaskForbidden {
		t.Fatalf("TaskSupport(slow) = %q", got)
	}
}

// TestTaskSupportFollowsListChanged: the list refreshed after
// tools/list_changed carries the task support of the tools added, in the
// event and in the state.
func TestTaskSupportFollowsListChanged(t *testing.T) {
	exec := maps.Clone(mcptest.TaskExecution)
	exec["fresh"] = map[string]any{"taskSupport": "required"}
	exec[mcptest.ToolSlow] = map[string]any{"taskSupport": "optional"}
	s := startHTTP(t, mcptest.HTTPOptions{Server: mcptest.ServerOptions{Execution: exec}})
	m := newManager(t, manager.Options{}, remote("web", s.URL))
	st, _ := m.Connect(context.Background(), "web")
	wantStatus(t, st, manager.StatusConnected)
	if _, ok := st.TaskSupport["fresh"]; ok {
		t.Fatalf("fresh before it exists: %v", st.TaskSupport)
	}
	events, cancel := m.Subscribe(8)
	defer cancel()
	if _, err := m.CallTool(context.Background(), "web", mcptest.ToolGrow, map[string]any{"name": "fresh"}); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Kind != manager.EventTools || !slices.ContainsFunc(ev.State.Tools, func(tl *mcp.Tool) bool { return tl.Name == "fresh" }) {
				continue
			}
			want := map[string]manager.TaskSupport{"fresh": manager.TaskRequired, mcptest.ToolSlow: manager.TaskOptional, mcptest.ToolProgress: manager.TaskRequired}
			if !maps.Equal(ev.State.TaskSupport, want) {
				t.Fatalf("TaskSupport after list_changed = %v, want %v", ev.State.TaskSupport, want)
			}
			if got := m.TaskSupport("web", "fresh"); got != manager.TaskRequired {
				t.Fatalf("TaskSupport(fresh) = %q", got)
			}
			return
		case <-timeout:
			t.Fatal("no tools event after tools/list_changed")
		}
	}
}
