package proxy_test

import (
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// procPeakRSS reads a process's peak resident set size (VmHWM) in bytes.
func procPeakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
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
	t.Fatal("no VmHWM")
	return 0
}

// TestClientLineOverTheBound: a 1 GiB line from the client gets a JSON-RPC
// parse error naming the 16 MiB bound, the proxy's peak RSS stays under
// 100 MiB (300 MiB under the race detector, whose shadow memory multiplies
// every allocation's cost) — far below the line's size — and the session
// goes on.
func TestClientLineOverTheBound(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("peak RSS is read from /proc")
	}
	ts := startServer(t)
	r := startRaw(t, ts.URL)
	r.send(t, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if m := r.recv(t); m["result"] == nil {
		t.Fatalf("initialize answer = %v", m)
	}
	r.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	errc := make(chan error, 1)
	go func() { // the proxy reads while this writes
		chunk := []byte(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"` + strings.Repeat("a", 1<<20))
		var err error
		for i := 0; i < 1024 && err == nil; i++ {
			_, err = r.in.Write(chunk)
			chunk = chunk[len(chunk)-1<<20:]
		}
		if err == nil {
			_, err = io.WriteString(r.in, "\"}}}\n")
		}
		errc <- err
	}()
	m := r.recv(t)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	e, _ := m["error"].(map[string]any)
	if msg, _ := e["message"].(string); m["id"] != nil || !strings.Contains(msg, "16 MiB") {
		t.Fatalf("answer to the long line = %v, want a parse error naming 16 MiB with a null id", m)
	}
	peak := procPeakRSS(t, r.cmd.Process.Pid)
	t.Logf("proxy peak RSS %d MiB after a 1 GiB line", peak>>20)
	ceiling := int64(100 << 20)
	if raceEnabled {
		ceiling = 300 << 20
	}
	if peak > ceiling {
		t.Errorf("proxy peak RSS %d MiB: the long line was buffered", peak>>20)
	}
	r.send(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"still here"}}}`)
	if m := r.recv(t); m["id"] != float64(3) || m["result"] == nil {
		t.Fatalf("answer after the long line = %v", m)
	}
}
