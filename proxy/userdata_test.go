package proxy_test

import (
	"testing"

	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
)

// TestChildProcessesLeaveTheUsersFilesAlone: with HOME, the XDG
// directories and MCPLINK_* pointing at a user's directory (a sentinel),
// the proxy processes this package's helpers start (proxyCmd, through
// connect and startRaw) sign in and store credentials in the test's own
// directories and write nothing there.
func TestChildProcessesLeaveTheUsersFilesAlone(t *testing.T) {
	check := testenv.Sentinel(t)
	as, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	data := t.TempDir()
	cs, _, _ := connect(t, data, legacy, as.MCPURL, "--callback-port", freePort(t))
	if got := callText(t, cs, "echo", map[string]any{"text": "mine"}); got != "mine" {
		t.Fatalf("echo = %q", got)
	}
	cs.Close()
	if names := storedNames(t, data); len(names) != 1 {
		t.Fatalf("stored credentials in the test's data dir: %v, want one entry", names)
	}
	ts := startServer(t)
	r := startRaw(t, ts.URL)
	r.send(t, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if m := r.recv(t); m["id"] != float64(1) {
		t.Fatalf("initialize answer = %v", m)
	}
	r.in.Close()
	_ = r.cmd.Wait()
	check()
}
