package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/termtext"
)

// TestHostileResourcesAndPromptsAreClean: the hostile server's resource
// (name, description, text) and prompt (name, description, argument,
// message) reach people through resources and prompts without terminal
// controls, the visible rest kept; --json keeps them exactly.
func TestHostileResourcesAndPromptsAreClean(t *testing.T) {
	h := newHostileEnv(t)
	visible := termtext.Line(mcptest.HostileText)

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"resources", "evil"}, []string{"res" + visible, "about " + visible}},
		{[]string{"resources", "evil", mcptest.HostileResource}, []string{"content " + termtext.Clean(mcptest.HostileText)}},
		{[]string{"prompts", "evil"}, []string{"prompt" + visible, "about " + visible, "arg" + visible}},
		{[]string{"prompts", "evil", mcptest.HostilePrompt}, []string{"rendered " + visible, "message " + termtext.Clean(mcptest.HostileText)}},
		{[]string{"__complete", "prompts", "evil", ""}, []string{"prompt" + visible}},
	} {
		out, errOut := h.run(t, tc.args...)
		name := strings.Join(tc.args[:min(2, len(tc.args))], " ")
		assertNoControls(t, name+" stdout", out)
		assertNoControls(t, name+" stderr", errOut)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q: output lacks %q:\n%s\nstderr: %s", tc.args, w, out, errOut)
			}
		}
	}

	out, _ := h.run(t, "resources", "evil", mcptest.HostileResource, "--json")
	var rr struct {
		Contents []struct{ Text string } `json:"contents"`
	}
	if err := json.Unmarshal([]byte(out), &rr); err != nil || len(rr.Contents) != 1 || rr.Contents[0].Text != "content "+mcptest.HostileText {
		t.Errorf("resources --json does not keep the text exactly (%v): %s", err, out)
	}
	out, _ = h.run(t, "prompts", "evil", mcptest.HostilePrompt, "--json")
	var gp struct {
		Messages []struct {
			Content struct{ Text string } `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(out), &gp); err != nil || len(gp.Messages) != 1 || gp.Messages[0].Content.Text != "message "+mcptest.HostileText {
		t.Errorf("prompts --json does not keep the message exactly (%v): %s", err, out)
	}
}
