//go:build linux

package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hugeServer is a hand-written Streamable HTTP MCP server whose tools
// "huge_json" and "huge_sse" answer with 1 GiB — one JSON body, one SSE
// event — generated as it is written (never allocated), and whose tool
// "echo" answers normally.
func hugeServer(t *testing.T) *httptest.Server {
	t.Helper()
	chunk := []byte(strings.Repeat("x", 64<<10))
	stream := func(w io.Writer) {
		for sent := 0; sent < 1<<30; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return // the client hung up, as it should
			}
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if msg.ID == nil {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.Header().Set("Mcp-Session-Id", "s1")
		reply := func(result string) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s}`, msg.ID, result)
		}
		switch {
		case msg.Method == "initialize":
			reply(`{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"huge","version":"1"}}`)
		case msg.Method == "tools/list":
			reply(`{"tools":[{"name":"echo","inputSchema":{"type":"object"}},{"name":"huge_json","inputSchema":{"type":"object"}},{"name":"huge_sse","inputSchema":{"type":"object"}}]}`)
		case msg.Params.Name == "kb2":
			reply(`{"content":[{"type":"text","text":"` + strings.Repeat("k", 2048) + `"}]}`)
		case msg.Params.Name == "huge_json":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"`, msg.ID)
			stream(w)
		case msg.Params.Name == "huge_sse":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "event: message\ndata: ")
			stream(w)
		default:
			reply(`{"content":[{"type":"text","text":"ok"}]}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// buildMcplink builds the real binary into a temporary directory.
func buildMcplink(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mcplink")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", bin, "github.com/mcplink/mcplink/cmd/mcplink")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// scratchEnv is an environment built from scratch under dir.
func scratchEnv(dir string, extra ...string) []string {
	return append([]string{
		"PATH=/usr/bin:/bin", "HOME=" + dir,
		"XDG_CONFIG_HOME=" + filepath.Join(dir, ".config"), "XDG_DATA_HOME=" + filepath.Join(dir, ".data"),
		"XDG_STATE_HOME=" + filepath.Join(dir, ".state"), "XDG_CACHE_HOME=" + filepath.Join(dir, ".cache"),
		"MCPLINK_CONFIG=" + filepath.Join(dir, "mcplink.json"), "MCPLINK_CREDENTIALS_STORE=file",
	}, extra...)
}

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

// TestProxyMaxMessageSizeFlag: --max-message-size takes bytes or a size with
// a unit; the proxy then holds messages to it (a 2 KiB answer fails a 1 KiB
// bound, naming it); a malformed size is a usage error (exit 2).
func TestProxyMaxMessageSizeFlag(t *testing.T) {
	srv := hugeServer(t)
	dir := t.TempDir()
	run := func(stdin string, args ...string) (string, string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "mcplink", args...)
		cmd.Env = scratchEnv(dir, "PATH="+os.Getenv("PATH"))
		cmd.Dir, cmd.WaitDelay = dir, 5*time.Second
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
	}
	_, errOut, code := run("", "proxy", "--max-message-size", "lots", srv.URL+"/mcp")
	if code != 2 || !strings.Contains(errOut, "--max-message-size") {
		t.Errorf("--max-message-size lots: exit %d, stderr %q; want 2 and the flag named", code, errOut)
	}
	in := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}
{"jsonrpc":"2.0","method":"notifications/initialized"}
{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"kb2","arguments":{}}}
`
	for _, size := range []string{"1024", "1KiB"} {
		out, errOut, _ := run(in, "proxy", "--transport", "http-only", "--header", "Authorization: Bearer static", "--max-message-size", size, srv.URL+"/mcp")
		if !strings.Contains(out, `"id":2,"error"`) || !strings.Contains(out, "1 KiB limit") {
			t.Errorf("--max-message-size %s: a 2 KiB answer gave %q (stderr %q); want an error naming the 1 KiB limit", size, out, errOut)
		}
	}
	out, errOut, _ := run(in, "proxy", "--transport", "http-only", "--header", "Authorization: Bearer static", "--max-message-size", "4KiB", srv.URL+"/mcp")
	if !strings.Contains(out, `"id":2,"result"`) {
		t.Errorf("--max-message-size 4KiB: a 2 KiB answer gave %q (stderr %q); want its result", out, errOut)
	}
}
