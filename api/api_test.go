package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/api"
	"github.com/mcplink/mcplink/api/apitest"
	"github.com/mcplink/mcplink/api/client"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/internal/testwait"
)

func TestMain(m *testing.M) {
	mcptest.MaybeRunChild()
	maybeRunServeChild()
	// Local servers get the process's own environment (as a user's
	// do): make it one of the tests' own.
	testenv.Main(m)
}

func start(t *testing.T, opts apitest.Options) *apitest.Env {
	t.Helper()
	env, err := apitest.Start(opts)
	if err != nil {
		t.Fatalf("starting the API: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Close(); err != nil {
			t.Errorf("closing: %v", err)
		}
	})
	return env
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// wantAPIError checks err is an API error with status and code.
func wantAPIError(t *testing.T, err error, status int, code string) *client.Error {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want API error %d %s", err, status, code)
	}
	if ce.StatusCode != status || ce.Code != code {
		t.Fatalf("err = %d %s (%s), want %d %s", ce.StatusCode, ce.Code, ce.Message, status, code)
	}
	if ce.Message == "" {
		t.Fatalf("error %s has no message", code)
	}
	return ce
}

func fullEnv(t *testing.T) *apitest.Env {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return start(t, apitest.Options{Plain: 1, Secure: 2, Disabled: true,
		LocalCommand: []string{exe}, LocalEnv: map[string]string{mcptest.EnvChild: mcptest.ModeStdio}})
}

func TestStatusRoutes(t *testing.T) {
	env := fullEnv(t)
	ctx := ctxT(t, 30*time.Second)
	all, err := env.Client.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"plain0": "connected", "local": "connected", "secure0": "needs_auth", "secure1": "needs_auth", "off": "disabled", "nooauth": "connected"}
	for name, st := range want {
		got, ok := all[name]
		if !ok || got.Status != st {
			t.Errorf("%s: status %q (%+v), want %q", name, got.Status, got, st)
		}
	}
	if len(all) != len(want) {
		t.Errorf("GET /mcp has %d servers, want %d", len(all), len(want))
	}
	if p := all["plain0"]; !slices.Contains(p.Tools, mcptest.ToolEcho) || p.Transport != "streamable" || p.Auth != nil {
		t.Errorf("plain0 = %+v, want echo tool, streamable, no auth", p)
	}
	if o := all["off"]; o.Auth != nil {
		t.Errorf("the disabled server shows auth %+v, want none", o.Auth)
	}
	if l := all["local"]; l.Transport != "stdio" || l.Type != "local" || len(l.Command) == 0 {
		t.Errorf("local = %+v", l)
	}
	s := all["secure0"]
	if s.Auth == nil || s.Auth.State != "not_authenticated" || s.Auth.PendingFlows != 0 || s.Error == "" {
		t.Errorf("secure0 = %+v auth %+v, want not_authenticated with an error", s, s.Auth)
	}
	one, err := env.Client.Get(ctx, "plain0")
	if err != nil || one.Name != "plain0" || one.Status != "connected" {
		t.Fatalf("GET /mcp/plain0 = %+v, %v", one, err)
	}
	_, err = env.Client.Get(ctx, "plain")
	ce := wantAPIError(t, err, 404, "unknown_server")
	if !strings.Contains(ce.Message, "plain0") {
		t.Errorf("unknown server message %q does not list the known servers", ce.Message)
	}
}

