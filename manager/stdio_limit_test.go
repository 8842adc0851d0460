package manager_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/limit"
	"github.com/mcplink/mcplink/manager"
)

// peakRSS resets and then reads this process's peak resident set size
// (VmHWM) in bytes: reset first, read after the work.
func resetPeakRSS(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("reset the peak RSS: %v", err)
	}
}

func peakRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// TestStdioHugeLineFailsAtTheBoundWithBoundedMemory: a local server that
// answers initialize with one 1 GiB line. The connect fails with the typed
// bound in the message (naming the 16 MiB default and the setting), and
// this process's peak RSS grows by far less than the line. (Under the race
// detector, whose shadow memory triples every allocation's RSS, the bound
// is 4 MiB so that the same 100 MiB ceiling still proves the point.)
func TestStdioHugeLineFailsAtTheBoundWithBoundedMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("peak RSS is read from /proc")
	}
	e := local(t, "huge", mcptest.ModeHugeLine)
	bound := "16 MiB"
	if raceEnabled {
		e.MaxMessageSize, bound = 4<<20, "4 MiB"
	}
	m := newManager(t, manager.Options{}, e)
	runtime.GC()
	resetPeakRSS(t)
	before := peakRSS(t)
	st, _ := m.Connect(context.Background(), "huge")
	grown := peakRSS(t) - before
	wantStatus(t, st, manager.StatusFailed)
	for _, want := range []string{"stdio line from the server exceeds the " + bound + " limit", `"maxMessageSize"`} {
		if !strings.Contains(st.Error, want) {
			t.Errorf("error %q lacks %q", st.Error, want)
		}
	}
	t.Logf("peak RSS grew by %d MiB reading a 1 GiB line", grown>>20)
	if grown > 100<<20 {
		t.Errorf("peak RSS grew by %d MiB; the reader buffers past the bound", grown>>20)
	}
}

// TestStdioBoundFromConfigOnConnectAndCall: "maxMessageSize" sets the
// bound. A 1 MiB line fails a 64 KiB bound at connect; on a connected
// server, an answer under the bound passes and one over it fails that call
// with a *limit.TooLargeError.
func TestStdioBoundFromConfigOnConnectAndCall(t *testing.T) {
	e := local(t, "huge", mcptest.ModeHugeLine)
	e.Environment[mcptest.EnvHugeLineBytes] = strconv.Itoa(1 << 20)
	e.MaxMessageSize = 64 << 10
	ok := local(t, "ok", mcptest.ModeStdio)
	ok.MaxMessageSize = 64 << 10
	m := newManager(t, manager.Options{}, e, ok)

	st, _ := m.Connect(context.Background(), "huge")
	wantStatus(t, st, manager.StatusFailed)
	if !strings.Contains(st.Error, "exceeds the 64 KiB limit") {
		t.Errorf("error %q does not name the 64 KiB bound", st.Error)
	}

	st, _ = m.Connect(context.Background(), "ok")
	wantStatus(t, st, manager.StatusConnected)
	events, cancel := m.Subscribe(16)
	defer cancel()
	small := strings.Repeat("x", 32<<10)
	res, err := m.CallTool(context.Background(), "ok", mcptest.ToolEcho, map[string]any{"text": small})
	if err != nil || res.IsError {
		t.Fatalf("a 32 KiB answer under a 64 KiB bound: %v %+v", err, res)
	}
	_, err = m.CallTool(context.Background(), "ok", mcptest.ToolEcho, map[string]any{"text": strings.Repeat("y", 80<<10)})
	var tle *limit.TooLargeError
	if !errors.As(err, &tle) || tle.What != "stdio line" || tle.Limit != 64<<10 {
		t.Fatalf("an 80 KiB answer over a 64 KiB bound: err = %v, want a *limit.TooLargeError", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte("64 KiB")) {
		t.Errorf("error %q does not name the bound", err)
	}
	// The stream cannot be resynchronized: the connection ends, and the
	// state says why.
	timeout := time.After(10 * time.Second)
	for st.Status != manager.StatusFailed {
		select {
		case ev := <-events:
			if ev.Server == "ok" && ev.Kind == manager.EventStatus {
				st = ev.State
			}
		case <-timeout:
			t.Fatalf("no failed status within 10s after the oversized answer; state %s", st.Status)
		}
	}
	if !strings.Contains(st.Error, "exceeds the 64 KiB limit") || !strings.Contains(st.Error, "maxMessageSize") {
		t.Errorf("state error %q does not explain the closed connection", st.Error)
	}
}
