// Package tmuxtest gives tests a real terminal: a tmux server on a socket of
// the test's own, whose sessions run a program in a terminal of a set size,
// take keys and show their screen. The program draws in another process, so
// the screen is the only signal of what it has done: waits poll it through
// internal/testwait, bounded.
package tmuxtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/internal/testwait"
)

// WaitBound is how long WaitFor and Key wait for the screen.
const WaitBound = 20 * time.Second

// T is what the helpers need of a test. *testing.T has it; a testscript
// command adapts its *testscript.TestScript (Cleanup is its Defer).
type T interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Server is one tmux server on a private socket. Its commands, and the
// programs its sessions run, get the environment it was started with.
type Server struct {
	t    T
	tmux string // the tmux binary
	sock string
	dir  string
	env  []string

	// Explain, when set, is called when a wait fails, and what it returns
	// ends the failure message (the log of a helper the program ran, say).
	Explain func() string
}

// Find returns the tmux binary. Without one the test is skipped, or fails
// when CI is set.
func Find(t testing.TB) string {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("tmux is required in CI (apt-get install -y tmux)")
		}
		t.Skip("tmux not installed (apt-get install -y tmux)")
	}
	return tmux
}

// Start starts a tmux server whose socket is in dir, the working directory
// of its commands and sessions. Their environment is testenv.Env with
// TERM=xterm-256color and vars (K=V, later ones win). Without tmux the test
// is skipped, or fails when CI is set (Find). The server is killed when
// the test ends, and with it whatever its sessions still run.
func Start(t testing.TB, dir string, vars ...string) *Server {
	t.Helper()
	return StartEnv(t, Find(t), dir, testenv.Env(t, append([]string{"TERM=xterm-256color"}, vars...)...))
}

// StartEnv is Start with the tmux binary (Find) and the whole environment
// given, built by testenv (a testscript's, say).
func StartEnv(t T, tmux, dir string, env []string) *Server {
	s := &Server{t: t, tmux: tmux, sock: filepath.Join(dir, "tmux.sock"), dir: dir, env: env}
	t.Cleanup(func() { _, _ = s.Command("kill-server") })
	return s
}

// Command runs one tmux command (send-keys, resize-window, …) against the
// server and returns its output.
func (s *Server) Command(args ...string) (string, error) {
	c := exec.Command(s.tmux, append([]string{"-S", s.sock, "-f", "/dev/null"}, args...)...)
	c.Env, c.Dir = s.env, s.dir
	out, err := c.CombinedOutput()
	return string(out), err
}

// Must is Command that fails the test when tmux does.
func (s *Server) Must(args ...string) string {
	s.t.Helper()
	out, err := s.Command(args...)
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Session starts a session named name: a width×height terminal running
// `sh -c script` in the server's directory. The session ends with script.
func (s *Server) Session(name string, width, height int, script string) *Pane {
	s.t.Helper()
	s.Must("new-session", "-d", "-s", name, "-x", strconv.Itoa(width), "-y", strconv.Itoa(height), "-c", s.dir, "sh", "-c", script)
	return &Pane{s: s, name: name}
}

// Run starts a session that runs command (a shell command line), then
// shows EXIT=<its exit status> and stays (for 30 s), so that what it left
// on the screen can still be read.
func (s *Server) Run(name string, width, height int, command string) *Pane {
	s.t.Helper()
	return s.Session(name, width, height, command+"; echo EXIT=$?; sleep 30")
}

// Pane is the terminal of the session name, started by Session, Run or a
// tmux command of the test's own (a script's `exec tmux new-session`).
func (s *Server) Pane(name string) *Pane { return &Pane{s: s, name: name} }

// Pane is the terminal of one session.
type Pane struct {
	s    *Server
	name string
}

// Capture returns what the terminal shows now.
func (p *Pane) Capture() (string, error) {
	return p.s.Command("capture-pane", "-p", "-t", p.name)
}

// Screen is Capture for a failure message: the screen, or why there is none.
func (p *Pane) Screen() string {
	s, err := p.Capture()
	if err != nil {
		return fmt.Sprintf("(no screen: %v: %s)", err, strings.TrimSpace(s))
	}
	return s
}

// Until waits at most d for ok to hold of the screen and returns that
// screen. It fails the test, showing the last screen, when d passes or
// the session has ended (nothing will draw any more).
func (p *Pane) Until(what string, d time.Duration, ok func(screen string) bool) string {
	p.s.t.Helper()
	var screen string
	var err error
	if !testwait.Until(d, func() bool {
		var s string
		if s, err = p.Capture(); err != nil {
			err = fmt.Errorf("%v: %s", err, strings.TrimSpace(s))
			return true
		}
		screen = s
		return ok(s)
	}) || err != nil {
		why := "timed out after " + d.String()
		if err != nil {
			why = "the session ended (" + err.Error() + ")"
		}
		msg := fmt.Sprintf("%s waiting for %s; last screen:\n%s", why, what, screen)
		if p.s.Explain != nil {
			msg += "\n" + p.s.Explain()
		}
		p.s.t.Fatalf("%s", msg)
	}
	return screen
}

// WaitFor waits (WaitBound at most) until the screen shows every one of
// want, and returns it.
func (p *Pane) WaitFor(want ...string) string {
	p.s.t.Helper()
	return p.Until(fmt.Sprintf("%q", want), WaitBound, func(s string) bool {
		for _, w := range want {
			if !strings.Contains(s, w) {
				return false
			}
		}
		return true
	})
}

// Keys sends keys (tmux key names, or text typed as is) in order. Keys
// typed into one field keep their order without waits.
func (p *Pane) Keys(keys ...string) {
	p.s.t.Helper()
	p.s.Must(append([]string{"send-keys", "-t", p.name}, keys...)...)
}

// Key sends the key k and, given want, waits until the screen shows all of
// it. A key that moves the focus needs that wait: a TUI library may move it
// in a step of its own (huh does), and a key sent before the next field has
// the focus goes elsewhere.
func (p *Pane) Key(k string, want ...string) {
	p.s.t.Helper()
	p.Keys(k)
	if len(want) > 0 {
		p.WaitFor(want...)
	}
}