func TestConnectDisconnect(t *testing.T) {
	env := fullEnv(t)
	ctx := ctxT(t, 30*time.Second)
	if all, err := env.Client.List(ctx); err != nil || all["plain0"].Status != "connected" {
		t.Fatalf("list = %+v, %v", all["plain0"], err)
	}
	st, err := env.Client.Disconnect(ctx, "plain0")
	if err != nil || st.State != "disconnected" || len(st.Tools) != 0 {
		t.Fatalf("disconnect = %+v, %v", st, err)
	}
	// GET /mcp is cached; a change is visible at once.
	if all, err := env.Client.List(ctx); err != nil || all["plain0"].State != "disconnected" {
		t.Fatalf("list after disconnect = %+v, %v", all["plain0"], err)
	}
	_, err = env.Client.Tools(ctx, "plain0")
	wantAPIError(t, err, 409, "not_connected")
	_, err = env.Client.CallTool(ctx, "plain0", mcptest.ToolEcho, nil)
	wantAPIError(t, err, 409, "not_connected")
	st, err = env.Client.Connect(ctx, "plain0")
	if err != nil || st.Status != "connected" {
		t.Fatalf("connect = %+v, %v", st, err)
	}
	st, err = env.Client.Connect(ctx, "local")
	if err != nil || st.Status != "connected" || st.Transport != "stdio" {
		t.Fatalf("connect local = %+v, %v", st, err)
	}
	_, err = env.Client.Connect(ctx, "off")
	wantAPIError(t, err, 409, "server_disabled")
	_, err = env.Client.Connect(ctx, "nope")
	wantAPIError(t, err, 404, "unknown_server")
	_, err = env.Client.Disconnect(ctx, "nope")
	wantAPIError(t, err, 404, "unknown_server")
	// A server needing auth reports it in the status, not as an error.
	st, err = env.Client.Connect(ctx, "secure0")
	if err != nil || st.Status != "needs_auth" {
		t.Fatalf("connect secure0 = %+v, %v", st, err)
	}
}

func TestTools(t *testing.T) {
	env := fullEnv(t)
	ctx := ctxT(t, 30*time.Second)
	tools, err := env.Client.Tools(ctx, "plain0")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools {
		names = append(names, tl.Name)
	}
	if !slices.Contains(names, mcptest.ToolEcho) || !slices.Contains(names, mcptest.ToolAdd) {
		t.Fatalf("tools = %v", names)
	}
	res, err := env.Client.CallTool(ctx, "plain0", mcptest.ToolEcho, map[string]any{"text": "héllo"})
	if err != nil || res.IsError || len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != "héllo" {
		t.Fatalf("echo = %+v, %v", res, err)
	}
	res, err = env.Client.CallTool(ctx, "local", mcptest.ToolAdd, map[string]any{"a": 2, "b": 40})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "42" {
		t.Fatalf("add on local = %+v, %v", res, err)
	}
	res, err = env.Client.CallTool(ctx, "plain0", mcptest.ToolFail, nil)
	if err != nil || !res.IsError {
		t.Fatalf("fail = %+v, %v; want a result with isError", res, err)
	}
	_, err = env.Client.CallTool(ctx, "plain0", "nosuch", nil)
	wantAPIError(t, err, 404, "unknown_tool")
	_, err = env.Client.CallTool(ctx, "nope", mcptest.ToolEcho, nil)
	wantAPIError(t, err, 404, "unknown_server")
	_, err = env.Client.Tools(ctx, "nope")
	wantAPIError(t, err, 404, "unknown_server")
	_, err = env.Client.Tools(ctx, "off")
	wantAPIError(t, err, 409, "server_disabled")
	// Arguments must be a JSON object.
	err = env.Client.Do(ctx, "POST", "/mcp/plain0/tools/echo", []int{1}, nil)
	wantAPIError(t, err, 400, "bad_request")
	code, body := rawRequest(t, env, "POST", "/mcp/plain0/tools/echo", map[string]string{"Content-Type": "text/plain"}, `{"text":"x"}`)
	if code != 415 || !strings.Contains(body, "unsupported_media_type") {
		t.Fatalf("text/plain body: %d %s", code, body)
	}
	code, body = rawRequest(t, env, "POST", "/mcp/plain0/tools/echo", map[string]string{"Content-Type": "application/json"}, `{"text":"`+strings.Repeat("x", api.DefaultMaxBodyBytes)+`"}`)
	if code != 413 || !strings.Contains(body, "body_too_large") {
		t.Fatalf("oversized body: %d %.200s", code, body)
	}
	// Without a body the arguments are empty.
	code, body = rawRequest(t, env, "POST", "/mcp/plain0/tools/"+mcptest.ToolGrow, nil, "")
	if code != 200 || !strings.Contains(body, "added grown-") {
		t.Fatalf("grow without a body: %d %s", code, body)
	}
}

