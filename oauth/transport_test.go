package oauth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/limit"
	"github.com/mcplink/mcplink/oauth"
)

// Secrets the tests give the transport; none may reach another origin.
const (
	testToken  = "tok-secret-7f3a"
	testAPIKey = "key-secret-91c2"
)

// headerLog records the credential-bearing headers of every request a
// server received.
type headerLog struct {
	mu   sync.Mutex
	reqs []http.Header
}

func (l *headerLog) add(r *http.Request) {
	l.mu.Lock()
	l.reqs = append(l.reqs, r.Header.Clone())
	l.mu.Unlock()
}

func (l *headerLog) all() []http.Header {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]http.Header(nil), l.reqs...)
}

// leaked returns the credentials found in any request l recorded.
func (l *headerLog) leaked() []string {
	var out []string
	for _, h := range l.all() {
		for _, k := range []string{"Authorization", "DPoP", "X-Api-Key", "Mcp-Session-Id"} {
			if v := h.Get(k); v != "" {
				out = append(out, k+": "+v)
			}
		}
		for _, vs := range h {
			for _, v := range vs {
				if strings.Contains(v, testToken) || strings.Contains(v, testAPIKey) {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// storedHandler returns the engine's non-interactive handler for a server
// at serverURL, with a valid access token stored for it in a real file store.
func storedHandler(t *testing.T, serverURL string) (*oauth.Engine, *config.Entry) {
	t.Helper()
	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	entry := &config.Entry{Name: "s", Type: config.TypeRemote, Enabled: true, URL: serverURL,
		Headers: map[string]string{"X-Api-Key": testAPIKey}, OAuth: &config.OAuth{}}
	err = store.Update(t.Context(), "s", func(*authstore.Credentials) (*authstore.Credentials, error) {
		return &authstore.Credentials{ServerURL: serverURL, Token: &authstore.Token{
			AccessToken: testToken, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour), IssuedAt: time.Now()}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return oauth.New(oauth.Options{Store: store}), entry
}

// newTransport is the transport for entry with its stored token.
func newTransport(t *testing.T, eng *oauth.Engine, entry *config.Entry, base http.RoundTripper) *oauth.Transport {
	t.Helper()
	h, err := eng.Handler(entry)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := oauth.NewTransport(oauth.TransportOptions{ServerURL: entry.URL, Headers: entry.Headers, Handler: h, Base: base})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestTransportCrossOriginRedirect: the configured server (one port of
// 127.0.0.1) redirects with 307 and 308 to another origin (another port)
// that records headers. The configured origin gets the token and the
// configured header; a GET is followed to the other origin without them;
// a POST is refused with a *RedirectError naming both URLs, and the other
// origin never sees it.
func TestTransportCrossOriginRedirect(t *testing.T) {
	var other headerLog
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other.add(r)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer b.Close()
	var home headerLog
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		home.add(r)
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		http.Redirect(w, r, b.URL+"/landed", code)
	}))
	defer a.Close()
	eng, entry := storedHandler(t, a.URL+"/mcp")
	hc := newTransport(t, eng, entry, nil).Client()

	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			before := len(other.all())
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, fmt.Sprintf("%s/mcp?code=%d", a.URL, code), nil)
			req.Header.Set("Mcp-Session-Id", "sess-1")
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("GET redirected with %d: %v", code, err)
			}
			resp.Body.Close()
			if got := len(other.all()); got != before+1 {
				t.Fatalf("the other origin got %d requests, want the redirected GET", got-before)
			}
			req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, fmt.Sprintf("%s/mcp?code=%d", a.URL, code), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
			_, err = hc.Do(req)
			var re *oauth.RedirectError
			if !errors.As(err, &re) {
				t.Fatalf("POST redirected with %d to another origin: err %v, want a *RedirectError", code, err)
			}
			if !strings.HasPrefix(re.From, a.URL) || !strings.HasPrefix(re.To, b.URL) || !strings.Contains(err.Error(), a.URL) || !strings.Contains(err.Error(), b.URL) {
				t.Errorf("error %q does not name both URLs", err)
			}
			if got := len(other.all()); got != before+1 {
				t.Errorf("the refused POST reached the other origin")
			}
		})
	}
	if l := other.leaked(); len(l) > 0 {
		t.Errorf("the other origin received credentials: %q", l)
	}
	sawToken := false
	for _, h := range home.all() {
		if h.Get("Authorization") == "Bearer "+testToken && h.Get("X-Api-Key") == testAPIKey {
			sawToken = true
		}
	}
	if !sawToken {
		t.Errorf("the configured origin never got the token and the configured header: %v", home.all())
	}
}

// TestTransportStripsCopiedCredentials: Go's http.Client copies the first
// request's headers (Authorization too, to a subdomain) to redirect
// targets. Whatever the caller put on a request to another origin, the
// transport sends it without Authorization, DPoP, Mcp-Session-Id or a
// configured header name; default ports count as the same origin.
func TestTransportStripsCopiedCredentials(t *testing.T) {
	var other headerLog
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { other.add(r) }))
	defer b.Close()
	eng, entry := storedHandler(t, "http://127.0.0.1:1/mcp")
	tr := newTransport(t, eng, entry, nil)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, b.URL+"/x", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("DPoP", "proof")
	req.Header.Set("x-api-key", testAPIKey)
	req.Header.Set("Mcp-Session-Id", "s")
	req.Header.Set("Accept", "application/json")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if l := other.leaked(); len(l) > 0 {
		t.Errorf("another origin received %q", l)
	}
	if got := other.all()[0].Get("Accept"); got != "application/json" {
		t.Errorf("Accept = %q: headers that are not credentials should pass", got)
	}

	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"https://Example.com/mcp", "https://example.com:443/other", true},
		{"http://example.com/", "http://example.com:80/", true},
		{"https://example.com/", "http://example.com/", false},
		{"https://example.com/", "https://api.example.com/", false},
		{"https://example.com/", "https://example.com:8443/", false},
		{"http://[::1]:8080/", "http://[::1]:8080/x", true},
	} {
		tr, err := oauth.NewTransport(oauth.TransportOptions{ServerURL: c.a})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := http.NewRequest(http.MethodGet, c.b, nil)
		if got := tr.SameOrigin(u.URL); got != c.same {
			t.Errorf("SameOrigin(%s, %s) = %t, want %t", c.a, c.b, got, c.same)
		}
	}
}

