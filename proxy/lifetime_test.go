package proxy_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/oauthtest"
)

// exitBound is what the tests below allow a proxy between its client
// leaving and its exit. The promise is 1 s; the bound leaves room for a
// loaded CI machine while staying far below the old behaviours (a proxy
// alive until the 5-minute sign-in timeout, or 10 s of EOF grace).
const exitBound = 2 * time.Second

// pendingProxy starts `mcplink proxy` for as in dataDir with a $BROWSER that
// opens nothing, so its sign-in stays pending, and returns once the
// authorization URL is on stderr (the sign-in lock is then held).
func pendingProxy(t *testing.T, as *oauthtest.Server, dataDir, port string, wantOnStderr string) (*exec.Cmd, io.WriteCloser, *syncBuffer, <-chan error) {
	t.Helper()
	cmd, stderr := proxyCmd(t, dataDir, as.MCPURL, "--callback-port", port)
	cmd.Env = append(cmd.Env, "BROWSER=true") // the browser never comes back
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	reaped := make(chan struct{})
	go func() {
		exited <- cmd.Wait()
		close(reaped)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-reaped
	})
	waitFor(t, "the proxy to say "+wantOnStderr, func() bool { return strings.Contains(stderr.String(), wantOnStderr) })
	// A client that already sent its initialize, waiting for the answer.
	if _, err := io.WriteString(in, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`+"\n"); err != nil {
		t.Fatal(err)
	}
	return cmd, in, stderr, exited
}

// timeExit waits for the proxy to exit (after its client left at start)
// and checks it did so cleanly within exitBound.
func timeExit(t *testing.T, what string, start time.Time, exited <-chan error, stderr *syncBuffer) time.Duration {
	t.Helper()
	select {
	case err := <-exited:
		d := time.Since(start)
		t.Logf("%s: the proxy exited %v after its client left", what, d.Round(time.Millisecond))
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 0) {
			t.Errorf("%s: exit = %v, want a clean exit\n%s", what, err, stderr)
		}
		if d > exitBound {
			t.Errorf("%s: the proxy took %v to exit after its client left, want ≤ %v (1 s promised)\n%s", what, d, exitBound, stderr)
		}
		return d
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: the proxy was still running 20 s after its client left\n%s", what, stderr)
	}
	return 0
}

// TestProxyNeverOutlivesItsClient: while the sign-in before serving is
// pending (the browser never comes back), a proxy whose client leaves —
// stdin closed, SIGTERM, SIGHUP — exits within a second, releasing the
// sign-in lock: the next proxy for the same server signs in at once
// instead of waiting for the orphan.
func TestProxyNeverOutlivesItsClient(t *testing.T) {
	for _, how := range []string{"stdin EOF", "SIGTERM", "SIGHUP"} {
		t.Run(how, func(t *testing.T) {
			as, err := oauthtest.Start(oauthtest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { as.Close() })
			data := t.TempDir()
			port := freePort(t)
			cmd, in, stderr, exited := pendingProxy(t, as, data, port, "/authorize?")
			start := time.Now()
			switch how {
			case "stdin EOF":
				err = in.Close()
			case "SIGTERM":
				err = cmd.Process.Signal(syscall.SIGTERM)
			case "SIGHUP":
				err = cmd.Process.Signal(syscall.SIGHUP)
			}
			if err != nil {
				t.Fatal(err)
			}
			timeExit(t, how, start, exited, stderr)

			// The next proxy for the server takes the lock at once and
			// signs in (its browser completes the flow).
			cmd2, stderr2 := proxyCmd(t, data, as.MCPURL, "--callback-port", port)
			start = time.Now()
			cs := serveCmd(t, cmd2, stderr2)
			if got := callText(t, cs, "echo", map[string]any{"text": "next"}); got != "next" {
				t.Fatalf("echo through the next proxy = %q", got)
			}
			d := time.Since(start)
			t.Logf("%s: the next proxy signed in and answered in %v", how, d.Round(time.Millisecond))
			if strings.Contains(stderr2.String(), "another mcplink is signing in") {
				t.Fatalf("the next proxy waited for the sign-in lock of a proxy whose client is gone:\n%s", stderr2)
			}
			if d > 10*time.Second {
				t.Fatalf("the next proxy took %v to sign in", d)
			}
			if _, err := os.Stat(filepath.Join(data, "locks")); err != nil {
				t.Fatalf("no sign-in lock directory in the data dir: %v", err)
			}
		})
	}
}

// TestProxyWaitingForTheLockLeavesWithItsClient: a proxy waiting for
// another one's sign-in (the lock is held) exits as soon as its own client
// leaves, and so does the one signing in; neither is left holding or
// waiting on the lock.
func TestProxyWaitingForTheLockLeavesWithItsClient(t *testing.T) {
	as, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	data := t.TempDir()
	port := freePort(t)
	_, in1, stderr1, exited1 := pendingProxy(t, as, data, port, "/authorize?")
	_, in2, stderr2, exited2 := pendingProxy(t, as, data, port, "another mcplink is signing in")
	start := time.Now()
	in2.Close()
	timeExit(t, "waiting for the lock", start, exited2, stderr2)
	start = time.Now()
	in1.Close()
	timeExit(t, "holding the lock", start, exited1, stderr1)
}

// TestProxyLeavesDuringAMidSessionSignIn: the credentials stop working
// mid-session and the new sign-in is pending (the user walked away from
// the browser) with a request waiting for it; the client closes stdin: the
// proxy exits within a second instead of waiting for the sign-in.
func TestProxyLeavesDuringAMidSessionSignIn(t *testing.T) {
	as, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	r := startRawEnv(t, []string{browserOnceEnv + "=" + filepath.Join(t.TempDir(), "signed-in-once")}, as.MCPURL, "--callback-port", freePort(t))
	r.send(t, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if m := r.recv(t); m["id"] != float64(1) || m["result"] == nil {
		t.Fatalf("initialize answer = %v\n%s", m, r.stderr)
	}
	r.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	r.send(t, `{"jsonrpc":"2.0","id":"p","method":"ping"}`)
	if m := r.recv(t); m["id"] != "p" {
		t.Fatalf("ping answer = %v\n%s", m, r.stderr)
	}
	as.RevokeAll()
	before := strings.Count(r.stderr.String(), "/authorize?")
	r.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}`)
	waitFor(t, "the second sign-in to start", func() bool { return strings.Count(r.stderr.String(), "/authorize?") > before })
	exited := make(chan error, 1)
	go func() { exited <- r.cmd.Wait() }()
	start := time.Now()
	r.in.Close()
	timeExit(t, "mid-session sign-in", start, exited, r.stderr)
}

