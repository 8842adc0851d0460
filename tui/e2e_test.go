package tui

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testwait"
	"github.com/mcplink/mcplink/internal/tmuxtest"
)

// envBrowser makes the test binary act as $BROWSER: it follows the
// authorization URL (its last argument) like a browser whose user approves.
const envBrowser = "MCPLINK_TUI_TEST_BROWSER"

// envBrowserRedirect, with envBrowser, makes the browser write the callback
// URL it was sent to into the named file instead of visiting it.
const envBrowserRedirect = "MCPLINK_TUI_TEST_BROWSER_REDIRECT"

func runBrowser(args []string) int {
	if len(args) == 0 {
		return 2
	}
	if os.Getenv(envBrowserBlock) != "" {
		// A browser that runs until it is closed (lynx, a browser's own
		// process): only a kill ends it.
		time.Sleep(10 * time.Minute)
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out := os.Getenv(envBrowserRedirect); out != "" {
		// A browser on another machine: it signs in but cannot reach the
		// callback; the user sees (here: the file gets) the URL it ended on.
		u, err := oauthtest.RedirectURL(ctx, args[len(args)-1])
		if err != nil {
			u = "error: " + err.Error()
		}
		if err := os.WriteFile(out+".tmp", []byte(u), 0o600); err != nil {
			return 1
		}
		if err := os.Rename(out+".tmp", out); err != nil {
			return 1
		}
		return 0
	}
	err := oauthtest.FollowRedirects(ctx, args[len(args)-1])
	if log := os.Getenv(envBrowser); log != "1" {
		msg := "ok\n"
		if err != nil {
			msg = err.Error() + "\n"
		}
		_ = os.WriteFile(log, []byte(msg), 0o600)
	}
	if err != nil {
		return 1
	}
	return 0
}

// tmuxSession is the real mcplink binary running `mcplink tui` in tmux.
type tmuxSession struct {
	*tmuxtest.Pane
	t                              *testing.T
	e                              *env
	tmux                           *tmuxtest.Server
	bin, dir, browserLog, exitFile string
}

// filter types / and text, then enter: the filter is kept, and the list
// shows the servers it matches.
func (ts *tmuxSession) filter(text string) {
	ts.t.Helper()
	ts.Key("/", "▏  (enter keeps the filter, esc clears it)")
	ts.Key(text, "/"+text+"▏")
	ts.Key("Enter", "filter: "+text+" (esc clears)")
}

func rowHas(s, name, word string) bool {
	for _, l := range strings.Split(s, "\n") {
		left, _, _ := strings.Cut(l, "│")
		if strings.Contains(left, " "+name+" ") && strings.Contains(left, word) {
			return true
		}
	}
	return false
}

// startTmux builds mcplink and starts the dashboard in tmux (80×24) over a
// fresh env; prepare, when set, runs before the dashboard starts.
func startTmux(t *testing.T, extraEnv []string, prepare func(e *env)) *tmuxSession {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "mcplink")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ts := &tmuxSession{t: t, bin: bin, dir: dir, browserLog: filepath.Join(dir, "browser.log"), exitFile: filepath.Join(dir, "exit")}
	ts.tmux = tmuxtest.Start(t, dir, append([]string{
		"HOME=" + dir,
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "xdg"),
		"MCPLINK_DATA_DIR=" + filepath.Join(dir, "data"),
		"BROWSER=" + self,
		envBrowser + "=" + ts.browserLog,
	}, extraEnv...)...)
	ts.tmux.Explain = func() string {
		b, _ := os.ReadFile(ts.browserLog)
		return "browser: " + string(b)
	}
	build := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "./cmd/mcplink")
	build.Dir = ".."
	t0 := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("go build: %s", time.Since(t0).Round(time.Millisecond))
	ts.e = newEnv(t, []string{bin, "__test-server", "stdio"}, nil)
	if prepare != nil {
		prepare(ts.e)
	}
	script := fmt.Sprintf("%s tui --config %s; echo $? > %s", shq(bin), shq(ts.e.cfgPath), shq(ts.exitFile))
	ts.Pane = ts.tmux.Session("t", 80, 24, script)
	return ts
}

// quit presses q and checks that the dashboard exits with 0 and leaves no
// process behind.
func (ts *tmuxSession) quit() {
	t := ts.t
	t.Helper()
	ts.Keys("q")
	var code string
	if !testwait.Until(10*time.Second, func() bool {
		b, _ := os.ReadFile(ts.exitFile)
		code = strings.TrimSpace(string(b))
		return code != ""
	}) {
		t.Fatalf("mcplink tui did not exit after q; pane:\n%s", ts.Screen())
	}
	if code != "0" {
		t.Fatalf("mcplink tui exited with %s", code)
	}
	if !testwait.Until(5*time.Second, func() bool { return len(processesOf(ts.bin)) == 0 }) {
		t.Fatalf("processes left after quit: %v", processesOf(ts.bin))
	}
}

