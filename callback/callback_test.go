package callback

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/internal/testwait"
)

const holderEnv = "MCPLINK_CALLBACK_TEST_HOLDER"

// TestMain doubles as a helper process: with holderEnv set to a redirect URI
// it acts as another mcplink process holding the callback port until a line
// arrives on stdin.
func TestMain(m *testing.M) {
	if uri := os.Getenv(holderEnv); uri != "" {
		os.Exit(runHolder(uri))
	}
	os.Exit(m.Run())
}

func runHolder(uri string) int {
	reg := New(Options{})
	defer reg.Close()
	f, err := reg.Begin(context.Background(), Request{RedirectURI: uri, State: "holder-state", Server: "holder", ConfigFile: "holder.json"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		return 1
	}
	fmt.Printf("ready %d\n", os.Getpid())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	f.Close()
	return 0
}

// --- helpers ---

func uriFor(port int) string { return fmt.Sprintf("http://127.0.0.1:%d%s", port, DefaultPath) }

func newState(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

var testClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	Timeout:   5 * time.Second,
}

type resp struct {
	status int
	header http.Header
	body   string
}

func do(t testing.TB, method, u string) resp {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("reading body of %s %s: %v", method, u, err)
	}
	return resp{r.StatusCode, r.Header, string(b)}
}

func callbackURL(port int, q url.Values) string { return uriFor(port) + "?" + q.Encode() }

func checkPageHeaders(t *testing.T, r resp) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
		"Content-Type":            "text/html; charset=utf-8",
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

// waitBindable asserts that the test itself can bind port within 100 ms.
func waitBindable(t *testing.T, port int) {
	t.Helper()
	if err := bindableWithin(fmt.Sprintf("127.0.0.1:%d", port), 100*time.Millisecond); err != nil {
		t.Fatalf("port %d still bound 100 ms after the last flow ended: %v", port, err)
	}
}

// bindableWithin reports nil once addr can be bound (the kernel releases a
// closed listener's port: nothing signals it), else the last error after d.
func bindableWithin(addr string, d time.Duration) error {
	var err error
	testwait.Until(d, func() bool {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			ln.Close()
		}
		return err == nil
	})
	return err
}

func assertBound(t *testing.T, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err == nil {
		ln.Close()
		t.Fatalf("port %d is free but a flow is still pending on it", port)
	}
}

// begin begins a flow whose owner reports success as soon as a code is
// delivered (see autoReport).
func begin(t *testing.T, reg *Registry, port int, state string) *Flow {
	t.Helper()
	return autoReport(beginNoReport(t, reg, port, state), nil)
}

// beginNoReport begins a flow whose outcome nobody reports.
func beginNoReport(t *testing.T, reg *Registry, port int, state string) *Flow {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f, err := reg.Begin(ctx, Request{RedirectURI: uriFor(port), State: state, Server: "notion", ConfigFile: "./mcplink.json"})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return f
}

// autoReport plays the flow's owner: once the flow ends it reports outcome
// as the result of the token exchange, as oauth.Pending.Wait does. The
// goroutine ends with the flow.
func autoReport(f *Flow, outcome error) *Flow {
	go func() {
		<-f.Done()
		f.Report(outcome)
	}()
	return f
}

func waitFlow(t *testing.T, f *Flow) (url.Values, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return f.Wait(ctx)
}

func assertPending(t *testing.T, f *Flow) {
	t.Helper()
	select {
	case <-f.Done():
		t.Fatal("flow ended but should still be pending")
	default:
	}
}

// --- tests ---

func TestSuccess(t *testing.T) {
	reg := New(Options{})
	defer reg.Close()
	port := testenv.FreePort(t)
	state := newState(t)
	f := begin(t, reg, port, state)
	code := "code-" + newState(t)

	r := do(t, http.MethodGet, callbackURL(port, url.Values{"code": {code}, "state": {state}, "iss": {"https://as.example"}}))
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	checkPageHeaders(t, r)
	if !strings.Contains(r.body, "Signed in to notion. You can close this tab.") {
		t.Errorf("success page does not name the server: %s", r.body)
	}
	if strings.Contains(r.body, code) || strings.Contains(r.body, state) {
		t.Errorf("page echoes the code or state: %s", r.body)
	}
	got, err := waitFlow(t, f)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if got.Get("code") != code || got.Get("state") != state || got.Get("iss") != "https://as.example" {
		t.Errorf("Wait returned %v", got)
	}
	waitBindable(t, port)
}

