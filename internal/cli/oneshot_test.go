package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/testenv"
)

// TestOneShotCommands: list, tools and call (the real binary, against a real
// go-sdk server that records every request as it arrives) send initialize,
// the initialized notification and their own requests, open no standalone
// GET stream, and end the session with a DELETE on the kept-alive
// connection.
func TestOneShotCommands(t *testing.T) {
	type hit struct{ method, rpc, remote string }
	hits := make(chan hit, 64)
	srv := mcptest.NewServer(mcptest.ServerOptions{})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hh := hit{method: r.Method, remote: r.RemoteAddr}
		if r.Method == http.MethodPost {
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			var msg struct {
				Method string `json:"method"`
			}
			_ = json.Unmarshal(body, &msg)
			hh.rpc = msg.Method
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		hits <- hh
		h.ServeHTTP(w, r)
	}))
	ts.Listener = ln
	ts.Start()
	defer ts.Close()

	d := testenv.New(t)
	dir := d.Root
	cfg := filepath.Join(dir, "mcplink.json")
	entry := fmt.Sprintf(`{"mcp": {"s0": {"type": "remote", "url": %q, "oauth": false}}}`, ts.URL+"/mcp")
	if err := os.WriteFile(cfg, []byte(entry), 0o600); err != nil {
		t.Fatal(err)
	}
	env := d.Vars("MCPLINK_CONFIG=" + cfg)
	for _, c := range []struct {
		args []string
		want []string // the POSTs' JSON-RPC methods
	}{
		{[]string{"list"}, []string{"initialize", "notifications/initialized", "tools/list"}},
		{[]string{"tools", "s0"}, []string{"initialize", "notifications/initialized", "tools/list"}},
		{[]string{"call", "s0", mcptest.ToolEcho, "text=hi"}, []string{"initialize", "notifications/initialized", "tools/list", "tools/call"}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "mcplink", c.args...)
		cmd.Env, cmd.Dir, cmd.WaitDelay = env, dir, 5*time.Second
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("mcplink %s: %v\n%s", strings.Join(c.args, " "), err, out)
		}
		var got []hit
		deadline := time.After(10 * time.Second)
	collect:
		for {
			select {
			case hh := <-hits:
				got = append(got, hh)
				if hh.method == http.MethodDelete {
					break collect
				}
			case <-deadline:
				t.Fatalf("mcplink %s: no session DELETE arrived; the server got %v", strings.Join(c.args, " "), got)
			}
		}
		var rpcs []string
		for _, hh := range got {
			switch hh.method {
			case http.MethodGet:
				t.Errorf("mcplink %s opened the standalone GET stream: %v", strings.Join(c.args, " "), got)
			case http.MethodPost:
				rpcs = append(rpcs, hh.rpc)
			}
		}
		if !slices.Equal(rpcs, c.want) {
			t.Errorf("mcplink %s: POSTs %q, want %q", strings.Join(c.args, " "), rpcs, c.want)
		}
		if n := len(got); !slices.ContainsFunc(got[:n-1], func(hh hit) bool { return hh.remote == got[n-1].remote }) {
			t.Errorf("mcplink %s: the DELETE opened a new connection: %v", strings.Join(c.args, " "), got)
		}
	}
}
