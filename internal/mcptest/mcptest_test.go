package mcptest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/internal/testwait"
)

func TestMain(m *testing.M) {
	mcptest.MaybeRunChild()
	// Local servers get the process's own environment (as a user's
	// do): make it one of the tests' own.
	testenv.Main(m)
}

func start(t *testing.T, opts mcptest.HTTPOptions) *mcptest.HTTPServer {
	t.Helper()
	s, err := mcptest.StartHTTP(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("URL %q is not loopback", s.URL)
	}
	return s
}

func textOf(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if len(res.Content) != 1 {
		t.Fatalf("content: %d items", len(res.Content))
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("content %T", res.Content[0])
	}
	return tc.Text
}

// exercise lists and calls every tool, and checks that grow triggers
// tools/list_changed.
func exercise(t *testing.T, tr mcp.Transport) {
	t.Helper()
	ctx := context.Background()
	changed := make(chan struct{}, 1)
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case changed <- struct{}{}:
			default:
			}
		},
	})
	cs, err := c.Connect(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(lt.Tools) != 7 {
		t.Fatalf("%d tools", len(lt.Tools))
	}
	call := func(name string, args map[string]any) *mcp.CallToolResult {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return res
	}
	if got := textOf(t, call("echo", map[string]any{"text": "abc"})); got != "abc" {
		t.Fatalf("echo = %q", got)
	}
	res := call("add", map[string]any{"a": 1, "b": 2})
	if textOf(t, res) != "3" || res.StructuredContent.(map[string]any)["sum"] != 3.0 {
		t.Fatalf("add = %q %v", textOf(t, res), res.StructuredContent)
	}
	if res := call("fail", nil); !res.IsError || textOf(t, res) != mcptest.FailMessage {
		t.Fatalf("fail = %v %q", res.IsError, textOf(t, res))
	}
	if got := textOf(t, call("slow", map[string]any{"ms": 20})); got != "slept 20ms" {
		t.Fatalf("slow = %q", got)
	}
	sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = cs.CallTool(sctx, &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"ms": 10000}})
	cancel()
	if err == nil {
		t.Fatal("slow 10s returned within 50ms")
	}
	call("grow", map[string]any{"name": "extra"})
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no tools/list_changed after grow")
	}
	if got := textOf(t, call("extra", map[string]any{"text": "x"})); got != "x" {
		t.Fatalf("extra = %q", got)
	}
}

func TestStreamableHTTP(t *testing.T) {
	s := start(t, mcptest.HTTPOptions{})
	exercise(t, &mcp.StreamableClientTransport{Endpoint: s.URL})
}

func TestSSEOnly(t *testing.T) {
	s, err := mcptest.StartSSE(mcptest.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp, err := http.Post(s.URL, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("Streamable POST status = %d, want 405", resp.StatusCode)
	}
	exercise(t, &mcp.SSEClientTransport{Endpoint: s.URL})
}

func TestUnauthorizedAndRecordedHeaders(t *testing.T) {
	s := start(t, mcptest.HTTPOptions{RequireAuthorization: "Bearer ok", RecordHeaders: true})
	req, _ := http.NewRequest(http.MethodPost, s.URL, strings.NewReader("{}"))
	req.Header.Set("X-Probe", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != mcptest.Challenge {
		t.Fatalf("status %d, challenge %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	hc := &http.Client{Transport: authTransport{}}
	exercise(t, &mcp.StreamableClientTransport{Endpoint: s.URL, HTTPClient: hc})
	reqs := s.Requests()
	if len(reqs) < 5 || reqs[0].Header.Get("X-Probe") != "1" || reqs[0].Method != http.MethodPost || reqs[0].Path != "/mcp" {
		t.Fatalf("recorded %+v", reqs)
	}
	for _, r := range reqs[1:] {
		if r.Header.Get("Authorization") != "Bearer ok" {
			t.Fatalf("recorded request without Authorization: %+v", r)
		}
	}
}

type authTransport struct{}

func (authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer ok")
	return http.DefaultTransport.RoundTrip(r)
}

func TestAlwaysUnauthorized(t *testing.T) {
	s := start(t, mcptest.HTTPOptions{Unauthorized: true})
	resp, err := http.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestLatency(t *testing.T) {
	s := start(t, mcptest.HTTPOptions{Latency: 150 * time.Millisecond, Status: http.StatusTeapot})
	begin := time.Now()
	resp, err := http.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(begin); d < 150*time.Millisecond || resp.StatusCode != http.StatusTeapot {
		t.Fatalf("answered %d after %v", resp.StatusCode, d)
	}
}

func TestHangAndCloseLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, opts := range []mcptest.HTTPOptions{{Hang: true, RecordHeaders: true}, {}, {SSEOnly: true}} {
		s, err := mcptest.StartHTTP(opts)
		if err != nil {
			t.Fatal(err)
		}
		if opts.Hang {
			c := &http.Client{Timeout: 100 * time.Millisecond}
			if _, err := c.Get(s.URL); err == nil {
				t.Fatal("hung server answered")
			}
			// A request still hanging when Close is called.
			done := make(chan error, 1)
			go func() {
				resp, err := http.Get(s.URL)
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			// The server records a request before it hangs on it.
			testwait.For(t, 5*time.Second, "the second request to reach the server", func() bool { return len(s.Requests()) == 2 })
			begin := time.Now()
			s.Close()
			if d := time.Since(begin); d > 2*time.Second {
				t.Fatalf("Close took %v", d)
			}
			<-done
			continue
		}
		// A live session with an open event stream.
		var tr mcp.Transport = &mcp.StreamableClientTransport{Endpoint: s.URL}
		if opts.SSEOnly {
			tr = &mcp.SSEClientTransport{Endpoint: s.URL}
		}
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "t"}, nil).Connect(context.Background(), tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		begin := time.Now()
		s.Close()
		if d := time.Since(begin); d > 2*time.Second {
			t.Fatalf("Close took %v", d)
		}
		cs.Close()
	}
	http.DefaultClient.CloseIdleConnections()
	if !testwait.Until(3*time.Second, func() bool { return runtime.NumGoroutine() <= before+1 }) {
		n := runtime.NumGoroutine()
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestServeStdio(t *testing.T) {
	cr, sw := io.Pipe() // server → client
	sr, cw := io.Pipe() // client → server
	done := make(chan error, 1)
	go func() {
		done <- mcptest.ServeStdio(context.Background(), sr, sw)
		sw.Close()
	}()
	exercise(t, &mcp.IOTransport{Reader: cr, Writer: cw})
	cw.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeStdio did not return after input closed")
	}
}

func child(t *testing.T, mode string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = testenv.Env(t, mcptest.EnvChild+"="+mode)
	return cmd
}

func TestChildModes(t *testing.T) {
	exercise(t, &mcp.CommandTransport{Command: child(t, mcptest.ModeStdio)})

	cmd := child(t, mcptest.ModeExitAtStart)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), mcptest.ExitAtStartMessage) {
		t.Fatalf("exit1: %v, stderr %q", err, stderr.String())
	}

	cmd = child(t, "no-such-mode")
	if err := cmd.Run(); !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("unknown mode: %v", err)
	}
}
