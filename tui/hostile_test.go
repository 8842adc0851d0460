package tui

import (
	"os"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/mcplink/mcplink/internal/mcptest"
)

// TestHostileToolTextIsCleanOnScreen: the "local" server is a hostile one
// whose tool names and descriptions carry an OSC title change, a screen
// clear, a C1 CSI and a bidi override. The rendered screen shows their
// visible rest and none of the controls (the screen's own styling aside).
func TestHostileToolTextIsCleanOnScreen(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, []string{exe}, map[string]string{mcptest.EnvChild: mcptest.ModeHostile})
	h := newHarness(t, e.backend(t, nil), Options{NoColor: true})
	h.ready()
	h.press("j", "j", "enter") // broken, demo, local: show its tools
	raw := h.screen()
	mustContain(t, ansi.Strip(raw), "pwn]0;pwned", "description ]0;pwned")
	for _, bad := range []string{"\a", "\x1b]", "\x1b[2J", "\u009b", "\u202e"} {
		if strings.Contains(raw, bad) {
			t.Errorf("the screen carries %q from the server:\n%q", bad, raw)
		}
	}
}
