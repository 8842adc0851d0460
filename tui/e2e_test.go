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
	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/internal/testwait"
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

// TestEndToEndTmux runs the real mcplink binary in tmux against embedded
// servers: it checks the rows, signs in from the dashboard (the browser is
// this test binary following the URL), and quits cleanly with no process left.
// tmuxSession is the real mcplink binary running `mcplink tui` in tmux.
type tmuxSession struct {
	t                              *testing.T
	e                              *env
	bin, dir, browserLog, exitFile string
	tm                             func(args ...string) (string, error)
}

func (ts *tmuxSession) capture() string {
	out, _ := ts.tm("capture-pane", "-p", "-t", "t")
	return out
}

// waitFor polls the pane until ok holds (the dashboard draws in another
// process: nothing but the screen tells what it has done) and returns it.
func (ts *tmuxSession) waitFor(what string, d time.Duration, ok func(string) bool) string {
	ts.t.Helper()
	var s string
	if !testwait.Until(d, func() bool { s = ts.capture(); return ok(s) }) {
		b, _ := os.ReadFile(ts.browserLog)
		ts.t.Fatalf("timed out waiting for %s; pane:\n%s\nbrowser: %s", what, s, b)
	}
	return s
}

// keys sends keys to the dashboard; the caller waits for what they do.
func (ts *tmuxSession) keys(keys ...string) {
	ts.t.Helper()
	for _, k := range keys {
		if out, err := ts.tm("send-keys", "-t", "t", k); err != nil {
			ts.t.Fatalf("send-keys %s: %v\n%s", k, err, out)
		}
	}
}

// key sends one key and waits until the pane shows want.
func (ts *tmuxSession) key(k, want string) {
	ts.t.Helper()
	ts.keys(k)
	ts.waitFor(fmt.Sprintf("%q after %s", want, k), 10*time.Second, func(s string) bool { return strings.Contains(s, want) })
}

// filter types / and text, then enter: the filter is kept, and the list
// shows the servers it matches.
func (ts *tmuxSession) filter(text string) {
	ts.t.Helper()
	ts.key("/", "▏  (enter keeps the filter, esc clears it)")
	ts.key(text, "/"+text+"▏")
	ts.key("Enter", "filter: "+text+" (esc clears)")
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
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is required in CI (apt-get install -y tmux)")
		}
		t.Skip("tmux not installed (apt-get install -y tmux); the end-to-end test needs it")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mcplink")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "./cmd/mcplink")
	build.Dir = ".."
	t0 := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("go build: %s", time.Since(t0).Round(time.Millisecond))
	e := newEnv(t, []string{bin, "__test-server", "stdio"}, nil)
	if prepare != nil {
		prepare(e)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ts := &tmuxSession{t: t, e: e, bin: bin, dir: dir, browserLog: filepath.Join(dir, "browser.log"), exitFile: filepath.Join(dir, "exit")}
	sock := filepath.Join(dir, "tmux.sock")
	runEnv := testenv.Env(t, append([]string{
		"HOME=" + dir,
		"TERM=xterm-256color",
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "xdg"),
		"MCPLINK_DATA_DIR=" + filepath.Join(dir, "data"),
		"BROWSER=" + self,
		envBrowser + "=" + ts.browserLog,
	}, extraEnv...)...)
	ts.tm = func(args ...string) (string, error) {
		c := exec.Command(tmux, append([]string{"-S", sock, "-f", "/dev/null"}, args...)...)
		c.Env = runEnv
		out, err := c.CombinedOutput()
		return string(out), err
	}
	script := fmt.Sprintf("%s tui --config %s; echo $? > %s", shq(bin), shq(e.cfgPath), shq(ts.exitFile))
	if out, err := ts.tm("new-session", "-d", "-s", "t", "-x", "80", "-y", "24", "sh", "-c", script); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = ts.tm("kill-server") })
	return ts
}

// quit presses q and checks that the dashboard exits with 0 and leaves no
// process behind.
func (ts *tmuxSession) quit() {
	t := ts.t
	t.Helper()
	ts.keys("q")
	var code string
	if !testwait.Until(10*time.Second, func() bool {
		b, _ := os.ReadFile(ts.exitFile)
		code = strings.TrimSpace(string(b))
		return code != ""
	}) {
		t.Fatalf("mcplink tui did not exit after q; pane:\n%s", ts.capture())
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
	bin, browserLog, tm, waitFor := ts.bin, ts.browserLog, ts.tm, ts.waitFor
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
	ts.keys("a")
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
	if out, err := tm("send-keys", "-t", "t", "Escape"); err != nil {
		t.Fatalf("send-keys Escape: %v\n%s", err, out)
	}
	if out, err := tm("resize-window", "-t", "t", "-x", "120", "-y", "30"); err != nil {
		t.Fatalf("tmux resize-window: %v\n%s", err, out)
	}
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
	ts.waitFor("the initial rows", 20*time.Second, func(s string) bool {
		return strings.Contains(s, "5 servers · 2 connected · 1 needs auth · 1 failed · 1 disabled")
	})
	ts.filter("prot")
	ts.keys("a")
	ts.waitFor("the busy-port notice", 20*time.Second, func(s string) bool {
		return strings.Contains(s, "listener could not start") && strings.Contains(s, "p paste")
	})
	var redirect string
	if !testwait.Until(20*time.Second, func() bool {
		b, err := os.ReadFile(redirectFile) // written by rename: whole or absent
		redirect = string(b)
		return err == nil
	}) {
		t.Fatalf("the browser never reached the callback redirect; pane:\n%s", ts.capture())
	}
	if !strings.HasPrefix(redirect, "http://127.0.0.1:") {
		t.Fatalf("browser: %s", redirect)
	}
	ts.keys("p")
	ts.waitFor("the paste input", 10*time.Second, func(s string) bool { return strings.Contains(s, "enter sends") })
	if out, err := ts.tm("set-buffer", "-b", "url", redirect); err != nil {
		t.Fatalf("tmux set-buffer: %v\n%s", err, out)
	}
	if out, err := ts.tm("paste-buffer", "-p", "-b", "url", "-t", "t"); err != nil { // -p: bracketed
		t.Fatalf("tmux paste-buffer: %v\n%s", err, out)
	}
	// The input shows the end of what was pasted (the cursor is there).
	tail := redirect[len(redirect)-20:]
	ts.waitFor("the end of the pasted URL in the input", 10*time.Second, func(s string) bool { return strings.Contains(s, tail) })
	ts.keys("Enter")
	s := ts.waitFor("the sign-in", 20*time.Second, func(s string) bool {
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