// TestStdinEOFWithHungRequests: the client closes stdin while a request
// hangs at the server (it would answer after 15 s): the proxy exits
// within a second, without the answer. A request the client cancelled
// first (notifications/cancelled, forwarded: the server's handler is
// cancelled) is not waited for at all.
func TestStdinEOFWithHungRequests(t *testing.T) {
	for _, cancelFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "hung", true: "cancelled"}[cancelFirst], func(t *testing.T) {
			ts := startServer(t)
			r := startRaw(t, ts.URL)
			r.send(t, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
			if m := r.recv(t); m["id"] != float64(1) || m["result"] == nil {
				t.Fatalf("initialize answer = %v", m)
			}
			r.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
			r.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"block","arguments":{}}}`)
			// The call reaches the server (a cancellation that arrives
			// first is for a request the server does not know yet).
			select {
			case <-ts.started:
			case <-time.After(10 * time.Second):
				t.Fatalf("the blocking call never reached the server\n%s", r.stderr)
			}
			if cancelFirst {
				r.send(t, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2,"reason":"user gave up"}}`)
				select {
				case <-ts.cancelled:
				case <-time.After(10 * time.Second):
					t.Fatalf("the server's handler was not cancelled: notifications/cancelled not forwarded\n%s", r.stderr)
				}
			}
			exited := make(chan error, 1)
			go func() { exited <- r.cmd.Wait() }()
			start := time.Now()
			r.in.Close()
			timeExit(t, "hung request", start, exited, r.stderr)
			waited := strings.Contains(r.stderr.String(), "still unanswered")
			if cancelFirst && waited {
				t.Errorf("the proxy waited for the answer to a cancelled request:\n%s", r.stderr)
			}
			if !cancelFirst && !waited {
				t.Errorf("stderr does not say a request was left unanswered:\n%s", r.stderr)
			}
			if ts.deletes.Load() < 1 {
				t.Error("no DELETE of the remote session after stdin's end")
			}
		})
	}
}
