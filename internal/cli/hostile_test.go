package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/termtext"
)

// hostileEnv runs the real mcplink binary against local servers that put
// terminal escape sequences in everything they control.
type hostileEnv struct{ binEnv }

func newHostileEnv(t *testing.T) *hostileEnv {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mcplink.json")
	body := `{"mcp": {
  "evil": {"type": "local", "command": ["mcptest-child", "hostile"]},
  "crash": {"type": "local", "command": ["mcptest-child", "hostile-exit"]}
}}`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	// PATH: testscript.Main put mcplink and mcptest-child first.
	return &hostileEnv{binEnv{dir: dir, env: homeEnv(t, dir, "MCPLINK_CONFIG="+cfg)}}
}

func (h *hostileEnv) run(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, _ = h.binEnv.run(t, args...) // some of these exit 1 on purpose; the output is what counts
	return stdout, stderr
}

// assertNoControls fails if s holds anything a terminal would act on.
func assertNoControls(t *testing.T, what, s string) {
	t.Helper()
	if c := termtext.Clean(s); c != s {
		t.Errorf("%s carries terminal controls:\n%q", what, s)
	}
}

// TestHostileServerTextIsCleanForPeopleExactInJSON: a local server whose
// name, tool names, descriptions, results, errors and stderr carry OSC, CSI,
// C1 and bidi controls. list, tools and call print none of them in human
// output (the visible rest stays), and --json carries them exactly.
func TestHostileServerTextIsCleanForPeopleExactInJSON(t *testing.T) {
	h := newHostileEnv(t)
	visible := termtext.Line(mcptest.HostileText) // "]0;pwned [2J 31m evil"

	out, errOut := h.run(t, "list")
	assertNoControls(t, "list stdout", out)
	assertNoControls(t, "list stderr", errOut)
	if !strings.Contains(out, "crashed: "+visible) {
		t.Errorf("list does not show the crashed server's stderr (cleaned):\n%s", out)
	}

	out, _ = h.run(t, "list", "--json")
	var servers []struct{ Name, Status, Error string }
	if err := json.Unmarshal([]byte(out), &servers); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	found := false
	for _, s := range servers {
		if s.Name == "crash" {
			found = strings.Contains(s.Error, "crashed: "+mcptest.HostileText)
		}
	}
	if !found {
		t.Errorf("list --json does not keep the crash error exactly: %+v", servers)
	}
	for _, raw := range []string{"\x1b", "\a", "\u009b", "\u202e"} {
		if strings.Contains(out, raw) {
			t.Errorf("list --json writes %q raw instead of escaped", raw)
		}
	}

	out, errOut = h.run(t, "tools", "evil")
	assertNoControls(t, "tools stdout", out)
	assertNoControls(t, "tools stderr", errOut)
	for _, want := range []string{"pwn" + visible, "description " + visible} {
		if !strings.Contains(out, want) {
			t.Errorf("tools output lacks %q:\n%s", want, out)
		}
	}

	out, _ = h.run(t, "tools", "evil", "--json")
	var tools map[string][]struct{ Name, Description string }
	if err := json.Unmarshal([]byte(out), &tools); err != nil {
		t.Fatalf("tools --json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, tl := range tools["evil"] {
		got[tl.Name] = tl.Description
	}
	if got[mcptest.HostileTool] != "description "+mcptest.HostileText {
		t.Errorf("tools --json does not keep the tool exactly: %q", got)
	}

	out, errOut = h.run(t, "call", "evil", mcptest.HostileTool)
	assertNoControls(t, "call stdout", out)
	assertNoControls(t, "call stderr", errOut)
	if !strings.Contains(out, "result "+termtext.Clean(mcptest.HostileText)) {
		t.Errorf("call output lacks the cleaned result:\n%q\nstderr: %s", out, errOut)
	}
	out, _ = h.run(t, "call", "evil", mcptest.HostileTool, "--json")
	var res struct {
		Content []struct{ Text string } `json:"content"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Content) != 1 || res.Content[0].Text != "result "+mcptest.HostileText {
		t.Errorf("call --json does not keep the result exactly (%v): %s", err, out)
	}

	out, errOut = h.run(t, "call", "evil", mcptest.HostileErrorTool)
	assertNoControls(t, "call error stdout", out)
	assertNoControls(t, "call error stderr", errOut)
	if !strings.Contains(errOut, "server error "+termtext.Clean(mcptest.HostileText)) {
		t.Errorf("call does not show the server's error message (cleaned):\n%q", errOut)
	}
}