// TestTransportHTTPSToHTTP: a TLS server redirects to a plain-http one. A
// GET is followed without credentials; a POST is refused.
func TestTransportHTTPSToHTTP(t *testing.T) {
	var plain headerLog
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { plain.add(r) }))
	defer b.Close()
	var tlsLog headerLog
	a := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tlsLog.add(r)
		http.Redirect(w, r, b.URL+"/plain", http.StatusTemporaryRedirect)
	}))
	defer a.Close()
	eng, entry := storedHandler(t, a.URL+"/mcp")
	hc := newTransport(t, eng, entry, a.Client().Transport).Client()

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, a.URL+"/mcp", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, a.URL+"/mcp", strings.NewReader("{}"))
	var re *oauth.RedirectError
	if _, err := hc.Do(req); !errors.As(err, &re) {
		t.Fatalf("POST https→http: %v, want a *RedirectError", err)
	}
	if n := len(plain.all()); n != 1 {
		t.Fatalf("the http server got %d requests, want 1 (the GET)", n)
	}
	if l := plain.leaked(); len(l) > 0 {
		t.Errorf("credentials sent over http to another origin: %q", l)
	}
	if got := tlsLog.all()[0].Get("Authorization"); got != "Bearer "+testToken {
		t.Errorf("the https server got Authorization %q, want the token", got)
	}
}

// TestTransportMaxRedirects: ten redirects are followed, an eleventh is
// refused with a *RedirectError.
func TestTransportMaxRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
		if n == 0 {
			_, _ = io.WriteString(w, "done")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/r/%d", n-1), http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	tr, err := oauth.NewTransport(oauth.TransportOptions{ServerURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	hc := tr.Client()
	resp, err := hc.Get(srv.URL + "/r/10")
	if err != nil {
		t.Fatalf("10 redirects: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "done" {
		t.Fatalf("after 10 redirects: %q", body)
	}
	_, err = hc.Get(srv.URL + "/r/11")
	var re *oauth.RedirectError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "10 redirects") {
		t.Fatalf("11 redirects: %v, want a *RedirectError after 10", err)
	}
}

