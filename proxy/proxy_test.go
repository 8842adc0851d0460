// The proxy must carry the protocol's deprecated features (sampling, roots,
// logging; SEP-2577) between client and server for as long as servers use
// them, so these tests exercise the deprecated go-sdk APIs on purpose.
//
//lint:file-ignore SA1019 the proxy passes sampling, roots and logging through; testing that needs the deprecated APIs
package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/internal/cli"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/internal/testwait"
)

// The test binary doubles as the mcplink CLI (env mode) and as a browser
// that follows the authorization redirects (first argument).
const (
	modeEnv            = "MCPLINK_PROXY_TEST_MODE"
	browserFlag        = "__browser__"
	failingBrowserFlag = "__failing_browser__" // exits 3 at once
)

func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == browserFlag {
		os.Exit(testBrowser(os.Args[2]))
	}
	if len(os.Args) == 3 && os.Args[1] == failingBrowserFlag {
		fmt.Fprintln(os.Stderr, "test browser: cannot open a display")
		os.Exit(3)
	}
	if os.Getenv(modeEnv) == "cli" {
		os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// syncBuffer collects a subprocess's stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proxyCmd returns the `mcplink proxy` subprocess with a private data dir.
func proxyCmd(t *testing.T, dataDir string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	return proxyCmdConfig(t, dataDir, `{"mcp": {}}`, args...)
}

// proxyCmdConfig is proxyCmd with the given config file content.
func proxyCmdConfig(t *testing.T, dataDir, config string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "mcplink.json")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"--config", cfg, "proxy"}, args...)...)
	cmd.Env = testenv.Env(t,
		modeEnv+"=cli",
		// Under -race, no 1 s sleep at exit: the tests time exits.
		"GORACE=atexit_sleep_ms=0",
		"MCPLINK_DATA_DIR="+dataDir,
		"BROWSER="+exe+" "+browserFlag,
		"HOME="+dataDir,
		"XDG_CONFIG_HOME="+filepath.Join(dataDir, "xdg"),
	)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	return cmd, stderr
}

// events records what the test client received.
type events struct {
	mu          sync.Mutex
	progress    []float64
	logs        []string
	listChanged int
	samples     int
}

func (e *events) snapshot() (progress []float64, logs []string, listChanged, samples int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.progress), slices.Clone(e.logs), e.listChanged, e.samples
}

// legacy is the stateful protocol version most clients speak today; the
// go-sdk default is the stateless 2026-07-28 draft.
const legacy = "2025-11-25"

// connect starts the proxy and connects a go-sdk client through it,
// speaking protocol version proto ("" for the go-sdk default).
func connect(t *testing.T, dataDir, proto string, args ...string) (*mcp.ClientSession, *events, *syncBuffer) {
	t.Helper()
	cmd, stderr := proxyCmd(t, dataDir, args...)
	ev := &events{}
	client := mcp.NewClient(&mcp.Implementation{Name: "proxy-test", Version: "1"}, &mcp.ClientOptions{
		CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			ev.mu.Lock()
			ev.samples++
			ev.mu.Unlock()
			text := ""
			if len(req.Params.Messages) > 0 {
				if tc, ok := req.Params.Messages[0].Content.(*mcp.TextContent); ok {
					text = tc.Text
				}
			}
			return &mcp.CreateMessageResult{Model: "test-model", Role: "assistant", Content: &mcp.TextContent{Text: "sampled: " + text}}, nil
		},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			ev.mu.Lock()
			ev.progress = append(ev.progress, req.Params.Progress)
			ev.mu.Unlock()
		},
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
			ev.mu.Lock()
			ev.logs = append(ev.logs, fmt.Sprint(req.Params.Data))
			ev.mu.Unlock()
		},
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"answer": "yes to " + req.Params.Message}}, nil
		},
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			ev.mu.Lock()
			ev.listChanged++
			ev.mu.Unlock()
		},
	})
	client.AddRoots(&mcp.Root{URI: "file:///work/project", Name: "project"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 3 * time.Second}, &mcp.ClientSessionOptions{ProtocolVersion: proto})
	if err != nil {
		t.Fatalf("connecting through the proxy: %v\nproxy stderr:\n%s", err, stderr.String())
	}
	t.Cleanup(func() { cs.Close() })
	return cs, ev, stderr
}

