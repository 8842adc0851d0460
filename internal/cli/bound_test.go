package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/testenv"
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
		case msg.Method == "tools/list" && r.URL.Query().Get("biglist") != "":
			reply(`{"tools":[{"name":"echo","description":"` + strings.Repeat("d", 2048) + `","inputSchema":{"type":"object"}}]}`)
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
	// The go command that runs this test (go test sets GOROOT in its
	// children's environment), else the one on PATH.
	gobin := "go"
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			gobin = p
		}
	}
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
	d, err := testenv.In(filepath.Join(dir, ".env"))
	if err != nil {
		panic(err)
	}
	return d.Vars(append([]string{
		"PATH=/usr/bin:/bin", "HOME=" + dir, "MCPLINK_DATA_DIR=",
		"XDG_CONFIG_HOME=" + filepath.Join(dir, ".config"), "XDG_DATA_HOME=" + filepath.Join(dir, ".data"),
		"XDG_STATE_HOME=" + filepath.Join(dir, ".state"), "XDG_CACHE_HOME=" + filepath.Join(dir, ".cache"),
		"MCPLINK_CONFIG=" + filepath.Join(dir, "mcplink.json"), "MCPLINK_CREDENTIALS_STORE=file",
	}, extra...)...)
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

// TestListNamesMessageBound: `mcplink list` on a server whose tools/list
// answer is larger than its entry's "maxMessageSize" shows it failed, with
// the limit and the setting that raises it; --json keeps the same text.
func TestListNamesMessageBound(t *testing.T) {
	srv := hugeServer(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`{"mcp": {"big": {"type": "remote", "url": %q, "oauth": false, "maxMessageSize": 1024}}}`, srv.URL+"/mcp?biglist=1")
	if err := os.WriteFile(filepath.Join(dir, "mcplink.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"list"}, {"list", "--json"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "mcplink", args...)
		cmd.Env = scratchEnv(dir, "PATH="+os.Getenv("PATH"))
		cmd.Dir, cmd.WaitDelay = dir, 5*time.Second
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("mcplink %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if !strings.Contains(string(out), "failed") || !strings.Contains(string(out), "1 KiB limit") || !strings.Contains(string(out), "maxMessageSize") {
			t.Errorf("mcplink %s:\n%s\nwant the server failed, naming the 1 KiB limit and \"maxMessageSize\"", strings.Join(args, " "), out)
		}
	}
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