// rawRequest sends a request from 127.0.0.1 with extra headers (Host is
// honoured) and returns the status and body.
func rawRequest(t *testing.T, env *apitest.Env, method, path string, headers map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, env.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// redirectOf plays the browser up to the authorization server's redirect
// and returns the redirect URL without visiting the callback server.
func redirectOf(t *testing.T, ctx context.Context, authURL string) string {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, "GET", authURL, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		t.Fatalf("authorize answered %d with Location %q", resp.StatusCode, loc)
	}
	return loc
}

// portFreeWithin binds port (then releases it) within d, or fails.
func portFreeWithin(t *testing.T, port int, d time.Duration) {
	t.Helper()
	var err error
	if !testwait.Until(d, func() bool {
		var ln net.Listener
		if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			ln.Close()
		}
		return err == nil
	}) {
		t.Fatalf("callback port %d still busy %s after the last flow ended: %v", port, d, err)
	}
}

func portBusy(t *testing.T, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err == nil {
		ln.Close()
		t.Fatalf("callback port %d is not listening while a flow is pending", port)
	}
}

// events opens the event stream and returns a function waiting for the
// first event matching pred.
func events(t *testing.T, env *apitest.Env) func(what string, pred func(api.Event) bool) api.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	es, err := env.Client.Events(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ch := make(chan api.Event, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for {
			ev, err := es.Next()
			if err != nil {
				return
			}
			ch <- ev
		}
	}()
	t.Cleanup(func() { cancel(); es.Close(); <-done })
	return func(what string, pred func(api.Event) bool) api.Event {
		t.Helper()
		timeout := time.After(15 * time.Second)
		for {
			select {
			case ev, ok := <-ch:
				if !ok {
					t.Fatalf("event stream ended while waiting for %s", what)
				}
				if pred(ev) {
					return ev
				}
			case <-timeout:
				t.Fatalf("no %s event within 15s", what)
			}
		}
	}
}

func flowPhase(server, phase string) func(api.Event) bool {
	return func(ev api.Event) bool {
		return ev.Type == api.EventFlow && ev.Server == server && ev.Flow != nil && ev.Flow.Phase == phase
	}
}

func statusIs(server, status string) func(api.Event) bool {
	return func(ev api.Event) bool {
		return ev.Type == api.EventStatus && ev.Server == server && ev.Status != nil && ev.Status.State == status
	}
}

func TestAuthThroughCallbackServer(t *testing.T) {
	env := start(t, apitest.Options{Secure: 1})
	ctx := ctxT(t, 30*time.Second)
	next := events(t, env)
	as, err := env.Client.StartAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	if as.State == "" || !strings.HasPrefix(as.AuthorizationURL, env.AS.AuthorizationEndpoint()) || time.Until(as.ExpiresAt) < 4*time.Minute {
		t.Fatalf("auth start = %+v", as)
	}
	ev := next("flow started", flowPhase("secure0", api.FlowStarted))
	if ev.Flow.AuthorizationURL != as.AuthorizationURL {
		t.Errorf("started event URL differs")
	}
	st, _ := env.Client.Get(ctx, "secure0")
	if st.Auth.PendingFlows != 1 {
		t.Errorf("pendingFlows = %d, want 1", st.Auth.PendingFlows)
	}
	if all, err := env.Client.List(ctx); err != nil || all["secure0"].Auth.PendingFlows != 1 {
		t.Fatalf("list while pending = %+v, %v", all["secure0"].Auth, err)
	}
	portBusy(t, env.CallbackPort)
	if err := oauthtest.FollowRedirects(ctx, as.AuthorizationURL); err != nil {
		t.Fatal(err)
	}
	// The callback server answered the browser: the flow has ended.
	portFreeWithin(t, env.CallbackPort, 100*time.Millisecond)
	next("flow succeeded", flowPhase("secure0", api.FlowSucceeded))
	next("secure0 connected", statusIs("secure0", "connected"))
	if all, err := env.Client.List(ctx); err != nil || all["secure0"].Status != "connected" || all["secure0"].Auth.State != "authenticated" {
		t.Fatalf("list after sign-in = %+v, %v", all["secure0"], err)
	}
	st, err = env.Client.Get(ctx, "secure0")
	if err != nil || st.Status != "connected" || st.Auth.State != "authenticated" || st.Auth.ExpiresAt == nil || st.Auth.PendingFlows != 0 {
		t.Fatalf("after sign-in: %+v %+v, %v", st, st.Auth, err)
	}
	tools, err := env.Client.Tools(ctx, "secure0")
	if err != nil || len(tools) == 0 {
		t.Fatalf("tools of secure0 after sign-in: %v, %v", tools, err)
	}
}

