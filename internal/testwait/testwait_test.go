package testwait

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	begin := time.Now()
	if !Until(10*time.Second, func() bool { return n.Add(1) == 3 }) {
		t.Fatal("Until reported false for a condition that held")
	}
	if d := time.Since(begin); d > time.Second {
		t.Fatalf("Until took %s for a condition true on the third check", d)
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("cond called %d times, want 3", got)
	}
}

func TestUntilGivesUpAtTheDeadline(t *testing.T) {
	begin := time.Now()
	var calls int
	if Until(50*time.Millisecond, func() bool { calls++; return false }) {
		t.Fatal("Until reported true for a condition that never held")
	}
	if d := time.Since(begin); d < 50*time.Millisecond || d > 2*time.Second {
		t.Fatalf("Until gave up after %s, want about 50ms", d)
	}
	if calls < 3 {
		t.Fatalf("cond called %d times in 50ms", calls)
	}
}

func TestUntilChecksAgainAtTheDeadline(t *testing.T) {
	deadline := time.Now().Add(30 * time.Millisecond)
	if !Until(30*time.Millisecond, func() bool { return !time.Now().Before(deadline) }) {
		t.Fatal("a condition that holds at the deadline was not seen")
	}
}

func parkedForStacksTest(stop <-chan struct{}) { <-stop }

func TestStacks(t *testing.T) {
	const fn = "testwait.parkedForStacksTest("
	if s := Stacks(fn); s != "" {
		t.Fatalf("a goroutine runs %s before the test started one:\n%s", fn, s)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { parkedForStacksTest(stop); close(done) }()
	For(t, 5*time.Second, "the goroutine to show in Stacks", func() bool { return Stacks(fn) != "" })
	close(stop)
	<-done
	For(t, 5*time.Second, "the goroutine to leave Stacks", func() bool { return Stacks(fn) == "" })
}
