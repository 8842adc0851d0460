//go:build linux

package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// vmHWM is a live process's peak resident set size in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

const rssBound = 100 << 20

// TestProxyHugeMessagesBounded: behind `mcplink proxy` (the real binary), a
// 1 GiB SSE event and a 1 GiB JSON body each fail their own request with a
// JSON-RPC error naming the 16 MiB limit and --max-message-size, the
// session goes on (the next call is answered), and the proxy's peak RSS
// stays below 100 MiB.
func TestProxyHugeMessagesBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and streams 2 GiB")
	}
	srv := hugeServer(t)
	bin := buildMcplink(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "proxy", "--transport", "http-only", "--header", "Authorization: Bearer static", srv.URL+"/mcp")
	cmd.Env, cmd.Dir, cmd.WaitDelay = scratchEnv(dir), dir, 5*time.Second
	in, _ := cmd.StdinPipe()
	outPipe, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); _ = cmd.Wait() }()
	out := bufio.NewReader(outPipe)
	send := func(s string) { fmt.Fprintln(in, s) }
	recv := func() map[string]any {
		t.Helper()
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the proxy's answer: %v; stderr:\n%s", err, stderr.String())
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("answer %q: %v", line, err)
		}
		return m
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	if m := recv(); m["result"] == nil {
		t.Fatalf("initialize: %v", m)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	for i, tool := range []string{"huge_sse", "huge_json"} {
		start := time.Now()
		send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, i+2, tool))
		m := recv()
		e, _ := m["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if e == nil || !strings.Contains(msg, "16 MiB") || !strings.Contains(msg, "--max-message-size") {
			t.Fatalf("%s: answer %v; want a JSON-RPC error naming the 16 MiB limit and --max-message-size", tool, m)
		}
		t.Logf("%s: error after %v: %s", tool, time.Since(start).Round(time.Millisecond), msg)
	}
	send(`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{}}}`)
	if m := recv(); m["result"] == nil {
		t.Fatalf("the call after the huge ones: %v; the session should go on", m)
	}
	hwm := vmHWM(t, cmd.Process.Pid)
	t.Logf("proxy peak RSS (VmHWM): %.1f MiB", float64(hwm)/(1<<20))
	if hwm > rssBound {
		t.Errorf("proxy peak RSS %d MiB, want below %d MiB", hwm>>20, rssBound>>20)
	}
}

// TestCallHugeMessageBounded: `mcplink call` (the real binary) on tools that
// answer 1 GiB fails naming the limit and the "maxMessageSize" setting, and
// its peak RSS stays below 100 MiB.
func TestCallHugeMessageBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and streams 2 GiB")
	}
	srv := hugeServer(t)
	bin := buildMcplink(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`{"mcp": {"big": {"type": "remote", "url": %q, "oauth": false}}}`, srv.URL+"/mcp")
	if err := os.WriteFile(filepath.Join(dir, "mcplink.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"huge_sse", "huge_json"} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, bin, "call", "big", tool)
		cmd.Env, cmd.Dir, cmd.WaitDelay = scratchEnv(dir), dir, 5*time.Second
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		if err == nil {
			t.Fatalf("call %s succeeded: %s", tool, stdout.String())
		}
		msg := stderr.String()
		if !strings.Contains(msg, "16 MiB") || !strings.Contains(msg, `"maxMessageSize"`) {
			t.Errorf("call %s: stderr %q; want the 16 MiB limit and \"maxMessageSize\"", tool, msg)
		}
		maxrss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
		t.Logf("call %s: peak RSS %.1f MiB; %s", tool, float64(maxrss)/(1<<20), strings.TrimSpace(msg))
		if maxrss > rssBound {
			t.Errorf("call %s: peak RSS %d MiB, want below %d MiB", tool, maxrss>>20, rssBound>>20)
		}
	}
}
