package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcplink/mcplink/api"
	"github.com/mcplink/mcplink/api/apitest"
	"github.com/mcplink/mcplink/api/client"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/cli"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/manager"
)

func TestOpencodeStatus(t *testing.T) {
	for in, want := range map[manager.Status]string{
		manager.StatusConnected:               "connected",
		manager.StatusDisabled:                "disabled",
		manager.StatusFailed:                  "failed",
		manager.StatusNeedsAuth:               "needs_auth",
		manager.StatusNeedsClientRegistration: "needs_client_registration",
		manager.StatusConnecting:              "disabled",
		manager.StatusDisconnected:            "disabled",
		manager.StatusUntrusted:               "failed",
	} {
		if got := api.OpencodeStatus(in); got != want {
			t.Errorf("OpencodeStatus(%s) = %s, want %s", in, got, want)
		}
	}
}

// errorBody decodes an error answer and checks both shapes carry the same message.
func errorBody(t *testing.T, status int, body string, wantStatus int, wantName, wantCode string) api.ErrorBody {
	t.Helper()
	var eb api.ErrorBody
	if err := json.Unmarshal([]byte(body), &eb); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if status != wantStatus || eb.Name != wantName || eb.Error.Code != wantCode || eb.Data.Message == "" || eb.Data.Message != eb.Error.Message {
		t.Fatalf("got %d %s, want %d %s %s", status, body, wantStatus, wantName, wantCode)
	}
	return eb
}

// TestOpencodeShapes: connect and disconnect answer true, DELETE .../auth
// {success: true, ...}, errors carry opencode's {name, data: {message}}.
func TestOpencodeShapes(t *testing.T) {
	exe, _ := os.Executable()
	env := start(t, apitest.Options{Plain: 1, Secure: 1, Disabled: true, LocalCommand: []string{exe},
		LocalEnv: map[string]string{mcptest.EnvChild: mcptest.ModeStdio}})
	ctx := ctxT(t, 30*time.Second)
	js := map[string]string{"Content-Type": "application/json"}
	for _, path := range []string{"/mcp/plain0/disconnect", "/mcp/plain0/connect"} {
		if code, body := rawRequest(t, env, "POST", path, nil, ""); code != 200 || body != "true\n" {
			t.Errorf("POST %s = %d %q, want 200 true", path, code, body)
		}
	}
	// The connect attempt's outcome is in the status, not the answer.
	if code, body := rawRequest(t, env, "POST", "/mcp/secure0/connect", nil, ""); code != 200 || body != "true\n" {
		t.Errorf("connect secure0 = %d %q", code, body)
	}
	if st, err := env.Client.Get(ctx, "secure0"); err != nil || st.Status != "needs_auth" || st.State != "needs_auth" {
		t.Errorf("secure0 = %+v, %v", st, err)
	}
	code, body := rawRequest(t, env, "DELETE", "/mcp/secure0/auth", nil, "")
	var lo map[string]any
	if err := json.Unmarshal([]byte(body), &lo); err != nil || code != 200 || lo["success"] != true || lo["status"] != "disabled" || lo["state"] != "disconnected" || lo["logout"] == nil {
		t.Errorf("DELETE /mcp/secure0/auth = %d %s", code, body)
	}
	// A disconnected server is disabled for opencode; mcplink's state says more.
	all, err := env.Client.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := all["secure0"]; s.Status != "disabled" || s.State != "disconnected" {
		t.Errorf("secure0 after logout = %+v", s)
	}
	for name, s := range all {
		switch s.Status {
		case "connected", "disabled", "needs_auth":
		case "failed", "needs_client_registration":
			if s.Error == "" {
				t.Errorf("%s is %s without an error", name, s.Status)
			}
		default:
			t.Errorf("%s has status %q, not one of opencode's five", name, s.Status)
		}
	}

	code, body = rawRequest(t, env, "POST", "/mcp/nope/connect", nil, "")
	eb := errorBody(t, code, body, 404, "NotFoundError", "unknown_server")
	if !strings.Contains(eb.Data.Message, "plain0") {
		t.Errorf("unknown server message %q lists no servers", eb.Data.Message)
	}
	code, body = rawRequest(t, env, "POST", "/mcp/local/auth", nil, "")
	errorBody(t, code, body, 400, "BadRequest", "not_remote")
	code, body = rawRequest(t, env, "POST", "/mcp/nooauth/auth/authenticate", nil, "")
	errorBody(t, code, body, 400, "BadRequest", "oauth_disabled")
	code, body = rawRequest(t, env, "POST", "/mcp/secure0/auth/callback", js, `{"code": 5}`)
	errorBody(t, code, body, 400, "BadRequest", "bad_request")
	code, body = rawRequest(t, env, "POST", "/mcp/off/connect", nil, "")
	errorBody(t, code, body, 409, "UnknownError", "server_disabled")
}

