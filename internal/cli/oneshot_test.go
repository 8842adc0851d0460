package cli_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/testenv"
)

// TestOneShotCommands: list, tools and call (the real binary, against a real
// go-sdk server that records every request as it arrives) send initialize,
// the initialized notification and their own requests, open no standalone
// GET stream, and end the session with a DELETE on the kept-alive
// connection.
func TestOneShotCommands(t *testing.T) {
	hits := make(chan mcptest.Hit, 64)
	ts, err := mcptest.StartHTTP(mcptest.HTTPOptions{Hits: hits})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()

	d := testenv.New(t)
	dir := d.Root
	cfg := filepath.Join(dir, "mcplink.json")
	entry := fmt.Sprintf(`{"mcp": {"s0": {"type": "remote", "url": %q, "oauth": false}}}`, ts.URL)
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
		// Reusing a kept-alive connection for the DELETE depends on the
		// response before it being read in time (the one-round-trip bound);
		// on a loaded machine a run can miss it, so each command gets up
		// to three runs, at least one of which must reuse the connection.
		reused := false
		var lastGot []mcptest.Hit
		for try := 0; try < 3 && !reused; try++ {
			got := runOneShot(t, c.args, env, dir, hits)
			var rpcs []string
			for _, hh := range got {
				switch hh.Method {
				case http.MethodGet:
					t.Errorf("mcplink %s opened the standalone GET stream: %v", strings.Join(c.args, " "), got)
				case http.MethodPost:
					rpcs = append(rpcs, hh.RPC)
				}
			}
			if !slices.Equal(rpcs, c.want) {
				t.Errorf("mcplink %s: POSTs %q, want %q", strings.Join(c.args, " "), rpcs, c.want)
			}
			n := len(got)
			reused = slices.ContainsFunc(got[:n-1], func(hh mcptest.Hit) bool { return hh.Remote == got[n-1].Remote })
			if !reused {
				t.Logf("mcplink %s (run %d): the DELETE opened a new connection: %v", strings.Join(c.args, " "), try+1, got)
			}
			lastGot = got
		}
		if !reused {
			t.Errorf("mcplink %s: in three runs the DELETE never reused a connection: %v", strings.Join(c.args, " "), lastGot)
		}
	}
}

// runOneShot runs mcplink with args and returns the requests the server got,
// up to and including the session DELETE.
func runOneShot(t *testing.T, args, env []string, dir string, hits <-chan mcptest.Hit) []mcptest.Hit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "mcplink", args...)
	cmd.Env, cmd.Dir, cmd.WaitDelay = env, dir, 5*time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mcplink %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	got, err := mcptest.UntilDelete(hits, 10*time.Second)
	if err != nil {
		t.Fatalf("mcplink %s: %v", strings.Join(args, " "), err)
	}
	return got
}
