package api_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/api"
	"github.com/mcplink/mcplink/api/apitest"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/testwait"
)

// deviceStarted matches the started event of the device flow with userCode.
func deviceStarted(server, userCode string) func(api.Event) bool {
	return func(ev api.Event) bool {
		return flowPhase(server, api.FlowStarted)(ev) && ev.Flow.UserCode == userCode
	}
}

// devicePhase matches a flow event of the device flow with userCode.
func devicePhase(server, phase, userCode string) func(api.Event) bool {
	return func(ev api.Event) bool {
		return flowPhase(server, phase)(ev) && ev.Flow.UserCode == userCode
	}
}

func TestDeviceAuth(t *testing.T) {
	env := start(t, apitest.Options{Secure: 1, DeviceFlow: true})
	ctx := ctxT(t, 30*time.Second)
	next := events(t, env)
	next("initial status", statusIs("secure0", "needs_auth"))
	begin := time.Now()
	ds, err := env.Client.StartDeviceAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	if ds.UserCode == "" || ds.VerificationURI != env.AS.DeviceVerificationURI() ||
		!strings.HasPrefix(ds.VerificationURIComplete, env.AS.DeviceVerificationURI()+"?user_code=") ||
		ds.ExpiresAt.Before(begin.Add(4*time.Minute)) || ds.ExpiresAt.After(time.Now().Add(api.DefaultFlowTTL)) {
		t.Fatalf("device auth start = %+v", ds)
	}
	ev := next("device flow started", deviceStarted("secure0", ds.UserCode))
	if ev.Flow.VerificationURI != ds.VerificationURI || ev.Flow.VerificationURIComplete != ds.VerificationURIComplete ||
		!strings.Contains(ev.Flow.Message, ds.UserCode) || !strings.Contains(ev.Flow.Message, ds.VerificationURI) || ev.Flow.State != "" {
		t.Fatalf("started event = %+v", ev.Flow)
	}
	st, err := env.Client.Get(ctx, "secure0")
	if err != nil || st.Status != "needs_auth" || st.Auth.PendingFlows != 1 {
		t.Fatalf("while polling: %+v %+v, %v", st, st.Auth, err)
	}
	// The user enters the code on another device.
	if !env.AS.ApproveDevice(ds.UserCode) {
		t.Fatalf("the authorization server has no pending request with code %s", ds.UserCode)
	}
	ev = next("device flow succeeded", devicePhase("secure0", api.FlowSucceeded, ds.UserCode))
	if !strings.Contains(ev.Flow.Message, "signed in to secure0") {
		t.Errorf("succeeded event = %+v", ev.Flow)
	}
	next("secure0 connected", statusIs("secure0", "connected"))
	st, err = env.Client.Get(ctx, "secure0")
	if err != nil || st.Status != "connected" || st.Auth.State != "authenticated" || st.Auth.PendingFlows != 0 {
		t.Fatalf("after the device sign-in: %+v %+v, %v", st, st.Auth, err)
	}
	if tools, err := env.Client.Tools(ctx, "secure0"); err != nil || len(tools) == 0 {
		t.Fatalf("tools of secure0 after the device sign-in: %v, %v", tools, err)
	}
	if n := env.Server.PendingFlows(); n != 0 {
		t.Fatalf("%d flows pending after the sign-in", n)
	}
}