func callText(t *testing.T, cs *mcp.ClientSession, name string, args any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("calling %s: %v", name, err)
	}
	var sb strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			sb.WriteString(tc.Text)
		}
	}
	if res.IsError {
		t.Fatalf("calling %s: error result %q", name, sb.String())
	}
	return sb.String()
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, 10*time.Second, what, cond)
}

// testServer is a go-sdk Streamable HTTP server whose handler can be reset,
// forgetting every session (the next request with an old session ID gets 404).
type testServer struct {
	URL       string
	server    *mcp.Server
	mu        sync.Mutex
	handler   http.Handler
	deletes   atomic.Int64
	adminHits atomic.Int64
	cancelled chan struct{}
	started   chan struct{} // a "block" call reached the server
	srv       *http.Server
}

type textArgs struct {
	Text string `json:"text"`
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{cancelled: make(chan struct{}, 4), started: make(chan struct{}, 4)}
	s := mcp.NewServer(&mcp.Implementation{Name: "proxytest", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in textArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "admin_delete"}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		ts.adminHits.Add(1)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "deleted"}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "progress"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		tok := req.Params.GetProgressToken()
		for i := 1; i <= 3; i++ {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i), Total: 3}); err != nil {
				return nil, nil, err
			}
		}
		if err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "hello from the server"}); err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "sample"}, func(ctx context.Context, req *mcp.CallToolRequest, in textArgs) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
			MaxTokens: 10,
			Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: in.Text}}},
		})
		if err != nil {
			return nil, nil, err
		}
		tc, _ := res.Content.(*mcp.TextContent)
		if tc == nil {
			return nil, nil, errors.New("no text in the sampling result")
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: tc.Text}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "elicit"}, func(ctx context.Context, req *mcp.CallToolRequest, in textArgs) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: in.Text, RequestedSchema: &jsonschema.Schema{
			Type: "object", Properties: map[string]*jsonschema.Schema{"answer": {Type: "string"}},
		}})
		if err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: res.Action + ": " + fmt.Sprint(res.Content["answer"])}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "roots"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.ListRoots(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		var uris []string
		for _, r := range res.Roots {
			uris = append(uris, r.URI)
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Join(uris, ",")}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "block"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		select {
		case ts.started <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			ts.cancelled <- struct{}{}
			return nil, nil, ctx.Err()
		case <-time.After(15 * time.Second):
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "not cancelled"}}}, nil, nil
		}
	})
	ts.server = s
	ts.reset()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.URL = "http://" + ln.Addr().String() + "/mcp"
	ts.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			ts.deletes.Add(1)
		}
		ts.mu.Lock()
		h := ts.handler
		ts.mu.Unlock()
		h.ServeHTTP(w, r)
	})}
	go ts.srv.Serve(ln) //nolint:errcheck // ends with Close below
	t.Cleanup(func() { ts.srv.Close() })
	return ts
}

// reset replaces the handler: every existing session is forgotten.
func (ts *testServer) reset() {
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return ts.server }, nil)
	ts.mu.Lock()
	ts.handler = h
	ts.mu.Unlock()
}

func TestToolsNotificationsSampling(t *testing.T) {
	for _, proto := range []string{legacy, ""} {
		t.Run("protocol="+proto, func(t *testing.T) { testToolsNotificationsSampling(t, proto) })
	}
}