func TestAuthCallbackRoute(t *testing.T) {
	env := start(t, apitest.Options{Secure: 2})
	ctx := ctxT(t, 30*time.Second)

	// {url}: the full redirect URL, delivered through the API.
	as, err := env.Client.StartAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	loc := redirectOf(t, ctx, as.AuthorizationURL)
	st, err := env.Client.Callback(ctx, "secure0", api.CallbackRequest{URL: loc})
	if err != nil || st.Status != "connected" || st.Auth.State != "authenticated" {
		t.Fatalf("callback {url} = %+v, %v", st, err)
	}
	portFreeWithin(t, env.CallbackPort, 100*time.Millisecond)
	// Delivering it again: the flow is over.
	_, err = env.Client.Callback(ctx, "secure0", api.CallbackRequest{URL: loc})
	wantAPIError(t, err, 400, "unknown_state")

	// {code, state, iss}.
	as, err = env.Client.StartAuth(ctx, "secure1")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(redirectOf(t, ctx, as.AuthorizationURL))
	q := u.Query()
	if q.Get("state") != as.State {
		t.Fatalf("redirect state %q, want %q", q.Get("state"), as.State)
	}
	// The state of secure1's flow is unknown for secure0.
	_, err = env.Client.Callback(ctx, "secure0", api.CallbackRequest{Code: q.Get("code"), State: as.State, Iss: q.Get("iss")})
	ce := wantAPIError(t, err, 400, "unknown_state")
	if !strings.Contains(ce.Message, "POST /mcp/secure0/auth") {
		t.Errorf("unknown_state message does not say how to start: %q", ce.Message)
	}
	st, err = env.Client.Callback(ctx, "secure1", api.CallbackRequest{Code: q.Get("code"), State: as.State, Iss: q.Get("iss")})
	if err != nil || st.Status != "connected" {
		t.Fatalf("callback {code,state} = %+v, %v", st, err)
	}
}