func TestDeviceAuthLogoutCancels(t *testing.T) {
	env := start(t, apitest.Options{Secure: 1, DeviceFlow: true})
	ctx := ctxT(t, 30*time.Second)
	next := events(t, env)
	ds, err := env.Client.StartDeviceAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	next("device flow started", deviceStarted("secure0", ds.UserCode))
	// The API polls (every second) while the user has not approved.
	testwait.For(t, 5*time.Second, "the API's first poll of the token endpoint", func() bool { return env.AS.Stats().DevicePolls > 0 })
	testwait.DeviceGrantRuns(t)
	st, err := env.Client.Logout(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	if st.Auth.PendingFlows != 0 || st.Status == "connected" {
		t.Fatalf("after logout: %+v %+v", st, st.Auth)
	}
	ev := next("device flow cancelled", devicePhase("secure0", api.FlowCancelled, ds.UserCode))
	if !strings.Contains(ev.Flow.Message, "cancelled") {
		t.Errorf("cancelled event = %+v", ev.Flow)
	}
	// Approving now changes nothing: nobody polls for the code any more.
	if !env.AS.ApproveDevice(ds.UserCode) {
		t.Fatal("the device request vanished from the authorization server")
	}
	testwait.NoSignInWork(t, 5*time.Second)
	if st, err := env.Client.Get(ctx, "secure0"); err != nil || st.Status == "connected" || st.Auth.State != "not_authenticated" {
		t.Fatalf("a cancelled device flow signed in: %+v %+v, %v", st, st.Auth, err)
	}
}

func TestDeviceAuthDeniedAndExpired(t *testing.T) {
	env := start(t, apitest.Options{Secure: 1, DeviceFlow: true, FlowTTL: 2 * time.Second})
	ctx := ctxT(t, 30*time.Second)
	next := events(t, env)

	ds, err := env.Client.StartDeviceAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(ds.ExpiresAt) > 2*time.Second {
		t.Errorf("expiresAt %s is after the flow timeout of 2s", ds.ExpiresAt)
	}
	if !env.AS.DenyDevice(ds.UserCode) {
		t.Fatal("no pending device request to deny")
	}
	ev := next("device flow failed", devicePhase("secure0", api.FlowFailed, ds.UserCode))
	if !strings.Contains(ev.Flow.Message, "access_denied") {
		t.Errorf("failed event = %+v, want the AS's access_denied", ev.Flow)
	}

	ds, err = env.Client.StartDeviceAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	ev = next("device flow expired", devicePhase("secure0", api.FlowExpired, ds.UserCode))
	if !strings.Contains(ev.Flow.Message, "start a new one") {
		t.Errorf("expired event = %+v", ev.Flow)
	}
	if n := env.Server.PendingFlows(); n != 0 {
		t.Fatalf("%d flows pending after expiry", n)
	}
	if st, err := env.Client.Get(ctx, "secure0"); err != nil || st.Status != "needs_auth" || st.Auth.PendingFlows != 0 {
		t.Fatalf("after the failed flows: %+v, %v", st, err)
	}
}

func TestDeviceAuthErrors(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := start(t, apitest.Options{Secure: 1, Plain: 1, Disabled: true, LocalCommand: []string{exe},
		LocalEnv: map[string]string{mcptest.EnvChild: mcptest.ModeStdio}, NoConnect: true})
	ctx := ctxT(t, 30*time.Second)
	_, err = env.Client.StartDeviceAuth(ctx, "secure0")
	ce := wantAPIError(t, err, 400, "device_not_supported")
	for _, want := range []string{"device authorization grant", "device_authorization_endpoint", "POST /mcp/secure0/auth"} {
		if !strings.Contains(ce.Message, want) {
			t.Errorf("device_not_supported message %q does not contain %q", ce.Message, want)
		}
	}
	if n := env.Server.PendingFlows(); n != 0 {
		t.Fatalf("%d flows pending after a refused device flow", n)
	}
	for name, want := range map[string]struct {
		status int
		code   string
	}{
		"nope":    {404, "unknown_server"},
		"local":   {400, "not_remote"},
		"nooauth": {400, "oauth_disabled"},
		"off":     {409, "server_disabled"},
	} {
		_, err := env.Client.StartDeviceAuth(ctx, name)
		wantAPIError(t, err, want.status, want.code)
	}
	// The refused attempt released its slot: a browser flow still starts.
	if _, err := env.Client.StartAuth(ctx, "secure0"); err != nil {
		t.Fatal(err)
	}
}

func TestDeviceAuthPendingCap(t *testing.T) {
	env := start(t, apitest.Options{Secure: 1, DeviceFlow: true, MaxPending: 2, NoConnect: true})
	ctx := ctxT(t, 30*time.Second)
	if _, err := env.Client.StartAuth(ctx, "secure0"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client.StartDeviceAuth(ctx, "secure0"); err != nil {
		t.Fatal(err)
	}
	_, err := env.Client.StartDeviceAuth(ctx, "secure0")
	wantAPIError(t, err, 429, "too_many_pending_flows")
	_, err = env.Client.StartAuth(ctx, "secure0")
	wantAPIError(t, err, 429, "too_many_pending_flows")
	if st, err := env.Client.Get(ctx, "secure0"); err != nil || st.Auth.PendingFlows != 2 {
		t.Fatalf("pending flows = %+v, %v; want 2 (one browser, one device)", st.Auth, err)
	}
}

// TestCloseEndsFlowsAndStreams closes the Server while a browser flow and a
// device flow are pending and an event stream is open: the stream ends, both
// flows end as cancelled (seen on the hub, which outlives the streams until
// Close returns), the device polling stops and no goroutine of the Server is
// left.
func TestCloseEndsFlowsAndStreams(t *testing.T) {
	env := start(t, apitest.Options{Secure: 1, DeviceFlow: true})
	ctx := ctxT(t, 30*time.Second)
	es, err := env.Client.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	as, err := env.Client.StartAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := env.Client.StartDeviceAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	testwait.DeviceGrantRuns(t)
	hub, unsubscribe := env.Server.Events().Subscribe(1024)
	defer unsubscribe()
	closed := make(chan error, 1)
	go func() { closed <- env.Server.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10s")
	}
	for {
		if _, err := es.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("reading events: %v", err)
		}
	}
	var browserCancelled, deviceCancelled bool
	for ev := range hub { // Close closed the hub
		if flowPhase("secure0", api.FlowCancelled)(ev) {
			browserCancelled = browserCancelled || ev.Flow.State == as.State
			deviceCancelled = deviceCancelled || ev.Flow.UserCode == ds.UserCode
		}
	}
	if !browserCancelled || !deviceCancelled {
		t.Errorf("cancelled events: browser %v, device %v; want both", browserCancelled, deviceCancelled)
	}
	portFreeWithin(t, env.CallbackPort, 100*time.Millisecond)
	if n := env.Server.PendingFlows(); n != 0 {
		t.Fatalf("%d flows pending after Close", n)
	}
	// Every goroutine of the Server (flows, watchers, forwarding, the event
	// stream's handler) has ended.
	if !testwait.Until(5*time.Second, func() bool { return serverGoroutines() == "" }) {
		t.Fatalf("goroutines of the Server left 5s after Close:\n%s", serverGoroutines())
	}
	testwait.NoSignInWork(t, 5*time.Second)
}

// serverGoroutines returns the stacks of goroutines running code of
// api.Server, except Serve and the HTTP server it runs (apitest stops them later).
func serverGoroutines() string {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
	var out []string
	for _, g := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(g, "mcplink/api.(*Server)") && !strings.Contains(g, "mcplink/api.(*Server).Serve") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