// TestCallbackWithCodeOnly: opencode sends {code} alone; the newest pending
// flow of the server supplies the state; an older flow stays pending for
// its own redirect.
func TestCallbackWithCodeOnly(t *testing.T) {
	env := start(t, apitest.Options{Secure: 2})
	ctx := ctxT(t, 30*time.Second)
	older, err := env.Client.StartAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	newer, err := env.Client.StartAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(redirectOf(t, ctx, newer.AuthorizationURL))
	st, err := env.Client.Callback(ctx, "secure0", api.CallbackRequest{Code: u.Query().Get("code")})
	if err != nil || st.Status != "connected" || st.Auth.State != "authenticated" {
		t.Fatalf("callback {code} = %+v, %v", st, err)
	}
	if st.Auth.PendingFlows != 1 {
		t.Errorf("pending flows after the newest finished = %d, want 1 (the older one)", st.Auth.PendingFlows)
	}
	// The older flow is still there for its own state (with iss, checked).
	u, _ = url.Parse(redirectOf(t, ctx, older.AuthorizationURL))
	st, err = env.Client.Callback(ctx, "secure0", api.CallbackRequest{Code: u.Query().Get("code"), State: older.State, Iss: u.Query().Get("iss")})
	if err != nil || st.Status != "connected" || st.Auth.PendingFlows != 0 {
		t.Fatalf("callback {code, state, iss} = %+v, %v", st, err)
	}
	// No pending flow: the code alone has nowhere to go.
	_, err = env.Client.Callback(ctx, "secure1", api.CallbackRequest{Code: "c"})
	ce := wantAPIError(t, err, 400, "no_pending_flow")
	if !strings.Contains(ce.Message, "POST /mcp/secure1/auth") {
		t.Errorf("no_pending_flow message %q does not say how to start", ce.Message)
	}
	// A wrong code fails the token exchange; the flow is over.
	if _, err := env.Client.StartAuth(ctx, "secure1"); err != nil {
		t.Fatal(err)
	}
	_, err = env.Client.Callback(ctx, "secure1", api.CallbackRequest{Code: "forged"})
	wantAPIError(t, err, 502, "upstream_error")
	if st, _ := env.Client.Get(ctx, "secure1"); st.Auth.PendingFlows != 0 || st.Status != "needs_auth" {
		t.Errorf("secure1 after a forged code = %+v %+v", st, st.Auth)
	}
}