func TestAuthCallbackErrors(t *testing.T) {
	exe, _ := os.Executable()
	env := start(t, apitest.Options{Secure: 1, Plain: 1, Disabled: true, LocalCommand: []string{exe},
		LocalEnv: map[string]string{mcptest.EnvChild: mcptest.ModeStdio}, NoConnect: true})
	ctx := ctxT(t, 30*time.Second)
	cb := func(name string, req api.CallbackRequest) error {
		_, err := env.Client.Callback(ctx, name, req)
		return err
	}
	wantAPIError(t, cb("secure0", api.CallbackRequest{Code: "c", State: "nosuchstate"}), 400, "unknown_state")
	wantAPIError(t, cb("secure0", api.CallbackRequest{}), 400, "bad_request")
	wantAPIError(t, cb("secure0", api.CallbackRequest{Code: "c"}), 400, "no_pending_flow")
	wantAPIError(t, cb("secure0", api.CallbackRequest{URL: "http://127.0.0.1/cb?code=c&state=s", State: "s"}), 400, "bad_request")
	wantAPIError(t, cb("secure0", api.CallbackRequest{URL: "http://127.0.0.1/cb?state=s"}), 400, "bad_redirect")
	wantAPIError(t, cb("secure0", api.CallbackRequest{URL: "http://127.0.0.1/cb?code=c"}), 400, "bad_redirect")
	wantAPIError(t, env.Client.Do(ctx, "POST", "/mcp/secure0/auth/callback", map[string]string{"code": "c", "state": "s", "extra": "x"}, nil), 400, "bad_request")
	code, body := rawRequest(t, env, "POST", "/mcp/secure0/auth/callback", map[string]string{"Content-Type": "application/json"}, `{"code":`)
	if code != 400 || !strings.Contains(body, `"bad_request"`) {
		t.Fatalf("malformed JSON: %d %s", code, body)
	}
	wantAPIError(t, cb("local", api.CallbackRequest{Code: "c", State: "s"}), 400, "not_remote")
	wantAPIError(t, cb("nooauth", api.CallbackRequest{Code: "c", State: "s"}), 400, "oauth_disabled")
	wantAPIError(t, cb("off", api.CallbackRequest{Code: "c", State: "s"}), 409, "server_disabled")
	wantAPIError(t, cb("nope", api.CallbackRequest{Code: "c", State: "s"}), 404, "unknown_server")
	for _, name := range []string{"local", "nooauth", "off"} {
		_, err := env.Client.StartAuth(ctx, name)
		if err == nil {
			t.Errorf("POST /mcp/%s/auth succeeded", name)
		}
	}
	_, err := env.Client.StartAuth(ctx, "nope")
	wantAPIError(t, err, 404, "unknown_server")
	_, err = env.Client.Authenticate(ctx, "local")
	wantAPIError(t, err, 400, "not_remote")
	_, err = env.Client.Logout(ctx, "local")
	wantAPIError(t, err, 400, "not_remote")
	_, err = env.Client.Logout(ctx, "nope")
	wantAPIError(t, err, 404, "unknown_server")
	_, err = env.Client.Logout(ctx, "nooauth")
	wantAPIError(t, err, 400, "oauth_disabled")
	_, err = env.Client.Authenticate(ctx, "nope")
	wantAPIError(t, err, 404, "unknown_server")
	_, err = env.Client.Authenticate(ctx, "off")
	wantAPIError(t, err, 409, "server_disabled")
	// Logging out of a disabled server is allowed (it forgets its credentials).
	if st, err := env.Client.Logout(ctx, "off"); err != nil || st.Status != "disabled" {
		t.Errorf("logout of the disabled server = %+v, %v", st, err)
	}

	// The authorization server denied the request: the flow fails with its error.
	as, err := env.Client.StartAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Client.Callback(ctx, "secure0", api.CallbackRequest{URL: "http://127.0.0.1/cb?error=access_denied&error_description=no&state=" + as.State})
	ce := wantAPIError(t, err, 400, "authorization_denied")
	if !strings.Contains(ce.Message, "access_denied") {
		t.Errorf("message %q does not name the AS error", ce.Message)
	}
	portFreeWithin(t, env.CallbackPort, 100*time.Millisecond)

	// A wrong code: the token exchange fails.
	as, err = env.Client.StartAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Client.Callback(ctx, "secure0", api.CallbackRequest{Code: "forged", State: as.State, Iss: env.AS.IssuerURL})
	wantAPIError(t, err, 502, "upstream_error")
	portFreeWithin(t, env.CallbackPort, 100*time.Millisecond)
	st, _ := env.Client.Get(ctx, "secure0")
	if st.Auth.State != "not_authenticated" || st.Auth.PendingFlows != 0 {
		t.Errorf("after failed flows: %+v", st.Auth)
	}
}

