package tmuxtest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestKeysReachTheProgram(t *testing.T) {
	s := Start(t, t.TempDir())
	p := s.Run("r", 40, 5, `read -r x; echo "got=$x"`)
	p.Keys("hello world", "Enter")
	if got := p.WaitFor("got=hello world", "EXIT=0"); strings.Count(got, "got=") != 1 {
		t.Fatalf("screen:\n%s", got)
	}
}

// recorder is a T whose Fatalf records the message and ends the goroutine,
// as testing's does.
type recorder struct {
	msg     string
	cleanup []func()
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Cleanup(f func()) { r.cleanup = append(r.cleanup, f) }

// failing runs f with a recorder and returns what it failed with ("" when
// it did not) and how long it took.
func failing(t *testing.T, f func(r *recorder)) (string, time.Duration) {
	r := &recorder{}
	done := make(chan struct{})
	t0 := time.Now()
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	took := time.Since(t0)
	for _, c := range r.cleanup {
		c()
	}
	return r.msg, took
}

// A wait fails at once, with the last screen, when the session has ended:
// nothing can draw what it waits for any more.
func TestUntilEndsWithTheSession(t *testing.T) {
	base := Start(t, t.TempDir()) // tmux and the environment
	msg, took := failing(t, func(r *recorder) {
		p := StartEnv(r, base.tmux, base.dir, base.env).Session("e", 40, 5, "echo bye; sleep 0.3")
		p.Until("nothing", 10*time.Second, func(string) bool { return false })
	})
	if !strings.Contains(msg, "the session ended") || !strings.Contains(msg, "bye") {
		t.Fatalf("failure: %q", msg)
	}
	if took > 5*time.Second {
		t.Fatalf("the wait took %s after the session ended", took)
	}
}

// A wait for text that never shows fails after its bound, naming what it
// waited for and showing the screen and Explain's words.
func TestUntilTimesOut(t *testing.T) {
	base := Start(t, t.TempDir()) // tmux and the environment
	msg, _ := failing(t, func(r *recorder) {
		s := StartEnv(r, base.tmux, base.dir, base.env)
		s.Explain = func() string { return "explained" }
		p := s.Run("w", 40, 5, "echo shown")
		p.Until("absent", 300*time.Millisecond, func(screen string) bool { return strings.Contains(screen, "absent") })
	})
	for _, w := range []string{"timed out after 300ms waiting for absent", "shown", "EXIT=0", "explained"} {
		if !strings.Contains(msg, w) {
			t.Fatalf("failure lacks %q: %q", w, msg)
		}
	}
}