// TestAddServer: POST /mcp validates the entry like the config loader,
// writes it to the config file with comments kept, runs it (routes, tools,
// events), replaces a configured server of the same name, and refuses bad
// entries without touching the file.
func TestAddServer(t *testing.T) {
	env := start(t, apitest.Options{Plain: 2, Add: true})
	ctx := ctxT(t, 30*time.Second)
	orig, err := os.ReadFile(env.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	const comment = "// my servers, commented"
	withComment := bytes.Replace(orig, []byte("{"), []byte("{\n  "+comment), 1)
	if err := os.WriteFile(env.ConfigFile, withComment, 0o600); err != nil {
		t.Fatal(err)
	}
	next := events(t, env)
	plain1 := env.Plain[1].URL

	for _, c := range []struct {
		body, code, msg string
	}{
		{`{}`, "bad_request", `"name"`},
		{`{"name": "x"}`, "bad_request", `"config"`},
		{`{"name": "x", "config": {"type": "remote"}, "extra": 1}`, "bad_request", "extra"},
		{`{"name": "x", "config": {"type": "remote"}}`, "invalid_config", `needs "url"`},
		{`{"name": "x", "config": {"type": "local"}}`, "invalid_config", `"command"`},
		{`{"name": "x", "config": {"type": "sse", "url": "http://127.0.0.1:9/"}}`, "invalid_config", `"type"`},
		{`{"name": "x", "config": {"type": "remote", "url": "ftp://127.0.0.1/mcp"}}`, "invalid_config", "ftp://"},
		{`{"name": "x", "config": {"type": "remote", "url": "http://127.0.0.1:9/", "bogus": 1}}`, "invalid_config", "bogus"},
		{`{"name": "x", "config": {"type": "remote", "url": "http://127.0.0.1:9/", "oauth": "yes"}}`, "invalid_config", `"oauth"`},
		{`{"name": "x", "config": {"type": "remote", "url": "http://127.0.0.1:9/", "oauth": {"clientID": "c"}}}`, "invalid_config", "clientID"},
		{`{"name": "x", "config": {"type": "remote", "url": "http://127.0.0.1:9/", "headers": {"A": "{env:NOT_SET_HERE}"}}}`, "invalid_config", "NOT_SET_HERE"},
		{`{"name": "x", "config": {"type": "local", "command": ["x"], "url": "http://127.0.0.1:9/"}}`, "invalid_config", `"url"`},
		{`{"name": "x", "config": {"type": "local", "command": ["x"], "timeout": -5}}`, "invalid_config", "timeout"},
		{`{"name": "x", "config": {"type": "local", "command": ["cat", "{file:secret.txt}"]}}`, "invalid_config", "absolute path"},
	} {
		code, body := rawRequest(t, env, "POST", "/mcp", map[string]string{"Content-Type": "application/json"}, c.body)
		eb := errorBody(t, code, body, 400, "BadRequest", c.code)
		if !strings.Contains(eb.Data.Message, c.msg) {
			t.Errorf("POST /mcp %s: message %q does not mention %s", c.body, eb.Data.Message, c.msg)
		}
	}
	if data, _ := os.ReadFile(env.ConfigFile); !bytes.Equal(data, withComment) {
		t.Fatalf("refused adds changed the config file:\n%s", data)
	}

	all, err := env.Client.Add(ctx, "fresh", map[string]any{"type": "remote", "url": plain1, "oauth": false, "timeout": 5000})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all["fresh"].Status != "connected" || all["plain0"].Status != "connected" {
		t.Fatalf("POST /mcp = %+v", all)
	}
	next("fresh connected", statusIs("fresh", "connected"))
	res, err := env.Client.CallTool(ctx, "fresh", mcptest.ToolEcho, map[string]any{"text": "hi"})
	if err != nil || res.IsError {
		t.Fatalf("calling a tool of the added server: %+v, %v", res, err)
	}
	data, err := os.ReadFile(env.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(comment)) || !bytes.Contains(data, []byte(`"fresh"`)) || !bytes.Contains(data, []byte(plain1)) {
		t.Fatalf("config file after POST /mcp:\n%s", data)
	}

	// Adding a configured name replaces it, in the file and running.
	all, err = env.Client.Add(ctx, "plain0", map[string]any{"type": "remote", "url": plain1, "oauth": false, "enabled": false})
	if err != nil {
		t.Fatal(err)
	}
	if p := all["plain0"]; p.Status != "disabled" || p.State != "disabled" || p.URL != plain1 {
		t.Fatalf("plain0 after replacing it = %+v", p)
	}
	_, err = env.Client.Connect(ctx, "plain0")
	wantAPIError(t, err, 409, "server_disabled")
	// Added again: the earlier added server is replaced too.
	if _, err := env.Client.Add(ctx, "fresh", map[string]any{"type": "remote", "url": env.Plain[0].URL, "oauth": false}); err != nil {
		t.Fatal(err)
	}
	if st, err := env.Client.Get(ctx, "fresh"); err != nil || st.URL != env.Plain[0].URL || st.Status != "connected" {
		t.Fatalf("fresh after adding it again = %+v, %v", st, err)
	}
	_, err = env.Client.Connect(ctx, "nope")
	ce := wantAPIError(t, err, 404, "unknown_server")
	if !strings.Contains(ce.Message, "fresh") {
		t.Errorf("unknown server message %q does not name the added server", ce.Message)
	}
}

func TestAddUnavailable(t *testing.T) {
	env := start(t, apitest.Options{NoConnect: true})
	code, body := rawRequest(t, env, "POST", "/mcp", map[string]string{"Content-Type": "application/json"},
		`{"name": "x", "config": {"type": "remote", "url": "http://127.0.0.1:9/"}}`)
	errorBody(t, code, body, http.StatusBadRequest, "BadRequest", "add_unavailable")
}

// syncWriter is an io.Writer that reports the API URL once serve prints it.
type syncWriter struct {
	mu   sync.Mutex
	b    bytes.Buffer
	urlc chan string
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if m := listeningRE.FindStringSubmatch(w.b.String()); m != nil && w.urlc != nil {
		w.urlc <- m[1]
		w.urlc = nil
	}
	return len(p), nil
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestServeAddTarget: `mcplink serve` (in-process) adds servers to the
// project file when there is one and it is trusted (keeping it trusted),
// refuses with the fix while it is untrusted, and uses the global file when
// there is no project file.
func TestServeAddTarget(t *testing.T) {
	plain, err := mcptest.StartHTTP(mcptest.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	dir := t.TempDir()
	proj := filepath.Join(dir, "proj")
	noProj := filepath.Join(dir, "elsewhere")
	for _, d := range []string{proj, noProj} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	projFile := filepath.Join(proj, "mcplink.json")
	if err := os.WriteFile(projFile, []byte("{\n  // the project's servers\n  \"mcp\": {}\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"XDG_CONFIG_HOME": filepath.Join(dir, "cfg"), "MCPLINK_DATA_DIR": filepath.Join(dir, "data"),
		"MCPLINK_CREDENTIALS_STORE": "file"}
	serve := func(workDir string) *client.Client {
		ctx, cancel := context.WithCancel(context.Background())
		errW := &syncWriter{urlc: make(chan string, 1)}
		urlc := errW.urlc
		f := cli.NewFactory(strings.NewReader(""), io.Discard, errW)
		f.Getenv = func(k string) string { return vars[k] }
		f.WorkDir, f.HomeDir, f.OpenURL = workDir, dir, nil
		done := make(chan int, 1)
		go func() { done <- cli.Run(ctx, f, []string{"serve", "--addr", "127.0.0.1:0", "--no-connect"}) }()
		t.Cleanup(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exited %d:\n%s", code, errW.String())
			}
		})
		select {
		case u := <-urlc:
			return client.New(u, client.Options{})
		case code := <-done:
			t.Fatalf("serve exited %d:\n%s", code, errW.String())
		case <-time.After(20 * time.Second):
			t.Fatalf("serve did not listen:\n%s", errW.String())
		}
		return nil
	}
	ctx := ctxT(t, 30*time.Second)
	entry := map[string]any{"type": "remote", "url": plain.URL, "oauth": false}

	c := serve(proj)
	_, err = c.Add(ctx, "one", entry)
	ce := wantAPIError(t, err, 400, "add_refused")
	if !strings.Contains(ce.Message, projFile) || !strings.Contains(ce.Message, `"mcplink trust" in `+proj) {
		t.Errorf("untrusted project file: %q", ce.Message)
	}
	ts := config.NewTrustStore(vars["MCPLINK_DATA_DIR"])
	data, _ := os.ReadFile(projFile)
	if _, err := ts.Trust(projFile, data); err != nil {
		t.Fatal(err)
	}
	all, err := c.Add(ctx, "one", entry)
	if err != nil || all["one"].Status != "connected" {
		t.Fatalf("add to the trusted project file = %+v, %v", all, err)
	}
	data, _ = os.ReadFile(projFile)
	if !strings.Contains(string(data), "// the project's servers") || !strings.Contains(string(data), `"one"`) {
		t.Errorf("project file after add:\n%s", data)
	}
	if st, err := ts.Check(projFile, data); err != nil || st != config.Trusted {
		t.Errorf("the project file is no longer trusted after add: %v, %v", st, err)
	}

	c = serve(noProj)
	if _, err := c.Add(ctx, "two", entry); err != nil {
		t.Fatal(err)
	}
	global := filepath.Join(vars["XDG_CONFIG_HOME"], "mcplink", "mcplink.json")
	if data, err := os.ReadFile(global); err != nil || !strings.Contains(string(data), `"two"`) {
		t.Errorf("global file after add: %s, %v", data, err)
	}
}

// TestTimeoutStatusNamesNoFlag: a server that does not answer within its
// "timeout" is failed, and the status error an API client gets (opencode's
// "error" field) names the entry's "timeout" and its file — never the
// command line's --timeout, which an API client cannot pass.
func TestTimeoutStatusNamesNoFlag(t *testing.T) {
	hung, err := mcptest.StartHTTP(mcptest.HTTPOptions{Hang: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hung.Close)
	env := start(t, apitest.Options{Plain: 1, Add: true})
	ctx := ctxT(t, 30*time.Second)
	all, err := env.Client.Add(ctx, "hung", map[string]any{"type": "remote", "url": hung.URL, "oauth": false, "timeout": 300})
	if err != nil {
		t.Fatal(err)
	}
	st := all["hung"]
	if st.Status != "failed" || st.State != "failed" {
		t.Fatalf("hung server = %+v, want failed", st)
	}
	want := fmt.Sprintf(`no response within 300ms: raise "timeout" (in milliseconds) on the MCP server entry "hung" in %s`, env.ConfigFile)
	if st.Error != want {
		t.Errorf("error = %q\nwant    %q", st.Error, want)
	}
	if strings.Contains(st.Error, "--") {
		t.Errorf("the API's error names a command-line flag: %q", st.Error)
	}
	got, err := env.Client.Get(ctx, "hung")
	if err != nil || got.Error != st.Error {
		t.Errorf("GET /mcp/hung error = %q (%v), want the same as POST's", got.Error, err)
	}
}

// TestCallbackWithPaddedCode: {code} is a code, whatever it holds. An
// authorization server whose codes end in "==" (base64 padding) completes
// through opencode's {code} (it used to be taken for a redirect URL and
// refused); something that cannot be a code is bad_code and leaves the flow
// pending; {url} with such a code is a redirect as before.
func TestCallbackWithPaddedCode(t *testing.T) {
	as, err := oauthtest.Start(oauthtest.Options{PaddedCodes: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	env := start(t, apitest.Options{Secure: 2, AS: as})
	ctx := ctxT(t, 30*time.Second)

	f, err := env.Client.StartAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(redirectOf(t, ctx, f.AuthorizationURL))
	code := u.Query().Get("code")
	if !strings.HasSuffix(code, "==") {
		t.Fatalf("the AS issued %q, want a code ending in ==", code)
	}
	_, err = env.Client.Callback(ctx, "secure0", api.CallbackRequest{Code: "not a code"})
	wantAPIError(t, err, 400, "bad_code")
	st, err := env.Client.Callback(ctx, "secure0", api.CallbackRequest{Code: code})
	if err != nil || st.Status != "connected" || st.Auth.State != "authenticated" {
		t.Fatalf("callback {code: %q} = %+v, %v", code, st, err)
	}
	// The same code again: its flow is over.
	_, err = env.Client.Callback(ctx, "secure0", api.CallbackRequest{Code: code})
	wantAPIError(t, err, 400, "no_pending_flow")

	f, err = env.Client.StartAuth(ctx, "secure1")
	if err != nil {
		t.Fatal(err)
	}
	st, err = env.Client.Callback(ctx, "secure1", api.CallbackRequest{URL: redirectOf(t, ctx, f.AuthorizationURL)})
	if err != nil || st.Status != "connected" {
		t.Fatalf("callback {url} with a padded code = %+v, %v", st, err)
	}
}