func TestLogoutCancelsAndForgets(t *testing.T) {
	env := start(t, apitest.Options{Secure: 1})
	ctx := ctxT(t, 30*time.Second)
	next := events(t, env)
	as, err := env.Client.StartAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	if err := oauthtest.FollowRedirects(ctx, as.AuthorizationURL); err != nil {
		t.Fatal(err)
	}
	next("secure0 connected", statusIs("secure0", "connected"))
	// A second pending flow, then logout.
	as2, err := env.Client.StartAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	portBusy(t, env.CallbackPort)
	st, err := env.Client.Logout(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	portFreeWithin(t, env.CallbackPort, 100*time.Millisecond)
	if st.State != "disconnected" || st.Auth.State != "not_authenticated" || st.Auth.PendingFlows != 0 {
		t.Fatalf("after logout: %+v %+v", st, st.Auth)
	}
	ev := next("flow cancelled", flowPhase("secure0", api.FlowCancelled))
	if ev.Flow.State != as2.State {
		t.Errorf("cancelled flow state mismatch")
	}
	_, err = env.Client.Callback(ctx, "secure0", api.CallbackRequest{Code: "c", State: as2.State})
	wantAPIError(t, err, 400, "unknown_state")
	st, err = env.Client.Connect(ctx, "secure0")
	if err != nil || st.Status != "needs_auth" {
		t.Fatalf("reconnect after logout = %+v, %v", st, err)
	}
}

func TestFlowExpiry(t *testing.T) {
	env := start(t, apitest.Options{Secure: 1, FlowTTL: 300 * time.Millisecond})
	ctx := ctxT(t, 30*time.Second)
	next := events(t, env)
	as, err := env.Client.StartAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	portBusy(t, env.CallbackPort)
	next("flow expired", flowPhase("secure0", api.FlowExpired))
	portFreeWithin(t, env.CallbackPort, 100*time.Millisecond)
	if n := env.Server.PendingFlows(); n != 0 {
		t.Fatalf("%d flows pending after expiry", n)
	}
	_, err = env.Client.Callback(ctx, "secure0", api.CallbackRequest{Code: "c", State: as.State})
	wantAPIError(t, err, 400, "unknown_state")
	// authenticate also gives up after the flow timeout.
	_, err = env.Client.Authenticate(ctx, "secure0")
	wantAPIError(t, err, 504, "flow_expired")
	portFreeWithin(t, env.CallbackPort, 100*time.Millisecond)
}

func TestPendingCap(t *testing.T) {
	env := start(t, apitest.Options{Secure: 2, UnbrakedClock: true, NoConnect: true})
	ctx := ctxT(t, 60*time.Second)
	for i := range api.DefaultMaxPendingPerServer {
		if _, err := env.Client.StartAuth(ctx, "secure0"); err != nil {
			t.Fatalf("flow %d: %v", i, err)
		}
	}
	_, err := env.Client.StartAuth(ctx, "secure0")
	wantAPIError(t, err, 429, "too_many_pending_flows")
	if n := env.Server.PendingFlows(); n != api.DefaultMaxPendingPerServer {
		t.Fatalf("pending = %d", n)
	}
	// Another server is not affected.
	if _, err := env.Client.StartAuth(ctx, "secure1"); err != nil {
		t.Fatal(err)
	}
	// Cancelling frees the slots and the port.
	if _, err := env.Client.Logout(ctx, "secure0"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client.Logout(ctx, "secure1"); err != nil {
		t.Fatal(err)
	}
	portFreeWithin(t, env.CallbackPort, 100*time.Millisecond)
	if _, err := env.Client.StartAuth(ctx, "secure0"); err != nil {
		t.Fatal(err)
	}
}

func TestAttemptBrake(t *testing.T) {
	env := start(t, apitest.Options{Secure: 1, NoConnect: true})
	ctx := ctxT(t, 30*time.Second)
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = env.Client.StartAuth(ctx, "secure0")
	}
	wantAPIError(t, err, 429, "too_many_attempts")
}

func TestAuthenticateOpensBrowser(t *testing.T) {
	var opened chan string = make(chan string, 1)
	env := start(t, apitest.Options{Secure: 1, OpenURL: func(ctx context.Context, u string) error {
		opened <- u
		go oauthtest.FollowRedirects(context.Background(), u) //nolint:errcheck // the API result is checked
		return nil
	}})
	ctx := ctxT(t, 30*time.Second)
	st, err := env.Client.Authenticate(ctx, "secure0")
	if err != nil || st.Status != "connected" || st.Auth.State != "authenticated" {
		t.Fatalf("authenticate = %+v, %v", st, err)
	}
	if u := <-opened; !strings.HasPrefix(u, env.AS.AuthorizationEndpoint()) {
		t.Fatalf("opened %q", u)
	}
	portFreeWithin(t, env.CallbackPort, 100*time.Millisecond)
}

func TestAuthenticateWithoutBrowser(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(ctx context.Context, u string) error
		want string
	}{
		{"none", nil, "no browser is available"},
		{"fails", func(context.Context, string) error { return errors.New("xdg-open: not found") }, "xdg-open: not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := start(t, apitest.Options{Secure: 1, OpenURL: tc.open})
			ctx := ctxT(t, 30*time.Second)
			next := events(t, env)
			type result struct {
				st  *api.ServerStatus
				err error
			}
			done := make(chan result, 1)
			go func() {
				st, err := env.Client.Authenticate(ctx, "secure0")
				done <- result{st, err}
			}()
			ev := next("browser_failed", flowPhase("secure0", api.FlowBrowserFailed))
			if !strings.Contains(ev.Flow.Message, tc.want) || !strings.Contains(ev.Flow.Message, ev.Flow.AuthorizationURL) || ev.Flow.AuthorizationURL == "" {
				t.Fatalf("browser_failed event = %+v", ev.Flow)
			}
			// The user opens the URL from the event.
			if err := oauthtest.FollowRedirects(ctx, ev.Flow.AuthorizationURL); err != nil {
				t.Fatal(err)
			}
			r := <-done
			if r.err != nil || r.st.Status != "connected" {
				t.Fatalf("authenticate = %+v, %v", r.st, r.err)
			}
		})
	}
}

