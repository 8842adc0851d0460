package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/internal/mcptest"
)

// TestToolsJSONTaskSupport: `tools --json` gives every tool its
// execution.taskSupport, exactly, from a local server and from a Streamable
// HTTP one (whose answers mcplink reads at the HTTP layer), and `call` of a
// task-only tool exits 1 without the server being asked.
func TestToolsJSONTaskSupport(t *testing.T) {
	srv, err := mcptest.StartHTTP(mcptest.HTTPOptions{Server: mcptest.ServerOptions{Execution: mcptest.TaskExecution}, RecordMethods: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mcplink.json")
	body := fmt.Sprintf(`{"mcp": {
  "loc": {"type": "local", "command": ["mcptest-child", "tasks"]},
  "web": {"type": "remote", "url": %q, "oauth": false}
}}`, srv.URL)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	// PATH: testscript.Main put mcplink and mcptest-child first.
	e := binEnv{dir: dir, env: homeEnv(t, dir, "MCPLINK_CONFIG="+cfg)}
	run := func(args ...string) (string, string, int) {
		t.Helper()
		out, errb, err := e.run(t, args...)
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return out, errb, ee.ExitCode()
		case err != nil:
			t.Fatalf("mcplink %v: %v", args, err)
		}
		return out, errb, 0
	}

	out, errOut, code := run("tools", "--json")
	if code != 0 {
		t.Fatalf("tools --json: exit %d: %s", code, errOut)
	}
	var got map[string][]struct {
		Name        string  `json:"name"`
		TaskSupport *string `json:"taskSupport"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := map[string]string{"add": "forbidden", "echo": "forbidden", "fail": "forbidden", "grow": "forbidden",
		"pick": "forbidden", "progress": "required", "slow": "optional"}
	for _, server := range []string{"loc", "web"} {
		have := map[string]string{}
		for _, tool := range got[server] {
			if tool.TaskSupport == nil {
				t.Fatalf("%s: tool %s has no taskSupport: %s", server, tool.Name, out)
			}
			have[tool.Name] = *tool.TaskSupport
		}
		if !maps.Equal(have, want) {
			t.Errorf("%s: taskSupport = %v, want %v", server, have, want)
		}
	}

	for _, server := range []string{"loc", "web"} {
		_, errOut, code := run("call", server, "progress", "steps=1")
		if code != 1 {
			t.Errorf("call %s progress: exit %d, want 1: %s", server, code, errOut)
		}
		if want := `tool "progress" of server "` + server + `" can only be called as a task`; !strings.Contains(errOut, want) {
			t.Errorf("call %s progress: stderr %q lacks %q", server, errOut, want)
		}
	}
	for _, m := range srv.Methods() {
		if m == "tools/call" {
			t.Fatalf("the server was asked to call a tool: %v", srv.Methods())
		}
	}
}
