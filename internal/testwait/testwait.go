// Package testwait is the one poll of the test suites, for the waits no
// channel, event or callback can signal: another process's side effect (a
// file it writes, a terminal it draws), the kernel releasing a port, the
// runtime ending goroutines (Stacks finds them). Where the code under test
// can tell, tests wait on that instead.
package testwait

import (
	"bytes"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// maxInterval bounds the pause between two checks: short enough that a
// wait ends soon after its condition holds, long enough not to spin.
const maxInterval = 20 * time.Millisecond

// Until calls cond until it returns true or d has passed, and reports
// whether it held. The checks start 1 ms apart and back off to 20 ms; cond
// is checked once more at the deadline.
func Until(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	interval := time.Millisecond
	for !cond() {
		left := time.Until(deadline)
		if left <= 0 {
			return cond()
		}
		time.Sleep(min(interval, left))
		interval = min(2*interval, maxInterval)
	}
	return true
}

// For is Until that fails t, saying what it waited for and how long, when d
// passes first.
func For(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(d, cond) {
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}

// Stacks returns the stacks of the goroutines whose stack contains s (a
// function's qualified name, say "mcplink/oauth.(*Engine).deviceFlow("),
// separated by blank lines; "" when there are none.
func Stacks(s string) string {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
	var out []string
	for _, g := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(g, s) {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