func TestEventsStream(t *testing.T) {
	env := start(t, apitest.Options{Plain: 1})
	ctx := ctxT(t, 30*time.Second)
	next := events(t, env)
	next("initial status", statusIs("plain0", "connected"))
	if _, err := env.Client.Disconnect(ctx, "plain0"); err != nil {
		t.Fatal(err)
	}
	next("disconnected", statusIs("plain0", "disconnected"))
	if _, err := env.Client.Connect(ctx, "plain0"); err != nil {
		t.Fatal(err)
	}
	next("connecting", statusIs("plain0", "connecting"))
	next("connected", statusIs("plain0", "connected"))
	if _, err := env.Client.CallTool(ctx, "plain0", mcptest.ToolGrow, map[string]any{"name": "sprout"}); err != nil {
		t.Fatal(err)
	}
	ev := next("tools", func(ev api.Event) bool { return ev.Type == api.EventTools && ev.Server == "plain0" })
	if !slices.Contains(ev.Status.Tools, "sprout") {
		t.Fatalf("tools event = %v", ev.Status.Tools)
	}
	tools, err := env.Client.Tools(ctx, "plain0")
	if err != nil || !slices.ContainsFunc(tools, func(t *mcp.Tool) bool { return t.Name == "sprout" }) {
		t.Fatalf("tools after grow: %v", err)
	}
}