func testToolsNotificationsSampling(t *testing.T, proto string) {
	ts := startServer(t)
	cs, ev, stderr := connect(t, t.TempDir(), proto, ts.URL)
	if proto != "" {
		if got := cs.InitializeResult().ProtocolVersion; got != proto {
			t.Fatalf("negotiated %s, want %s", got, proto)
		}
	}

	if got := callText(t, cs, "echo", map[string]any{"text": "hi"}); got != "hi" {
		t.Fatalf("echo = %q", got)
	}
	// Logging needs a level; setLevel is a plain forwarded request.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	params := &mcp.CallToolParams{Name: "progress"}
	params.SetProgressToken("tok-1")
	if _, err := cs.CallTool(ctx, params); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "progress and log notifications", func() bool {
		p, l, _, _ := ev.snapshot()
		return len(p) == 3 && len(l) == 1
	})
	if p, l, _, _ := ev.snapshot(); !slices.Equal(p, []float64{1, 2, 3}) || l[0] != "hello from the server" {
		t.Fatalf("progress %v (want 1,2,3 in order), logs %q", p, l)
	}

	// Server-to-client request: sampling answered by the client.
	if got := callText(t, cs, "sample", map[string]any{"text": "ping"}); got != "sampled: ping" {
		t.Fatalf("sample = %q", got)
	}

	// A tool added at run time: list_changed arrives on the standalone stream.
	mcp.AddTool(ts.server, &mcp.Tool{Name: "late"}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "late"}}}, nil, nil
	})
	waitFor(t, "tools/list_changed", func() bool { _, _, n, _ := ev.snapshot(); return n >= 1 })
	if names := toolNames(t, cs); !slices.Contains(names, "late") {
		t.Fatalf("tools after list_changed = %v", names)
	}

	// Cancellation from the client reaches the server.
	cctx, ccancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: "block"})
		done <- err
	}()
	// Cancel once the call reached the server (a cancellation that arrives
	// first is for a request the server does not know yet).
	select {
	case <-ts.started:
	case <-time.After(10 * time.Second):
		t.Fatalf("the blocking call never reached the server\n%s", stderr)
	}
	ccancel()
	select {
	case <-ts.cancelled:
	case <-time.After(10 * time.Second):
		t.Fatalf("the server never saw the cancellation\n%s", stderr)
	}
	if err := <-done; err == nil {
		t.Fatal("cancelled call returned no error")
	}
	// The session still works afterwards.
	if got := callText(t, cs, "echo", map[string]any{"text": "after"}); got != "after" {
		t.Fatalf("echo = %q", got)
	}

	// Stdin EOF: the proxy exits and terminates the remote session (the
	// stateless protocol has none).
	if err := cs.Close(); err != nil {
		t.Fatalf("closing: %v\n%s", err, stderr)
	}
	if proto == legacy {
		waitFor(t, "DELETE of the remote session", func() bool { return ts.deletes.Load() >= 1 })
	}
}

func TestIgnoreTool(t *testing.T) {
	ts := startServer(t)
	cs, _, _ := connect(t, t.TempDir(), legacy, ts.URL, "--ignore-tool", "admin_*", "--ignore-tool", "sam?le")
	names := toolNames(t, cs)
	if slices.Contains(names, "admin_delete") || slices.Contains(names, "sample") || !slices.Contains(names, "echo") {
		t.Fatalf("tools = %v; want admin_delete and sample hidden, echo kept", names)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "admin_delete"})
	if err == nil || !strings.Contains(err.Error(), "hidden by --ignore-tool") {
		t.Fatalf("calling an ignored tool: err = %v", err)
	}
	if n := ts.adminHits.Load(); n != 0 {
		t.Fatalf("the ignored tool reached the server %d times", n)
	}
	if got := callText(t, cs, "echo", map[string]any{"text": "ok"}); got != "ok" {
		t.Fatalf("echo = %q", got)
	}
}

