package oauth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/mcplink/mcplink/oauth"
)

// passedOn is a base transport (http.DefaultTransport's clone) that notes
// which *http.Request it was handed.
type passedOn struct {
	mu   sync.Mutex
	last *http.Request
	next http.RoundTripper
}

func (p *passedOn) RoundTrip(req *http.Request) (*http.Response, error) {
	p.mu.Lock()
	p.last = req
	p.mu.Unlock()
	return p.next.RoundTrip(req)
}

// The transport sends the caller's request itself when it has nothing to
// add (no token, every configured and Header-hook header present), and a
// clone carrying what it adds otherwise; either way the caller's request is
// left as it was, and the server sees the caller's value of a header it
// set itself.
func TestTransportSendsRequestAsIsWhenNothingToAdd(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
	}))
	defer srv.Close()
	hook := http.Header{"Mcp-Protocol-Version": {"2025-06-18"}}
	for _, tc := range []struct {
		name    string
		opts    oauth.TransportOptions
		set     map[string]string // on the caller's request
		asIs    bool
		arrives map[string]string
	}{
		{"nothing configured", oauth.TransportOptions{}, nil, true, map[string]string{"X-Api-Key": ""}},
		{"configured header missing", oauth.TransportOptions{Headers: map[string]string{"X-Api-Key": testAPIKey}}, nil, false,
			map[string]string{"X-Api-Key": testAPIKey}},
		{"configured header present", oauth.TransportOptions{Headers: map[string]string{"x-api-key": testAPIKey}},
			map[string]string{"X-Api-Key": "mine"}, true, map[string]string{"X-Api-Key": "mine"}},
		{"hook header missing", oauth.TransportOptions{Header: func() http.Header { return hook }}, nil, false,
			map[string]string{"Mcp-Protocol-Version": "2025-06-18"}},
		{"hook header present", oauth.TransportOptions{Header: func() http.Header { return hook }},
			map[string]string{"Mcp-Protocol-Version": "2024-11-05"}, true, map[string]string{"Mcp-Protocol-Version": "2024-11-05"}},
		{"hook has nothing yet", oauth.TransportOptions{Header: func() http.Header { return nil }}, nil, true,
			map[string]string{"Mcp-Protocol-Version": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := &passedOn{next: http.DefaultTransport.(*http.Transport).Clone()}
			opts := tc.opts
			opts.ServerURL, opts.Base = srv.URL, base
			tr, err := oauth.NewTransport(opts)
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.set {
				req.Header.Set(k, v)
			}
			before := req.Header.Clone()
			resp, err := tr.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if len(req.Header) != len(before) {
				t.Errorf("the caller's request headers became %v, were %v", req.Header, before)
			}
			for k, v := range before {
				if req.Header.Get(k) != v[0] {
					t.Errorf("the caller's %s became %q, was %q", k, req.Header.Get(k), v[0])
				}
			}
			base.mu.Lock()
			sentAsIs := base.last == req
			base.mu.Unlock()
			if sentAsIs != tc.asIs {
				t.Errorf("sent the caller's request itself: %v, want %v", sentAsIs, tc.asIs)
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range tc.arrives {
				if got.Get(k) != v || len(got.Values(k)) > 1 {
					t.Errorf("the server got %s %q, want %q", k, got.Values(k), v)
				}
			}
		})
	}
}

// SameOrigin's fast path (the configured spelling) and its normalised path
// agree.
func TestTransportSameOriginSpellings(t *testing.T) {
	tr, err := oauth.NewTransport(oauth.TransportOptions{ServerURL: "https://MCP.example.com/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	for u, want := range map[string]bool{
		"https://MCP.example.com/other":   true,
		"https://mcp.example.com:443/mcp": true,
		"HTTPS://mcp.EXAMPLE.com/":        true,
		"http://MCP.example.com/mcp":      false,
		"https://MCP.example.com:8443/":   false,
		"https://mcp.example.org/mcp":     false,
	} {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := tr.SameOrigin(req.URL); got != want {
			t.Errorf("SameOrigin(%s) = %v, want %v", u, got, want)
		}
	}
}
