package mcptest_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/mcptest"
)

// TestRecording: a Recording handler reports each request (method, the
// JSON-RPC method of a POST, the session, the peer) in the order they come,
// hands the POST body on unchanged, and UntilDelete returns them up to the
// DELETE, or what came with a *NoDeleteError when no DELETE comes in time.
func TestRecording(t *testing.T) {
	hits := make(chan mcptest.Hit, 8)
	var bodies []string
	ts := httptest.NewServer(mcptest.Recording(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b)) // requests are sequential
	}), hits))
	defer ts.Close()
	do := func(method, body, session string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, ts.URL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		res, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	const post = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	do(http.MethodPost, post, "")
	do(http.MethodGet, "", "S")
	do(http.MethodPost, "not json", "S")

	got, err := mcptest.UntilDelete(hits, 50*time.Millisecond)
	var nd *mcptest.NoDeleteError
	if !errors.As(err, &nd) || len(got) != 3 || !slices.Equal(nd.Got, got) {
		t.Fatalf("UntilDelete without a DELETE = %v, %v; want the three hits and a *NoDeleteError", got, err)
	}
	want := []mcptest.Hit{{Method: "POST", RPC: "tools/list"}, {Method: "GET", Session: "S"}, {Method: "POST", Session: "S"}}
	for i := range want {
		want[i].Remote = got[i].Remote
		if got[i] != want[i] || got[i].Remote == "" {
			t.Errorf("hit %d = %+v, want %+v (with a peer address)", i, got[i], want[i])
		}
	}
	if want := []string{post, "", "not json"}; !slices.Equal(bodies, want) {
		t.Errorf("the handler behind got bodies %q, want %q", bodies, want)
	}

	do(http.MethodPost, post, "S")
	do(http.MethodDelete, "", "S")
	got, err = mcptest.UntilDelete(hits, 10*time.Second)
	if err != nil || len(got) != 2 || got[1].Method != http.MethodDelete || got[1].Session != "S" {
		t.Errorf("UntilDelete = %v, %v; want the POST and the DELETE last", got, err)
	}
}

// TestHoldDelete: StartHTTP with Hits reports a DELETE as it arrives and,
// with HoldDelete, answers it only once HoldDelete is closed.
func TestHoldDelete(t *testing.T) {
	hits := make(chan mcptest.Hit, 8)
	hold := make(chan struct{})
	s, err := mcptest.StartHTTP(mcptest.HTTPOptions{Hits: hits, HoldDelete: hold})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodDelete, s.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Mcp-Session-Id", "S")
	answered := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		answered <- err
	}()
	got, err := mcptest.UntilDelete(hits, 10*time.Second)
	if err != nil || len(got) != 1 || got[0].Session != "S" {
		t.Fatalf("UntilDelete = %v, %v; want the one DELETE naming session S", got, err)
	}
	select {
	case err := <-answered:
		t.Fatalf("the held DELETE was answered (%v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(hold)
	select {
	case err := <-answered:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the DELETE was not answered after HoldDelete closed")
	}
}