func TestAuthorizationErrorPage(t *testing.T) {
	reg := New(Options{})
	defer reg.Close()
	port := testenv.FreePort(t)
	state := newState(t)
	f := begin(t, reg, port, state)

	r := do(t, http.MethodGet, callbackURL(port, url.Values{
		"error": {"access_denied"}, "error_description": {"<script>alert(1)</script> & more"}, "state": {state},
		"error_uri": {"https://evil.example/x"},
	}))
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	checkPageHeaders(t, r)
	if strings.Contains(r.body, "<script>") {
		t.Errorf("error description not escaped: %s", r.body)
	}
	for _, want := range []string{"Sign-in to notion failed", "access_denied", "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("error page lacks %q: %s", want, r.body)
		}
	}
	if strings.Contains(r.body, state) || strings.Contains(r.body, "evil.example") {
		t.Errorf("error page echoes state or error_uri: %s", r.body)
	}
	_, err := waitFlow(t, f)
	var aerr *AuthorizationError
	if !errors.As(err, &aerr) {
		t.Fatalf("Wait error = %v, want *AuthorizationError", err)
	}
	if aerr.Code != "access_denied" || aerr.Description != "<script>alert(1)</script> & more" || aerr.URI != "https://evil.example/x" {
		t.Errorf("AuthorizationError = %+v", aerr)
	}
	waitBindable(t, port)
}

func TestUnknownStateAndBadRequests(t *testing.T) {
	reg := New(Options{})
	defer reg.Close()
	port := testenv.FreePort(t)
	state := newState(t)
	var notes []string
	var mu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f, err := reg.Begin(ctx, Request{RedirectURI: uriFor(port), State: state, Server: "notion", ConfigFile: "./mcplink.json",
		Notify: func(m string) { mu.Lock(); notes = append(notes, m); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	autoReport(f, nil)

	other := newState(t)
	t.Run("unknown state", func(t *testing.T) {
		r := do(t, http.MethodGet, callbackURL(port, url.Values{"code": {"c1"}, "state": {other}}))
		if r.status != http.StatusBadRequest {
			t.Fatalf("status %d", r.status)
		}
		checkPageHeaders(t, r)
		if !strings.Contains(r.body, "unknown or already finished") || !strings.Contains(r.body, "another mcplink process") {
			t.Errorf("unknown-state page wording: %s", r.body)
		}
		if strings.Contains(strings.ToLower(r.body), "csrf") || strings.Contains(r.body, other) || strings.Contains(r.body, "c1") {
			t.Errorf("unknown-state page says CSRF or echoes input: %s", r.body)
		}
	})
	t.Run("no state", func(t *testing.T) {
		r := do(t, http.MethodGet, callbackURL(port, url.Values{"code": {"c1"}}))
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "unknown or already finished") {
			t.Fatalf("status %d body %s", r.status, r.body)
		}
	})
	t.Run("missing code", func(t *testing.T) {
		r := do(t, http.MethodGet, callbackURL(port, url.Values{"state": {state}}))
		if r.status != http.StatusBadRequest {
			t.Fatalf("status %d", r.status)
		}
		checkPageHeaders(t, r)
		if !strings.Contains(r.body, "no authorization code") || strings.Contains(r.body, state) {
			t.Errorf("missing-code page: %s", r.body)
		}
		assertPending(t, f)
		mu.Lock()
		defer mu.Unlock()
		if len(notes) != 1 || !strings.Contains(notes[0], "without an authorization code") {
			t.Errorf("Notify got %q", notes)
		}
	})
	t.Run("404", func(t *testing.T) {
		r := do(t, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/other?state=%s&code=x", port, state))
		if r.status != http.StatusNotFound {
			t.Fatalf("status %d", r.status)
		}
		checkPageHeaders(t, r)
		assertPending(t, f)
	})
	t.Run("405", func(t *testing.T) {
		r := do(t, http.MethodPost, callbackURL(port, url.Values{"code": {"c"}, "state": {state}}))
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET" {
			t.Fatalf("status %d Allow %q", r.status, r.header.Get("Allow"))
		}
		checkPageHeaders(t, r)
		assertPending(t, f)
	})
	t.Run("probe", func(t *testing.T) {
		r := do(t, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, ProbePath))
		var pr probeReply
		if err := json.Unmarshal([]byte(r.body), &pr); err != nil || !pr.Mcplink || pr.PID != os.Getpid() {
			t.Fatalf("probe reply %q (%v)", r.body, err)
		}
	})
	// The flow survived all of that and still completes.
	r := do(t, http.MethodGet, callbackURL(port, url.Values{"code": {"good"}, "state": {state}}))
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	if v, err := waitFlow(t, f); err != nil || v.Get("code") != "good" {
		t.Fatalf("Wait = %v, %v", v, err)
	}
}

func TestBusyPortPlainHolder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	reg := New(Options{})
	defer reg.Close()
	notified := false
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = reg.Begin(ctx, Request{RedirectURI: uriFor(port), State: "s", Server: "notion", ConfigFile: "./mcplink.json", Notify: func(string) { notified = true }})
	elapsed := time.Since(start)
	var pe *PortInUseError
	if !errors.As(err, &pe) {
		t.Fatalf("Begin error = %v, want *PortInUseError", err)
	}
	if elapsed >= time.Second {
		t.Errorf("busy port reported after %v, want < 1s", elapsed)
	}
	// The fix (internal/fix) is the surface's; the error carries its data.
	want := fmt.Sprintf(`OAuth callback port %d is already in use by another process`, port)
	if err.Error() != want {
		t.Errorf("message:\n got %s\nwant %s", err, want)
	}
	if pe.OtherMcplink || pe.Port != port || pe.Server != "notion" || pe.ConfigFile != "./mcplink.json" || notified {
		t.Errorf("PortInUseError = %+v, notified %v", pe, notified)
	}
	t.Logf("busy port reported in %v", elapsed)
}

