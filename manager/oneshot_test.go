package manager_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/manager"
)

// recordingServer is a real go-sdk Streamable HTTP server on 127.0.0.1 that
// reports every request on hits as it arrives (mcptest.Recording). With
// holdDelete set, a DELETE is not handled (nor answered) until holdDelete is
// closed or the client goes away.
func recordingServer(t *testing.T, holdDelete chan struct{}) (string, <-chan mcptest.Hit) {
	t.Helper()
	hits := make(chan mcptest.Hit, 64)
	s, err := mcptest.StartHTTP(mcptest.HTTPOptions{Hits: hits, HoldDelete: holdDelete})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s.URL, hits
}

// untilDelete collects hits until the DELETE arrives (within 10 s) and
// returns them all, the DELETE last.
func untilDelete(t *testing.T, hits <-chan mcptest.Hit) []mcptest.Hit {
	t.Helper()
	got, err := mcptest.UntilDelete(hits, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func remoteConfig(url string) *config.Config {
	return &config.Config{Servers: map[string]*config.Entry{
		"s": {Name: "s", Type: config.TypeRemote, URL: url, Enabled: true, OAuthDisabled: true},
	}}
}

// TestOneShotSendsOnlyTheProtocolMinimum: a one-shot manager's connect and
// close, around one tools/call, cost the server initialize, the initialized
// notification, tools/list, tools/call and the session DELETE — no
// standalone GET stream — and the DELETE reuses a kept-alive connection (a
// new one costs a handshake on a real network).
func TestOneShotSendsOnlyTheProtocolMinimum(t *testing.T) {
	url, hits := recordingServer(t, nil)
	m := manager.New(remoteConfig(url), manager.Options{OneShot: true})
	st, err := m.Connect(t.Context(), "s")
	if err != nil || st.Status != manager.StatusConnected || len(st.Tools) == 0 {
		t.Fatalf("connect: %+v %v", st, err)
	}
	// The caller cancels the call's context as soon as it has the answer
	// (as the CLI does): the kept-alive connection must survive it.
	cctx, cancel := context.WithCancel(t.Context())
	res, err := m.CallTool(cctx, "s", mcptest.ToolEcho, map[string]any{"text": "hi"})
	cancel()
	if err != nil || res.IsError {
		t.Fatalf("call: %+v %v", res, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	got := untilDelete(t, hits)
	var rpcs []string
	for _, h := range got {
		switch h.Method {
		case http.MethodGet:
			t.Errorf("a one-shot manager opened the standalone GET stream: %v", got)
		case http.MethodPost:
			rpcs = append(rpcs, h.RPC)
		}
	}
	if want := []string{"initialize", "notifications/initialized", "tools/list", "tools/call"}; !slices.Equal(rpcs, want) {
		t.Errorf("POSTs = %q, want %q", rpcs, want)
	}
	del := got[len(got)-1]
	if del.Session == "" {
		t.Errorf("the DELETE named no session: %+v", del)
	}
	if !slices.ContainsFunc(got[:len(got)-1], func(h mcptest.Hit) bool { return h.Remote == del.Remote }) {
		t.Errorf("the DELETE opened a new connection: %v", got)
	}
}

// TestLongLivedKeepsStandaloneStream: without OneShot (serve, the TUI) the
// standalone GET stream is opened, so server-initiated notifications arrive
// between requests; go-sdk opens it before it sends the initialized
// notification.
func TestLongLivedKeepsStandaloneStream(t *testing.T) {
	url, hits := recordingServer(t, nil)
	m := manager.New(remoteConfig(url), manager.Options{})
	defer m.Close()
	if st, err := m.Connect(t.Context(), "s"); err != nil || st.Status != manager.StatusConnected {
		t.Fatalf("connect: %+v %v", st, err)
	}
	var got []mcptest.Hit
	for len(got) < 4 {
		select {
		case h := <-hits:
			got = append(got, h)
		default:
			t.Fatalf("connect returned after %v; want initialize, GET, initialized, tools/list", got)
		}
	}
	if got[1].Method != http.MethodGet || got[2].RPC != "notifications/initialized" {
		t.Errorf("requests = %v, want the GET stream between initialize and initialized", got)
	}
}

// TestOneShotCloseDoesNotWaitForTheDeleteAnswer: a server that never
// answers the DELETE does not hold a one-shot Close (bounded by one round
// trip), and it did receive the DELETE.
func TestOneShotCloseDoesNotWaitForTheDeleteAnswer(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	url, hits := recordingServer(t, hold)
	m := manager.New(remoteConfig(url), manager.Options{OneShot: true})
	if st, err := m.Connect(t.Context(), "s"); err != nil || st.Status != manager.StatusConnected {
		t.Fatalf("connect: %+v %v", st, err)
	}
	closed := make(chan struct{})
	go func() { _ = m.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the answer to the session DELETE")
	}
	untilDelete(t, hits)
}