// TestEndToEndTmux runs the real mcplink binary in tmux against embedded
// servers: it checks the rows, signs in from the dashboard (the browser is
// this test binary following the URL), and quits cleanly with no process left.
func TestEndToEndTmux(t *testing.T) {
	ts := startTmux(t, nil, nil)
	t0 := time.Now()
	defer func() { t.Logf("dashboard session: %s", time.Since(t0).Round(time.Millisecond)) }()
	bin, browserLog, waitFor := ts.bin, ts.browserLog, ts.Until
	s := waitFor("the initial rows", 20*time.Second, func(s string) bool {
		return strings.Contains(s, "5 servers · 2 connected · 1 needs auth · 1 failed · 1 disabled")
	})
	for _, r := range [][2]string{{"broken", "failed"}, {"demo", "connected"}, {"local", "connected"}, {"off", "disabled"}, {"protected", "needs auth"}} {
		if !rowHas(s, r[0], r[1]) {
			t.Fatalf("no row %q with %q:\n%s", r[0], r[1], s)
		}
	}
	if !rowHas(s, "demo", "7 tools") {
		t.Fatalf("demo row lacks its tool count (mcptest serves 7):\n%s", s)
	}
	// Select protected with the filter and sign in.
	ts.filter("prot")
	ts.Keys("a")
	s = waitFor("the sign-in", 20*time.Second, func(s string) bool {
		return rowHas(s, "protected", "connected") && strings.Contains(s, "expires in")
	})
	t.Logf("pane after the sign-in:\n%s", s)
	if b, _ := os.ReadFile(browserLog); strings.TrimSpace(string(b)) != "ok" {
		t.Fatalf("browser helper: %q", b)
	}
	if !strings.Contains(s, "Signed in to protected") || !strings.Contains(s, "authenticated") {
		t.Fatalf("no sign-in confirmation:\n%s", s)
	}
	// Clear the filter, then resize: every row comes back, laid out for 120×30.
	ts.Keys("Escape")
	ts.tmux.Must("resize-window", "-t", "t", "-x", "120", "-y", "30")
	s = waitFor("the resized screen", 10*time.Second, func(s string) bool {
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		return len(lines) >= 29 && rowHas(s, "broken", "failed") && rowHas(s, "protected", "connected") &&
			strings.Contains(s, "5 servers · 3 connected · 1 failed · 1 disabled")
	})
	for _, l := range strings.Split(s, "\n") {
		if n := len([]rune(l)); n > 120 {
			t.Fatalf("line wider than the window (%d): %q", n, l)
		}
	}
	if pids := processesOf(bin); len(pids) < 2 {
		t.Fatalf("expected the dashboard and its local server child running, found %v", pids)
	}
	// Quit: everything stops.
	ts.quit()
}

// TestEndToEndTmuxPaste is the SSH/container case in a real terminal: the
// callback port is held by another program, the browser runs elsewhere and
// ends on an unreachable callback URL, which the user pastes (bracketed
// paste through tmux) after pressing p.
func TestEndToEndTmuxPaste(t *testing.T) {
	redirectFile := filepath.Join(t.TempDir(), "redirect")
	var held net.Listener
	ts := startTmux(t, []string{envBrowserRedirect + "=" + redirectFile}, func(e *env) {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", e.port))
		if err != nil {
			t.Fatal(err)
		}
		held = l
	})
	defer held.Close()
	ts.Until("the initial rows", 20*time.Second, func(s string) bool {
		return strings.Contains(s, "5 servers · 2 connected · 1 needs auth · 1 failed · 1 disabled")
	})
	ts.filter("prot")
	ts.Keys("a")
	ts.Until("the busy-port notice", 20*time.Second, func(s string) bool {
		return strings.Contains(s, "listener could not start") && strings.Contains(s, "p paste")
	})
	var redirect string
	if !testwait.Until(20*time.Second, func() bool {
		b, err := os.ReadFile(redirectFile) // written by rename: whole or absent
		redirect = string(b)
		return err == nil
	}) {
		t.Fatalf("the browser never reached the callback redirect; pane:\n%s", ts.Screen())
	}
	if !strings.HasPrefix(redirect, "http://127.0.0.1:") {
		t.Fatalf("browser: %s", redirect)
	}
	ts.Keys("p")
	ts.Until("the paste input", 10*time.Second, func(s string) bool { return strings.Contains(s, "enter sends") })
	ts.tmux.Must("set-buffer", "-b", "url", redirect)
	ts.tmux.Must("paste-buffer", "-p", "-b", "url", "-t", "t") // -p: bracketed
	// The input shows the end of what was pasted (the cursor is there).
	tail := redirect[len(redirect)-20:]
	ts.Until("the end of the pasted URL in the input", 10*time.Second, func(s string) bool { return strings.Contains(s, tail) })
	ts.Keys("Enter")
	s := ts.Until("the sign-in", 20*time.Second, func(s string) bool {
		return rowHas(s, "protected", "connected") && strings.Contains(s, "expires in")
	})
	if !strings.Contains(s, "Signed in to protected") {
		t.Fatalf("no sign-in confirmation:\n%s", s)
	}
	ts.quit()
}

// processesOf lists the pids whose command line starts with bin.
func processesOf(bin string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if arg0, _, _ := strings.Cut(string(b), "\x00"); arg0 == bin {
			pids = append(pids, pid)
		}
	}
	return pids
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