func TestSessionExpiry(t *testing.T) {
	ts := startServer(t)
	cs, ev, stderr := connect(t, t.TempDir(), legacy, ts.URL)
	if got := callText(t, cs, "echo", map[string]any{"text": "one"}); got != "one" {
		t.Fatalf("echo = %q", got)
	}
	ts.reset() // the server forgets the session: 404 from now on
	if got := callText(t, cs, "echo", map[string]any{"text": "two"}); got != "two" {
		t.Fatalf("echo after session expiry = %q\n%s", got, stderr)
	}
	waitFor(t, "the re-initialization notice", func() bool {
		return strings.Contains(stderr.String(), "re-initializing a new session")
	})
	// The new session is fully initialized: server-to-client requests and
	// the standalone stream work on it.
	if got := callText(t, cs, "sample", map[string]any{"text": "again"}); got != "sampled: again" {
		t.Fatalf("sample = %q", got)
	}
	mcp.AddTool(ts.server, &mcp.Tool{Name: "late2"}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	waitFor(t, "tools/list_changed on the new session", func() bool { _, _, n, _ := ev.snapshot(); return n >= 1 })
}

// TestSessionExpiryWithOAuth: an OAuth-protected server forgets the session
// mid-call; the proxy re-initializes a new session with the stored token —
// no new sign-in — and the client's session goes on.
func TestSessionExpiryWithOAuth(t *testing.T) {
	as, err := oauthtest.Start(oauthtest.Options{TokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	cs, _, stderr := connect(t, t.TempDir(), legacy, as.MCPURL)
	if got := callText(t, cs, "echo", map[string]any{"text": "one"}); got != "one" {
		t.Fatalf("echo = %q", got)
	}
	as.ForgetSessions()
	if got := callText(t, cs, "echo", map[string]any{"text": "two"}); got != "two" {
		t.Fatalf("echo after session expiry = %q\n%s", got, stderr)
	}
	if !strings.Contains(stderr.String(), "re-initializing a new session") {
		t.Errorf("no re-initialization notice on stderr:\n%s", stderr)
	}
	if st := as.Stats(); st.CodesIssued != 1 || st.MCPRejected != 1 {
		t.Errorf("after the session expired: %d codes issued (want 1: no new sign-in), %d rejected requests (want 1: the first, unauthenticated probe)", st.CodesIssued, st.MCPRejected)
	}
}

func TestSSEFallback(t *testing.T) {
	s, err := mcptest.StartHTTP(mcptest.HTTPOptions{SSEOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	cs, ev, stderr := connect(t, t.TempDir(), legacy, s.URL)
	if got := callText(t, cs, mcptest.ToolEcho, map[string]any{"text": "over sse"}); got != "over sse" {
		t.Fatalf("echo = %q", got)
	}
	if !strings.Contains(stderr.String(), "falling back to SSE") {
		t.Fatalf("stderr does not report the fallback:\n%s", stderr)
	}
	callText(t, cs, mcptest.ToolGrow, map[string]any{"name": "grown"})
	waitFor(t, "tools/list_changed over SSE", func() bool { _, _, n, _ := ev.snapshot(); return n >= 1 })
	if names := toolNames(t, cs); !slices.Contains(names, "grown") {
		t.Fatalf("tools = %v", names)
	}
}

func TestOAuthSignInRefreshAndReauth(t *testing.T) {
	as, err := oauthtest.Start(oauthtest.Options{TokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	data := t.TempDir()
	cs, _, stderr := connect(t, data, legacy, as.MCPURL)

	// The browser flow ran before serving; the URL was on stderr.
	if !strings.Contains(stderr.String(), as.IssuerURL+"/authorize") && !strings.Contains(stderr.String(), "/authorize?") {
		t.Fatalf("no authorization URL on stderr:\n%s", stderr)
	}
	if got := callText(t, cs, "echo", map[string]any{"text": "secured"}); got != "secured" {
		t.Fatalf("echo = %q", got)
	}
	st := as.Stats()
	if st.CodesIssued != 1 {
		t.Fatalf("codes issued = %d, want 1", st.CodesIssued)
	}

	// Token expiry mid-session: a 401, a refresh, the same call succeeds.
	as.ExpireAccessTokens()
	if got := callText(t, cs, "echo", map[string]any{"text": "refreshed"}); got != "refreshed" {
		t.Fatalf("echo after expiry = %q\n%s", got, stderr)
	}
	if st := as.Stats(); st.Refreshes < 1 || st.CodesIssued != 1 {
		t.Fatalf("after expiry: refreshes %d (want ≥1), codes %d (want 1, no new sign-in)", st.Refreshes, st.CodesIssued)
	}

	// Everything revoked: refresh fails, the browser flow runs again, the
	// client's stdio session survives.
	as.RevokeAll()
	if got := callText(t, cs, "add", map[string]any{"a": 2, "b": 3}); got != "5" {
		t.Fatalf("add after revocation = %q\n%s", got, stderr)
	}
	if st := as.Stats(); st.CodesIssued != 2 {
		t.Fatalf("after revocation: codes issued %d, want 2 (a second browser sign-in)", st.CodesIssued)
	}
	cs.Close()

	// No token reaches stderr.
	creds, err := os.ReadFile(filepath.Join(data, "credentials.json"))
	if err == nil {
		var v struct {
			Servers map[string]struct {
				Token struct {
					AccessToken  string `json:"accessToken"`
					RefreshToken string `json:"refreshToken"`
				} `json:"token"`
			} `json:"servers"`
		}
		if json.Unmarshal(creds, &v) == nil {
			for _, s := range v.Servers {
				for _, secret := range []string{s.Token.AccessToken, s.Token.RefreshToken} {
					if secret != "" && strings.Contains(stderr.String(), secret) {
						t.Fatal("a token appeared on stderr")
					}
				}
			}
		}
	}
	if strings.Contains(stderr.String(), "Bearer ") {
		t.Fatalf("stderr mentions a bearer token:\n%s", stderr)
	}

	// A second proxy run uses the stored credentials: no new sign-in.
	cs2, _, _ := connect(t, data, legacy, as.MCPURL)
	if got := callText(t, cs2, "echo", map[string]any{"text": "stored"}); got != "stored" {
		t.Fatalf("echo = %q", got)
	}
	if st := as.Stats(); st.CodesIssued != 2 {
		t.Fatalf("second run: codes issued %d, want still 2", st.CodesIssued)
	}
}

// rawProxy runs the proxy with raw pipes, for wire-level checks.
type rawProxy struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *syncBuffer
}

func startRaw(t *testing.T, args ...string) *rawProxy {
	t.Helper()
	return startRawEnv(t, nil, args...)
}

// startRawEnv is startRaw with more environment variables (K=V).
func startRawEnv(t *testing.T, env []string, args ...string) *rawProxy {
	t.Helper()
	cmd, stderr := proxyCmd(t, t.TempDir(), args...)
	cmd.Env = append(cmd.Env, env...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &rawProxy{cmd: cmd, in: in, out: bufio.NewReader(out), stderr: stderr}
}

func (r *rawProxy) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(r.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

func (r *rawProxy) recv(t *testing.T) map[string]any {
	t.Helper()
	type res struct {
		line []byte
		err  error
	}
	ch := make(chan res, 1)
	go func() { l, err := r.out.ReadBytes('\n'); ch <- res{l, err} }()
	select {
	case x := <-ch:
		if x.err != nil {
			t.Fatalf("reading proxy stdout: %v\n%s", x.err, r.stderr)
		}
		var m map[string]any
		if err := json.Unmarshal(x.line, &m); err != nil {
			t.Fatalf("stdout carried a non-JSON line %q: %v", x.line, err)
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatalf("no message from the proxy\n%s", r.stderr)
	}
	return nil
}

func TestWireIDsBadInputAndSIGTERM(t *testing.T) {
	ts := startServer(t)
	r := startRaw(t, ts.URL)
	r.send(t, `{"jsonrpc":"2.0","id":"init-α","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if m := r.recv(t); m["id"] != "init-α" || m["result"] == nil {
		t.Fatalf("initialize answer = %v", m)
	}
	r.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	r.send(t, `this is not json`)
	if m := r.recv(t); m["error"] == nil || m["id"] != nil {
		t.Fatalf("bad line answer = %v, want a parse error with a null id", m)
	}
	// Requests sent back to back keep their IDs; answers all arrive.
	ids := map[any]bool{}
	for i := range 20 {
		r.send(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"m%d"}}}`, 1000+i, i))
	}
	for range 20 {
		m := r.recv(t)
		id, _ := m["id"].(float64)
		res, _ := m["result"].(map[string]any)
		content, _ := res["content"].([]any)
		if len(content) != 1 {
			t.Fatalf("answer = %v", m)
		}
		text := content[0].(map[string]any)["text"]
		if text != fmt.Sprintf("m%d", int(id)-1000) {
			t.Fatalf("answer %v carries %v: IDs mixed up", id, text)
		}
		ids[id] = true
	}
	if len(ids) != 20 {
		t.Fatalf("got %d distinct answers, want 20", len(ids))
	}
	// SIGTERM: clean exit, remote session terminated.
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- r.cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, r.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy did not exit on SIGTERM")
	}
	if ts.deletes.Load() < 1 {
		t.Fatal("no DELETE of the remote session after SIGTERM")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"http://127.0.0.1:1/mcp", "--transport", "carrier-pigeon"},
		{"http://127.0.0.1:1/mcp", "--ignore-tool", "[unclosed"},
		{"http://127.0.0.1:1/mcp", "--header", "no-colon"},
		{"no-such-server"},
	} {
		cmd, stderr := proxyCmd(t, t.TempDir(), args...)
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != cli.ExitConfig {
			t.Errorf("%v: err = %v, want exit %d\n%s", args, err, cli.ExitConfig, stderr)
		}
	}
}

// --device signs in with the device grant before serving, and again when the
// credentials stop working mid-session: the user code is on stderr (stdin
// carries the protocol, so there is no paste mode) and no browser
// authorization request is ever made.
func TestDeviceSignIn(t *testing.T) {
	as, err := oauthtest.Start(oauthtest.Options{DeviceFlow: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	cmd, stderr := proxyCmd(t, t.TempDir(), as.MCPURL, "--device")
	code := regexp.MustCompile(`enter the code ([A-Z]{4}-[A-Z]{4})`)
	// The "user" approves every code that appears on stderr.
	var approvedN atomic.Int64
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		seen := map[string]bool{}
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, m := range code.FindAllStringSubmatch(stderr.String(), -1) {
				if !seen[m[1]] {
					seen[m[1]] = true
					if as.ApproveDevice(m[1]) {
						approvedN.Add(1)
					}
				}
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "proxy-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 3 * time.Second}, &mcp.ClientSessionOptions{ProtocolVersion: legacy})
	if err != nil {
		t.Fatalf("connecting through the proxy: %v\nproxy stderr:\n%s", err, stderr.String())
	}
	t.Cleanup(func() { cs.Close() })
	if got := callText(t, cs, "echo", map[string]any{"text": "via device"}); got != "via device" {
		t.Fatalf("echo = %q", got)
	}
	if !strings.Contains(stderr.String(), as.DeviceVerificationURI()) {
		t.Errorf("verification URI not on stderr:\n%s", stderr.String())
	}

	// Everything revoked: the refresh fails and the proxy signs in again with
	// the device grant, keeping the client's session.
	as.RevokeAll()
	if got := callText(t, cs, "echo", map[string]any{"text": "again"}); got != "again" {
		t.Fatalf("echo after revocation = %q\n%s", got, stderr.String())
	}
	if st := as.Stats(); st.DeviceAuthorizations != 2 || st.AuthorizeRequests != 0 || approvedN.Load() != 2 {
		t.Fatalf("device authorizations %d (want 2), approved %d, browser authorizations %d (want 0)\n%s", st.DeviceAuthorizations, approvedN.Load(), st.AuthorizeRequests, stderr.String())
	}
}

// TestStdinEOFAnswersInFlight: a client that writes its requests and closes
// stdin at once (a script piping into the proxy) still gets every answer;
// then the proxy ends the remote session and exits cleanly.
func TestStdinEOFAnswersInFlight(t *testing.T) {
	ts := startServer(t)
	r := startRaw(t, ts.URL)
	// The lifecycle wants the initialize answer before other requests.
	r.send(t, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if m := r.recv(t); m["id"] != float64(1) || m["result"] == nil {
		t.Fatalf("initialize answer = %v", m)
	}
	r.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	r.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	r.send(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"last words"}}}`)
	if err := r.in.Close(); err != nil {
		t.Fatal(err)
	}
	got := map[float64]map[string]any{}
	for len(got) < 2 {
		m := r.recv(t)
		id, _ := m["id"].(float64)
		if m["error"] != nil {
			t.Fatalf("request %v answered with an error after stdin closed: %v\n%s", m["id"], m["error"], r.stderr)
		}
		got[id] = m
	}
	res, _ := got[3]["result"].(map[string]any)
	if content, _ := res["content"].([]any); len(content) != 1 || content[0].(map[string]any)["text"] != "last words" {
		t.Fatalf("tools/call answer = %v", got[3])
	}
	errc := make(chan error, 1)
	go func() { errc <- r.cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("exit after stdin's end: %v\n%s", err, r.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the proxy did not exit after stdin's end")
	}
	if ts.deletes.Load() < 1 {
		t.Fatal("no DELETE of the remote session after stdin's end")
	}
}

// TestElicitationAndRoots: server-to-client requests other than sampling
// cross the proxy too: an elicitation answered by the client, and the
// client's roots listed by the server.
func TestElicitationAndRoots(t *testing.T) {
	ts := startServer(t)
	cs, _, _ := connect(t, t.TempDir(), "", ts.URL)
	if got := callText(t, cs, "elicit", map[string]any{"text": "proceed?"}); got != "accept: yes to proceed?" {
		t.Fatalf("elicit = %q", got)
	}
	if got := callText(t, cs, "roots", map[string]any{}); got != "file:///work/project" {
		t.Fatalf("roots = %q", got)
	}
}

// TestTransportModes: each --transport mode against a Streamable HTTP server
// and an SSE-only one: the fallbacks work, and an "-only" mode the server
// does not speak fails the client's connect with the cause on stderr.
func TestTransportModes(t *testing.T) {
	streamable := startServer(t)
	sse, err := mcptest.StartHTTP(mcptest.HTTPOptions{SSEOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sse.Close)
	for _, tc := range []struct {
		server, mode string
		url          string
		ok           bool
	}{
		{"streamable", "http-first", streamable.URL, true},
		{"streamable", "http-only", streamable.URL, true},
		{"streamable", "sse-first", streamable.URL, true},
		{"streamable", "sse-only", streamable.URL, false},
		{"sse", "http-first", sse.URL, true},
		{"sse", "http-only", sse.URL, false},
		{"sse", "sse-first", sse.URL, true},
		{"sse", "sse-only", sse.URL, true},
	} {
		t.Run(tc.server+"/"+tc.mode, func(t *testing.T) {
			if tc.ok {
				cs, _, _ := connect(t, t.TempDir(), legacy, tc.url, "--transport", tc.mode)
				if got := callText(t, cs, mcptest.ToolEcho, map[string]any{"text": tc.mode}); got != tc.mode {
					t.Fatalf("echo = %q", got)
				}
				return
			}
			cmd, stderr := proxyCmd(t, t.TempDir(), tc.url, "--transport", tc.mode)
			client := mcp.NewClient(&mcp.Implementation{Name: "proxy-test", Version: "1"}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 3 * time.Second}, &mcp.ClientSessionOptions{ProtocolVersion: legacy})
			if err == nil {
				cs.Close()
				t.Fatalf("--transport %s against the %s server connected; want a failure", tc.mode, tc.server)
			}
			if !strings.Contains(stderr.String(), tc.url) && !strings.Contains(err.Error(), tc.url) {
				t.Errorf("the failure names neither the URL nor the cause:\nerr: %v\nstderr: %s", err, stderr)
			}
		})
	}
}