func TestSafetyGuards(t *testing.T) {
	env := start(t, apitest.Options{Plain: 1})
	_, port, _ := net.SplitHostPort(env.Addr)
	for _, host := range []string{"evil.example:" + port, "127.0.0.1.nip.io:" + port, "localhost:1", "10.0.0.1:" + port} {
		code, body := rawRequest(t, env, "GET", "/mcp", map[string]string{"Host": host}, "")
		if code != 403 || !strings.Contains(body, "forbidden_host") {
			t.Errorf("Host %s: %d %s", host, code, body)
		}
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port} {
		if code, body := rawRequest(t, env, "GET", "/mcp", map[string]string{"Host": host}, ""); code != 200 {
			t.Errorf("Host %s: %d %s", host, code, body)
		}
	}
	// Cross-site browser requests on state-changing routes.
	for _, h := range []map[string]string{
		{"Origin": "http://evil.example"},
		{"Origin": "null"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Sec-Fetch-Site": "none"},
		{"Origin": "http://localhost:1"},
	} {
		for _, route := range []string{"POST /mcp/plain0/disconnect", "POST /mcp/plain0/connect", "POST /mcp/plain0/auth", "DELETE /mcp/plain0/auth", "POST /mcp/plain0/auth/callback", "POST /mcp/plain0/auth/authenticate", "POST /mcp/plain0/tools/echo"} {
			method, path, _ := strings.Cut(route, " ")
			code, body := rawRequest(t, env, method, path, h, "")
			if code != 403 || !strings.Contains(body, "cross_site_request") {
				t.Errorf("%s with %v: %d %s", route, h, code, body)
			}
		}
	}
	st, _ := env.Client.Get(context.Background(), "plain0")
	if st.Status != "connected" {
		t.Fatalf("a refused request changed the state: %s", st.Status)
	}
	// A same-origin browser request passes.
	code, body := rawRequest(t, env, "POST", "/mcp/plain0/connect", map[string]string{"Origin": env.URL, "Sec-Fetch-Site": "same-origin"}, "")
	if code != 200 {
		t.Fatalf("same-origin POST: %d %s", code, body)
	}
	// Unknown routes and methods answer with the envelope.
	code, body = rawRequest(t, env, "GET", "/nope", nil, "")
	if code != 404 || !strings.Contains(body, `"not_found"`) {
		t.Errorf("GET /nope: %d %s", code, body)
	}
	req, _ := http.NewRequest("PUT", env.URL+"/mcp/plain0", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" || !strings.Contains(string(data), "method_not_allowed") {
		t.Errorf("PUT /mcp/plain0: %d Allow=%q %s", resp.StatusCode, resp.Header.Get("Allow"), data)
	}
	hs := env.Server.HTTPServer()
	if hs.ReadHeaderTimeout == 0 || hs.ReadTimeout == 0 || hs.WriteTimeout == 0 || hs.IdleTimeout == 0 || hs.MaxHeaderBytes == 0 {
		t.Errorf("server timeouts not set: %+v", hs)
	}
}

func TestToken(t *testing.T) {
	const token = "s3cret-token-value"
	env := start(t, apitest.Options{Plain: 1, Token: token})
	ctx := ctxT(t, 10*time.Second)
	if _, err := env.Client.List(ctx); err != nil {
		t.Fatalf("with the token: %v", err)
	}
	for _, tok := range []string{"", "wrong", token + "x"} {
		c := client.New(env.URL, client.Options{Token: tok})
		_, err := c.List(ctx)
		ce := wantAPIError(t, err, 401, "unauthorized")
		if strings.Contains(ce.Message, token) {
			t.Fatal("the error message leaks the token")
		}
		_, err = c.Events(ctx)
		wantAPIError(t, err, 401, "unauthorized")
	}
	code, _ := rawRequest(t, env, "GET", "/mcp", map[string]string{"Authorization": "Basic " + basic("any", token)}, "")
	if code != 200 {
		t.Errorf("Basic auth with the token: %d", code)
	}
	req, _ := http.NewRequest("GET", env.URL+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("status page without token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// Non-loopback addresses need a token.
	if err := api.CheckAddr("0.0.0.0:8080", ""); !errors.Is(err, api.ErrTokenRequired) {
		t.Errorf("CheckAddr(0.0.0.0, no token) = %v", err)
	}
	if err := api.CheckAddr("0.0.0.0:8080", token); err != nil {
		t.Errorf("CheckAddr(0.0.0.0, token) = %v", err)
	}
	for _, a := range []string{"127.0.0.1:0", "localhost:80", "[::1]:9"} {
		if err := api.CheckAddr(a, ""); err != nil {
			t.Errorf("CheckAddr(%s) = %v", a, err)
		}
	}
	if err := api.CheckAddr("127.0.0.1", ""); err == nil {
		t.Error("CheckAddr without port succeeded")
	}
	_, err = api.New(api.Options{Addr: "192.0.2.1:80", Config: env.Config, Manager: env.Manager, Engine: env.Engine, Callbacks: env.Callbacks})
	if !errors.Is(err, api.ErrTokenRequired) {
		t.Errorf("New on a non-loopback address without token = %v", err)
	}
}

func basic(user, pw string) string {
	req, _ := http.NewRequest("GET", "http://x/", nil)
	req.SetBasicAuth(user, pw)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func TestOpenAPI(t *testing.T) {
	env := start(t, apitest.Options{NoConnect: true})
	doc, err := env.Client.OpenAPI(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v", doc["openapi"])
	}
	paths := doc["paths"].(map[string]any)
	routes := api.Routes()
	documented := 0
	for _, r := range routes {
		method, pattern, _ := strings.Cut(r, " ")
		pattern = strings.TrimSuffix(pattern, "{$}")
		p, ok := paths[pattern].(map[string]any)
		if !ok {
			t.Errorf("route %s is not in openapi.json", r)
			continue
		}
		op, ok := p[strings.ToLower(method)].(map[string]any)
		if !ok {
			t.Errorf("route %s has no operation in openapi.json", r)
			continue
		}
		documented++
		if _, ok := op["responses"].(map[string]any); !ok {
			t.Errorf("%s has no responses", r)
		}
	}
	n := 0
	for _, p := range paths {
		for k := range p.(map[string]any) {
			if k != "parameters" {
				n++
			}
		}
	}
	if n != documented || documented != len(routes) {
		t.Errorf("openapi.json documents %d operations, the server has %d routes", n, len(routes))
	}
}
