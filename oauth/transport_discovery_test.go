package oauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestDiscoveryRedirectsKeepHeaders: discovery of a server whose protected
// resource metadata and authorization server metadata URLs redirect to
// another origin. The probe (a POST) carries the configured header to the
// server's origin only; the metadata GETs follow the redirects without it.
func TestDiscoveryRedirectsKeepHeaders(t *testing.T) {
	var other headerLog
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other.add(r)
		http.NotFound(w, r)
	}))
	defer b.Close()
	var home headerLog
	var a *httptest.Server
	a = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		home.add(r)
		if r.Method == http.MethodPost {
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+a.URL+`/.well-known/oauth-protected-resource/mcp"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		// Every metadata document "moved" to another origin.
		http.Redirect(w, r, b.URL+r.URL.Path, http.StatusPermanentRedirect)
	}))
	defer a.Close()
	eng, entry := storedHandler(t, a.URL+"/mcp")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, _ = eng.Discover(ctx, entry, nil) // it fails: the metadata is nowhere

	if len(other.all()) < 2 {
		t.Fatalf("the other origin got %d metadata requests, want the redirected PRM (and AS) fetches", len(other.all()))
	}
	if l := other.leaked(); len(l) > 0 {
		t.Errorf("discovery sent credentials to another origin: %q", l)
	}
	probed := false
	for _, h := range home.all() {
		if h.Get("X-Api-Key") == testAPIKey {
			probed = true
		}
	}
	if !probed {
		t.Errorf("the server's origin never got the configured header")
	}
}

// TestDiscoveryProbeRedirectRefused: the probe (a POST) redirected to
// another origin is refused, and that origin sees nothing.
func TestDiscoveryProbeRedirectRefused(t *testing.T) {
	var other headerLog
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { other.add(r) }))
	defer b.Close()
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, b.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer a.Close()
	eng, entry := storedHandler(t, a.URL+"/mcp")
	_, err := eng.Discover(t.Context(), entry, nil)
	if err == nil {
		t.Fatal("discovery through a cross-origin redirect of the probe succeeded")
	}
	for _, h := range other.all() {
		if h.Get("Content-Type") == "application/json" {
			t.Errorf("the probe POST reached the other origin")
		}
	}
	if l := other.leaked(); len(l) > 0 {
		t.Errorf("credentials sent to another origin: %q", l)
	}
}
