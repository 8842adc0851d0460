package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEntryForMapsContextLikeAUserConfig(t *testing.T) {
	pre := &scenarioEnv{
		Name:      "auth/pre-registration",
		ServerURL: "http://localhost:1234/mcp",
		Context:   map[string]any{"client_id": "id-1", "client_secret": "s3cret"},
	}
	e, err := entryFor(pre, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if e.URL != pre.ServerURL || e.OAuth.ClientID != "id-1" || e.OAuth.ClientSecret != "s3cret" || e.OAuth.ClientMetadataURL != "" {
		t.Fatalf("pre-registered entry = %+v, oauth %+v", e, e.OAuth)
	}

	cimd, err := entryFor(&scenarioEnv{Name: "auth/basic-cimd", ServerURL: "http://localhost:1234/mcp"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cimd.OAuth.ClientID != "" || cimd.OAuth.ClientMetadataURL != clientMetadataURL {
		t.Fatalf("CIMD entry: oauth %+v", cimd.OAuth)
	}

	dyn, err := entryFor(&scenarioEnv{Name: "auth/offline-access-scope", ServerURL: "http://localhost:1234/mcp"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if dyn.OAuth.ClientID != "" || dyn.OAuth.ClientMetadataURL != "" {
		t.Fatalf("entry without context: oauth %+v", dyn.OAuth)
	}
	lo, hi := callbackPortRange()
	if p := dyn.OAuth.CallbackPort; p < lo || p >= hi {
		t.Fatalf("callback port %d outside [%d, %d)", p, lo, hi)
	}
}

func TestCallbackPortSkipsBusyPort(t *testing.T) {
	first, err := callbackPort("auth/x")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(first)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	second, err := callbackPort("auth/x")
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatalf("callbackPort returned busy port %d", first)
	}
}

// newBrowser returns a browser expecting the redirect on callbackHost and
// the context its failures cancel.
func newBrowser(t *testing.T, callbackHost string) (*browser, context.Context) {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	t.Cleanup(func() { cancel(nil) })
	return &browser{client: &http.Client{Timeout: 5 * time.Second}, callback: callbackHost, fail: cancel}, ctx
}

func TestBrowserFollowsRedirectToCallback(t *testing.T) {
	codes := make(chan string, 1)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		codes <- r.URL.Query().Get("code")
	}))
	defer cb.Close()
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, cb.URL+"/mcp/oauth/callback?code=abc&state=s", http.StatusFound)
	}))
	defer as.Close()

	b, ctx := newBrowser(t, strings.TrimPrefix(cb.URL, "http://"))
	if err := b.open(ctx, as.URL+"/authorize"); err != nil {
		t.Fatal(err)
	}
	b.wait()
	select {
	case got := <-codes:
		if got != "abc" {
			t.Fatalf("callback got code %q, want abc", got)
		}
	default:
		t.Fatal("the redirect never reached the callback")
	}
	if err := context.Cause(ctx); err != nil {
		t.Fatalf("browser failed the scenario: %v", err)
	}
}

func TestBrowserFailsFastWithoutRedirect(t *testing.T) {
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad request", http.StatusBadRequest)
	}))
	defer as.Close()
	b, ctx := newBrowser(t, "127.0.0.1:1")
	if err := b.open(ctx, as.URL+"/authorize"); err != nil {
		t.Fatal(err)
	}
	b.wait()
	err := context.Cause(ctx)
	if err == nil || !strings.Contains(err.Error(), "did not redirect to the callback") {
		t.Fatalf("cause = %v, want a did-not-redirect error", err)
	}
}

func TestBrowserErrorHidesAuthorizationCode(t *testing.T) {
	// A callback port nobody listens on: the redirect's GET fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+dead+"/mcp/oauth/callback?code=SECRET-CODE&state=s", http.StatusFound)
	}))
	defer as.Close()
	b, ctx := newBrowser(t, dead)
	if err := b.open(ctx, as.URL+"/authorize"); err != nil {
		t.Fatal(err)
	}
	b.wait()
	err = context.Cause(ctx)
	if err == nil {
		t.Fatal("no error for an unreachable callback")
	}
	if strings.Contains(err.Error(), "SECRET-CODE") || !strings.Contains(err.Error(), dead) {
		t.Fatalf("error %q leaks the code or misses the callback address", err)
	}
}