func TestPortInUseMessage(t *testing.T) {
	for e, want := range map[*PortInUseError]string{
		{Port: 19876, Addr: "127.0.0.1:19876", Server: "notion"}: "OAuth callback port 19876 is already in use by another process",
		{Port: 19876, Addr: "[::1]:19876"}:                       "OAuth callback port 19876 ([::1]:19876) is already in use by another process",
		{Port: 19876, OtherMcplink: true, PID: 42}:               "OAuth callback port 19876 is still held by another mcplink process (pid 42) finishing its own sign-in",
	} {
		if e.Error() != want {
			t.Errorf("got %s\nwant %s", e, want)
		}
	}
}

// TestHolderIsOtherMcplinkProcess runs a real second process holding the port
// with its own pending flow: Begin notifies, waits, and succeeds once the
// other process frees the port.
func TestHolderIsOtherMcplinkProcess(t *testing.T) {
	port := testenv.FreePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = testenv.Env(t, holderEnv+"="+uriFor(port))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		t.Fatalf("holder said %q, %v", line, err)
	}
	childPID := cmd.Process.Pid

	reg := New(Options{})
	defer reg.Close()
	notes := make(chan string, 4)
	type result struct {
		f   *Flow
		err error
	}
	done := make(chan result, 1)
	state := newState(t)
	go func() {
		f, err := reg.Begin(ctx, Request{RedirectURI: uriFor(port), State: state, Server: "notion", ConfigFile: "./mcplink.json",
			Notify: func(m string) { notes <- m }})
		done <- result{f, err}
	}()
	select {
	case m := <-notes:
		want := fmt.Sprintf("OAuth callback port %d is held by another mcplink process (pid %d) finishing its own sign-in; waiting for it to free the port…", port, childPID)
		if m != want {
			t.Errorf("Notify:\n got %s\nwant %s", m, want)
		}
	case res := <-done:
		t.Fatalf("Begin returned before notifying: %v", res.err)
	case <-time.After(5 * time.Second):
		t.Fatal("no Notify while another mcplink holds the port")
	}
	// The other process still holds the port; Begin must still be waiting.
	select {
	case res := <-done:
		t.Fatalf("Begin returned while the port is held: %v", res.err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := io.WriteString(stdin, "release\n"); err != nil {
		t.Fatal(err)
	}
	var res result
	select {
	case res = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Begin did not bind after the other process freed the port")
	}
	if res.err != nil {
		t.Fatalf("Begin: %v", res.err)
	}
	autoReport(res.f, nil)
	r := do(t, http.MethodGet, callbackURL(port, url.Values{"code": {"c"}, "state": {state}}))
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	if v, err := waitFlow(t, res.f); err != nil || v.Get("code") != "c" {
		t.Fatalf("Wait = %v, %v", v, err)
	}
}

// TestHolderIsOtherMcplinkTimeout: another registry (answering the probe)
// keeps the port until ctx ends, so Begin fails with OtherMcplink set.
func TestHolderIsOtherMcplinkTimeout(t *testing.T) {
	port := testenv.FreePort(t)
	holder := New(Options{})
	defer holder.Close()
	hf := begin(t, holder, port, "held")
	defer hf.Close()

	reg := New(Options{})
	defer reg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	var notes []string
	_, err := reg.Begin(ctx, Request{RedirectURI: uriFor(port), State: "s", Server: "notion", ConfigFile: "./mcplink.json",
		Notify: func(m string) { notes = append(notes, m) }})
	var pe *PortInUseError
	if !errors.As(err, &pe) || !pe.OtherMcplink || pe.PID != os.Getpid() {
		t.Fatalf("Begin error = %#v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error does not wrap the ctx error: %v", err)
	}
	if len(notes) != 1 {
		t.Errorf("Notify called %d times, want 1: %q", len(notes), notes)
	}
	want := fmt.Sprintf(`OAuth callback port %d is still held by another mcplink process (pid %d) finishing its own sign-in`, port, os.Getpid())
	if err.Error() != want || pe.Server != "notion" || pe.ConfigFile != "./mcplink.json" {
		t.Errorf("message:\n got %s\nwant %s", err, want)
	}
}

func TestTwoFlowsOnePort(t *testing.T) {
	reg := New(Options{})
	defer reg.Close()
	port := testenv.FreePort(t)
	sa, sb := newState(t), newState(t)
	fa := begin(t, reg, port, sa)
	// Second flow shares the listener, even through "localhost".
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fb, err := reg.Begin(ctx, Request{RedirectURI: fmt.Sprintf("http://localhost:%d%s", port, DefaultPath), State: sb, Server: "linear", ConfigFile: "./mcplink.json"})
	if err != nil {
		t.Fatal(err)
	}
	autoReport(fb, nil)
	r := do(t, http.MethodGet, callbackURL(port, url.Values{"code": {"cb"}, "state": {sb}}))
	if r.status != http.StatusOK || !strings.Contains(r.body, "Signed in to linear.") {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	if v, err := waitFlow(t, fb); err != nil || v.Get("code") != "cb" {
		t.Fatalf("flow b: %v %v", v, err)
	}
	assertPending(t, fa)
	assertBound(t, port)
	// Reusing b's state is now unknown.
	r = do(t, http.MethodGet, callbackURL(port, url.Values{"code": {"cb2"}, "state": {sb}}))
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "already finished") {
		t.Fatalf("reused state: status %d", r.status)
	}
	r = do(t, http.MethodGet, callbackURL(port, url.Values{"code": {"ca"}, "state": {sa}}))
	if r.status != http.StatusOK || !strings.Contains(r.body, "Signed in to notion.") {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	if v, err := waitFlow(t, fa); err != nil || v.Get("code") != "ca" {
		t.Fatalf("flow a: %v %v", v, err)
	}
	waitBindable(t, port)
}

func TestFlowsOnTwoPorts(t *testing.T) {
	reg := New(Options{})
	defer reg.Close()
	p1, p2 := testenv.FreePort(t), testenv.FreePort(t)
	for p2 == p1 {
		p2 = testenv.FreePort(t)
	}
	s1, s2 := newState(t), newState(t)
	f1 := begin(t, reg, p1, s1)
	f2 := begin(t, reg, p2, s2)
	// A callback for flow 2 arriving on port 1 is not flow 2's.
	r := do(t, http.MethodGet, callbackURL(p1, url.Values{"code": {"x"}, "state": {s2}}))
	if r.status != http.StatusBadRequest {
		t.Fatalf("cross-port state: status %d", r.status)
	}
	f1.Close()
	if _, err := waitFlow(t, f1); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed flow Wait error = %v", err)
	}
	waitBindable(t, p1)
	assertPending(t, f2)
	r = do(t, http.MethodGet, callbackURL(p2, url.Values{"code": {"two"}, "state": {s2}}))
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	if v, err := waitFlow(t, f2); err != nil || v.Get("code") != "two" {
		t.Fatalf("flow 2: %v %v", v, err)
	}
	waitBindable(t, p2)
}

func TestPortFreedAfterLastFlowEnds(t *testing.T) {
	cases := map[string]func(t *testing.T, reg *Registry, port int, f *Flow, state string){
		"success": func(t *testing.T, reg *Registry, port int, f *Flow, state string) {
			do(t, http.MethodGet, callbackURL(port, url.Values{"code": {"c"}, "state": {state}}))
			if _, err := waitFlow(t, f); err != nil {
				t.Fatal(err)
			}
		},
		"as error": func(t *testing.T, reg *Registry, port int, f *Flow, state string) {
			do(t, http.MethodGet, callbackURL(port, url.Values{"error": {"server_error"}, "state": {state}}))
			var aerr *AuthorizationError
			if _, err := waitFlow(t, f); !errors.As(err, &aerr) {
				t.Fatal(err)
			}
		},
		"ctx cancel": func(t *testing.T, reg *Registry, port int, f *Flow, state string) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			if _, err := f.Wait(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Wait error = %v", err)
			}
		},
		"timeout": func(t *testing.T, reg *Registry, port int, f *Flow, state string) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			if _, err := f.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait error = %v", err)
			}
		},
		"flow close": func(t *testing.T, reg *Registry, port int, f *Flow, state string) {
			f.Close()
			f.Close() // idempotent
		},
		"registry close": func(t *testing.T, reg *Registry, port int, f *Flow, state string) {
			reg.Close()
			if _, err := waitFlow(t, f); !errors.Is(err, ErrClosed) {
				t.Fatalf("Wait error = %v", err)
			}
			if _, err := reg.Begin(context.Background(), Request{RedirectURI: uriFor(port), State: "x"}); !errors.Is(err, ErrClosed) {
				t.Fatalf("Begin on closed registry: %v", err)
			}
		},
		"deliver": func(t *testing.T, reg *Registry, port int, f *Flow, state string) {
			if err := reg.Deliver(state, url.Values{"code": {"c"}}); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, end := range cases {
		t.Run(name, func(t *testing.T) {
			reg := New(Options{})
			defer reg.Close()
			port := testenv.FreePort(t)
			state := newState(t)
			f := begin(t, reg, port, state)
			assertBound(t, port)
			end(t, reg, port, f, state)
			waitBindable(t, port)
		})
	}
}

