//go:build windows

package manager

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/mcptest"
)

// TestBatchShimArgumentsStayText runs a .cmd shim, found through PATH and
// PATHEXT as "shim" the way "npx" finds npx.cmd, with arguments that would
// run another command or expand a variable if cmd.exe parsed them
// (BatBadBut). The shim records what it received; the injected commands
// must not have run. Only compiled on the Linux CI (no Windows runner).
func TestBatchShimArgumentsStayText(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.txt")
	pwned := filepath.Join(dir, "pwned.txt")
	shim := "@echo off\r\n>\"%~dp0out.txt\" echo(%*\r\n"
	if err := os.WriteFile(filepath.Join(dir, "shim.cmd"), []byte(shim), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{
		"plain",
		"a&b",
		`&echo x>"` + pwned + `"`,
		`"&echo x>"` + pwned,
		`%CMDCMDLINE:~-1%&echo x>` + pwned,
		"%PATH%",
		"trailing\\",
	}
	e := &config.Entry{
		Name:        "shim",
		Type:        config.TypeLocal,
		Command:     append([]string{"shim"}, args...),
		Environment: map[string]string{"PATH": dir, "PATHEXT": ".COM;.EXE;.BAT;.CMD"},
		Cwd:         dir,
	}
	p, err := startProcess(e)
	if err != nil {
		t.Fatal(err)
	}
	if !p.waitExit(10 * time.Second) {
		t.Error("shim did not exit")
	}
	p.stop(0)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the shim did not run: %v", err)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatalf("an argument ran as a command; the shim saw: %s", got)
	}
	s := string(got)
	for _, want := range []string{"plain", "a&b", "%PATH%", "CMDCMDLINE"} {
		if !strings.Contains(s, want) {
			t.Errorf("the shim's arguments %q lack %q", s, want)
		}
	}
	if strings.Contains(s, dir+";") || strings.Contains(s, `"`+dir+`"`) {
		t.Errorf("%%PATH%% was expanded: %q", s)
	}
}

// TestStopEndsJob: stop ends a server and the process it started even
// when the server ignores its closed stdin (the job object is terminated).
func TestStopEndsJob(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := &config.Entry{
		Name:        "sleep",
		Type:        config.TypeLocal,
		Command:     []string{exe},
		Environment: map[string]string{mcptest.EnvChild: mcptest.ModeSleep},
	}
	p, err := startProcess(e)
	if err != nil {
		t.Fatal(err)
	}
	if !p.group.alive() {
		t.Fatal("job empty right after start")
	}
	start := time.Now()
	p.stop(100 * time.Millisecond)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stop took %v", d)
	}
	select {
	case <-p.exited:
	default:
		t.Fatal("process still running after stop")
	}
}