// TestTransportBoundsBodies: a 1 GiB JSON body and a 1 GiB SSE event,
// generated as they are sent, fail with a *limit.TooLargeError once the
// bound is crossed; reading stops there (the server sees the connection
// go). An SSE stream of many small events goes on past the bound.
func TestTransportBoundsBodies(t *testing.T) {
	const gib = 1 << 30
	chunk := []byte(strings.Repeat("x", 64<<10))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"x":"`)
		case "/sse":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: ")
		case "/many":
			w.Header().Set("Content-Type", "text/event-stream")
			ev := []byte("data: " + strings.Repeat("y", 1000) + "\r\n\r\n")
			for range 3000 { // ~3 MB in 1 KB events, past a 1 MiB bound
				if _, err := w.Write(ev); err != nil {
					return
				}
			}
			return
		}
		for sent := 0; sent < gib; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return // the client stopped reading
			}
		}
	}))
	defer srv.Close()
	var told []*limit.TooLargeError
	tr, err := oauth.NewTransport(oauth.TransportOptions{ServerURL: srv.URL, MaxMessageSize: 1 << 20,
		OnTooLarge: func(e *limit.TooLargeError) { told = append(told, e) }})
	if err != nil {
		t.Fatal(err)
	}
	hc := tr.Client()
	for _, c := range []struct{ path, what string }{{"/json", "JSON response body"}, {"/sse", "SSE event"}} {
		resp, err := hc.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		var tl *limit.TooLargeError
		if !errors.As(err, &tl) || tl.What != c.what || tl.Limit != 1<<20 {
			t.Fatalf("%s: read %d bytes, err %v; want a *limit.TooLargeError for %q", c.path, n, err, c.what)
		}
		if n > 1<<20 {
			t.Errorf("%s: %d bytes read past the 1 MiB bound", c.path, n)
		}
	}
	if len(told) != 2 {
		t.Errorf("OnTooLarge told %d times, want 2", len(told))
	}
	resp, err := hc.Get(srv.URL + "/many")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n < 3<<20-1<<19 {
		t.Fatalf("a stream of small events: %d bytes, err %v; want all of it", n, err)
	}
}

// TestTransportAuthorizeOnce: a 401 from the configured origin runs the
// handler's Authorize once, through the SignIn hook, and the request is
// retried once; an Authorize that fails comes back as *AuthorizeError
// wrapping the handler's error (here ErrNeedsAuth: nothing can refresh).
func TestTransportAuthorizeOnce(t *testing.T) {
	var posts int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			mu.Lock()
			posts++
			mu.Unlock()
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	eng, entry := storedHandler(t, srv.URL+"/mcp")
	h, err := eng.Handler(entry)
	if err != nil {
		t.Fatal(err)
	}
	var signIns []int
	tr, err := oauth.NewTransport(oauth.TransportOptions{ServerURL: entry.URL, Headers: entry.Headers, Handler: h,
		SignIn: func(ctx context.Context, status int, authorize func(context.Context) error) error {
			signIns = append(signIns, status)
			return authorize(ctx)
		}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, entry.URL, strings.NewReader("{}"))
	_, err = tr.Client().Do(req)
	var ae *oauth.AuthorizeError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Challenge == nil || ae.Challenge.Error != "invalid_token" {
		t.Fatalf("err %v, want an *AuthorizeError for the 401 with its challenge", err)
	}
	if !errors.Is(err, oauth.ErrNeedsAuth) {
		t.Errorf("err %v does not match ErrNeedsAuth", err)
	}
	if len(signIns) != 1 || signIns[0] != http.StatusUnauthorized {
		t.Errorf("SignIn calls %v, want one for the 401", signIns)
	}
	if posts != 1 {
		t.Errorf("server got %d requests with the token, want 1 (Authorize failed: no retry)", posts)
	}
}