func TestDeliver(t *testing.T) {
	reg := New(Options{})
	defer reg.Close()
	port := testenv.FreePort(t)
	state := newState(t)
	f := begin(t, reg, port, state)

	if err := reg.Deliver(newState(t), url.Values{"code": {"c"}}); !errors.Is(err, ErrUnknownState) {
		t.Errorf("unknown state: %v", err)
	}
	if err := reg.Deliver("", url.Values{"code": {"c"}}); !errors.Is(err, ErrUnknownState) {
		t.Errorf("empty state: %v", err)
	}
	if err := reg.Deliver(state, url.Values{"code": {"c"}, "state": {"other"}}); !errors.Is(err, ErrUnknownState) {
		t.Errorf("mismatched state: %v", err)
	}
	if err := reg.Deliver(state, url.Values{"iss": {"x"}}); !errors.Is(err, ErrMissingCode) {
		t.Errorf("missing code: %v", err)
	}
	assertPending(t, f)

	pasted, err := ParseRedirect("  " + callbackURL(port, url.Values{"code": {"pc"}, "state": {state}, "iss": {"https://as"}}) + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Deliver(pasted.Get("state"), pasted); err != nil {
		t.Fatal(err)
	}
	v, err := waitFlow(t, f)
	if err != nil || v.Get("code") != "pc" || v.Get("state") != state || v.Get("iss") != "https://as" {
		t.Fatalf("Wait = %v, %v", v, err)
	}
	if err := reg.Deliver(state, pasted); !errors.Is(err, ErrUnknownState) {
		t.Errorf("second delivery: %v", err)
	}
	// The browser callback for a delivered flow is now unknown (and the
	// listener is gone, freeing the port).
	waitBindable(t, port)

	s2 := newState(t)
	f2 := begin(t, reg, port, s2)
	if err := reg.Deliver(s2, url.Values{"error": {"access_denied"}, "error_description": {"no"}}); err != nil {
		t.Fatal(err)
	}
	var aerr *AuthorizationError
	if _, err := waitFlow(t, f2); !errors.As(err, &aerr) || aerr.Code != "access_denied" {
		t.Fatalf("Wait error = %v", err)
	}
}

func TestParseRedirect(t *testing.T) {
	good := []struct{ in, code, state, errCode string }{
		{"http://127.0.0.1:19876/mcp/oauth/callback?code=abc&state=xyz", "abc", "xyz", ""},
		{"code=abc&state=xyz", "abc", "xyz", ""},
		{"?code=a%2Bb&state=xyz", "a+b", "xyz", ""},
		{"http://localhost:1/cb#code=abc&state=xyz", "abc", "xyz", ""},
		{"http://127.0.0.1:1/cb?error=access_denied&state=xyz", "", "xyz", "access_denied"},
	}
	for _, c := range good {
		q, err := ParseRedirect(c.in)
		if err != nil || q.Get("code") != c.code || q.Get("state") != c.state || q.Get("error") != c.errCode {
			t.Errorf("ParseRedirect(%q) = %v, %v", c.in, q, err)
		}
	}
	for _, in := range []string{"", "   ", "hello", "state=xyz", "code=abc", "http://127.0.0.1/cb", "http://[::1:bad/x?code=1&state=2", "code=%zz&state=1"} {
		if q, err := ParseRedirect(in); err == nil {
			t.Errorf("ParseRedirect(%q) = %v, want error", in, q)
		}
	}
}

func TestRedirectURI(t *testing.T) {
	for _, c := range []struct {
		port     int
		override string
		want     string
	}{
		{0, "", "http://127.0.0.1:19876/mcp/oauth/callback"},
		{8123, "", "http://127.0.0.1:8123/mcp/oauth/callback"},
		{8123, "http://localhost:9000/cb", "http://localhost:9000/cb"},
		{0, "http://[::1]:9000/cb", "http://[::1]:9000/cb"},
	} {
		got, err := RedirectURI(c.port, c.override)
		if err != nil || got != c.want {
			t.Errorf("RedirectURI(%d, %q) = %q, %v; want %q", c.port, c.override, got, err, c.want)
		}
	}
	for _, c := range []struct {
		port     int
		override string
		wantIn   string
	}{
		{-1, "", "out of range"},
		{70000, "", "out of range"},
		{0, "http://example.com:9000/cb", "not loopback"},
		{0, "http://0.0.0.0:9000/cb", "not loopback"},
		{0, "https://127.0.0.1:9000/cb", "http://"},
		{0, "http://127.0.0.1/cb", "no port"},
		{0, "http://127.0.0.1:0/cb", "invalid port"},
		{0, "http://127.0.0.1:9000/cb?x=1", "query"},
		{0, "http://127.0.0.1:9000" + ProbePath, "reserved"},
		{0, "::::", "invalid"},
	} {
		_, err := RedirectURI(c.port, c.override)
		if err == nil || !strings.Contains(err.Error(), c.wantIn) {
			t.Errorf("RedirectURI(%d, %q) error = %v, want it to mention %q", c.port, c.override, err, c.wantIn)
		}
		// The error is data: which setting, its value; where it is set
		// (a config field, a flag) is the caller's to name.
		var se *SettingError
		want, value := SettingRedirectURI, c.override
		if c.override == "" {
			want, value = SettingPort, fmt.Sprint(c.port)
		}
		if !errors.As(err, &se) || se.Setting != want || se.Value != value {
			t.Errorf("RedirectURI(%d, %q) error = %#v, want a *SettingError for %q", c.port, c.override, err, value)
		} else if strings.Contains(err.Error(), "oauth.") || strings.Contains(err.Error(), "--") {
			t.Errorf("RedirectURI(%d, %q) error %q names a config field or a flag", c.port, c.override, err)
		}
	}
	reg := New(Options{})
	defer reg.Close()
	if _, err := reg.Begin(context.Background(), Request{RedirectURI: "http://10.0.0.1:9000/cb", State: "s"}); err == nil || !strings.Contains(err.Error(), "not loopback") {
		t.Errorf("Begin with non-loopback URI: %v", err)
	}
	if _, err := reg.Begin(context.Background(), Request{RedirectURI: uriFor(testenv.FreePort(t))}); err == nil {
		t.Error("Begin with empty state succeeded")
	}
}

func TestDuplicateState(t *testing.T) {
	reg := New(Options{})
	defer reg.Close()
	port := testenv.FreePort(t)
	f := begin(t, reg, port, "dup")
	defer f.Close()
	if _, err := reg.Begin(context.Background(), Request{RedirectURI: uriFor(port), State: "dup"}); err == nil {
		t.Fatal("duplicate state accepted")
	}
	assertPending(t, f)
}

func TestIPv6Loopback(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback on this machine: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	reg := New(Options{})
	defer reg.Close()
	u := fmt.Sprintf("http://[::1]:%d/cb", port)
	f, err := reg.Begin(context.Background(), Request{RedirectURI: u, State: "s6", Server: "v6"})
	if err != nil {
		t.Fatal(err)
	}
	autoReport(f, nil)
	r := do(t, http.MethodGet, u+"?code=c&state=s6")
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	if _, err := waitFlow(t, f); err != nil {
		t.Fatal(err)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	reg := New(Options{})
	for i := 0; i < 5; i++ {
		port := testenv.FreePort(t)
		s := newState(t)
		f := begin(t, reg, port, s)
		do(t, http.MethodGet, callbackURL(port, url.Values{"code": {"c"}, "state": {s}}))
		if _, err := waitFlow(t, f); err != nil {
			t.Fatal(err)
		}
	}
	// Leave an idle keep-alive connection open on a pending listener, then
	// close everything.
	port := testenv.FreePort(t)
	f := begin(t, reg, port, "left")
	_ = f
	ka := &http.Client{Transport: &http.Transport{Proxy: nil}}
	if r, err := ka.Get(uriFor(port) + "?state=nope"); err == nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	reg.Close()
	ka.CloseIdleConnections()
	if !testwait.Until(3*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	}
}

func TestLogfNeverSeesSecrets(t *testing.T) {
	var mu sync.Mutex
	var logs strings.Builder
	reg := New(Options{Logf: func(f string, a ...any) { mu.Lock(); fmt.Fprintf(&logs, f+"\n", a...); mu.Unlock() }})
	port := testenv.FreePort(t)
	state := newState(t)
	code := newState(t)
	f := begin(t, reg, port, state)
	do(t, http.MethodGet, callbackURL(port, url.Values{"code": {code}, "state": {state}}))
	if _, err := waitFlow(t, f); err != nil {
		t.Fatal(err)
	}
	reg.Close()
	mu.Lock()
	defer mu.Unlock()
	out := logs.String()
	if !strings.Contains(out, "listening on") {
		t.Errorf("expected diagnostics, got %q", out)
	}
	if strings.Contains(out, code) || strings.Contains(out, state) {
		t.Errorf("log leaks code or state: %q", out)
	}
}
