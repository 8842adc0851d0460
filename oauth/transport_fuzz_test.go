package oauth_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/limit"
	"github.com/mcplink/mcplink/oauth"
)

// sink is the network below the transport in the fuzz test: it keeps the
// headers of the request that would have gone out.
type sink struct{ got http.Header }

func (s *sink) RoundTrip(r *http.Request) (*http.Response, error) {
	s.got = r.Header.Clone()
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

// sameOriginRef is the fuzz test's own reading of "same origin": scheme,
// host (case-insensitive) and port, with 80/443 for an absent port.
func sameOriginRef(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		return map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// FuzzRedirectPolicy: for any configured URL, redirect target and method,
// a request to a target of another origin leaves the transport without
// Authorization, DPoP or a configured header, whatever the request carried
// (Go's client copies them onto redirects), and one to the same origin
// gets the configured header; the redirect policy lets a request that is
// not a GET or HEAD reach another origin never, and no request an 11th hop.
func FuzzRedirectPolicy(f *testing.F) {
	f.Add("https://mcp.example.com/mcp", "https://evil.example.com/x", "POST", uint8(1))
	f.Add("https://mcp.example.com/mcp", "https://MCP.example.com:443/y", "GET", uint8(3))
	f.Add("http://127.0.0.1:8080/mcp", "http://127.0.0.1:8081/mcp", "GET", uint8(10))
	f.Add("https://example.com/", "http://example.com/", "GET", uint8(11))
	f.Add("https://a.example/", "https://sub.a.example/", "DELETE", uint8(2))
	f.Add("http://[::1]:80/", "http://[::1]/", "HEAD", uint8(0))
	f.Fuzz(func(t *testing.T, configured, target, method string, hops uint8) {
		cu, err := url.Parse(configured)
		if err != nil || cu.Host == "" || (cu.Scheme != "http" && cu.Scheme != "https") {
			return
		}
		req, err := http.NewRequest(http.MethodGet, target, nil)
		if err != nil || req.URL.Host == "" || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
			return
		}
		s := &sink{}
		tr, err := oauth.NewTransport(oauth.TransportOptions{ServerURL: configured, Base: s,
			Headers: map[string]string{"X-Api-Key": testAPIKey}})
		if err != nil {
			t.Fatalf("NewTransport(%q): %v", configured, err)
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("DPoP", "proof")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		same := sameOriginRef(cu, req.URL)
		if same != tr.SameOrigin(req.URL) {
			t.Fatalf("SameOrigin(%s, %s) = %t, want %t", configured, target, !same, same)
		}
		if !same {
			for _, k := range []string{"Authorization", "DPoP", "X-Api-Key"} {
				if v := s.got.Get(k); v != "" {
					t.Fatalf("%s → %s: %s %q sent to another origin", configured, target, k, v)
				}
			}
		} else if s.got.Get("X-Api-Key") != testAPIKey {
			t.Fatalf("%s → %s: the configured header missing on the server's origin", configured, target)
		}

		first, err := http.NewRequest(http.MethodGet, configured, nil)
		if err != nil {
			return
		}
		first.Method = method
		via := []*http.Request{first}
		for len(via) < int(hops%16)+1 {
			via = append(via, first)
		}
		err = tr.CheckRedirect(req, via)
		switch {
		case len(via) > oauth.MaxRedirects && err == nil:
			t.Fatalf("hop %d followed", len(via)+1)
		case err == nil && !same && method != http.MethodGet && method != http.MethodHead:
			t.Fatalf("a %s redirected from %s to %s (another origin) was followed", method, configured, target)
		case err != nil:
			var re *oauth.RedirectError
			if !errors.As(err, &re) {
				t.Fatalf("CheckRedirect error %T %v, want *RedirectError", err, err)
			}
		}
	})
}

// sseSegments splits an SSE stream into events as the spec reads it: lines
// end with CRLF, CR or LF (CR then LF is one terminator), and an empty line
// ends an event. It returns each event's bytes (its last line's terminator
// included, the empty line excluded) and where the last empty line ended.
func sseSegments(b []byte) (segs []int, lastEnd int) {
	start, lineStart := 0, true
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\r' && c != '\n' {
			lineStart = false
			continue
		}
		end := i + 1
		if c == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			end = i + 2
		}
		if lineStart { // an empty line
			segs = append(segs, i-start)
			start, lastEnd = end, end
		}
		lineStart = true
		i = end - 1
	}
	return append(segs, len(b)-start), lastEnd
}

// FuzzSSEEventBound: the per-event bound returns a stream whose events all
// fit unchanged, and fails with a *limit.TooLargeError for a stream with an
// event (the bytes between two empty lines) longer than the bound plus its
// terminators; a failure never hands out more than the bound of one event
// past the last boundary.
func FuzzSSEEventBound(f *testing.F) {
	f.Add([]byte("data: a\n\ndata: b\r\n\r\n"), uint16(8))
	f.Add([]byte("data: "+strings.Repeat("x", 100)+"\n\n"), uint16(50))
	f.Add([]byte("a\rb\r\rc\r\n\r\nd"), uint16(3))
	f.Add([]byte(strings.Repeat("data: 1\n\n", 50)), uint16(10))
	f.Fuzz(func(t *testing.T, stream []byte, max uint16) {
		if max == 0 {
			return
		}
		body := oauth.BoundBody(io.NopCloser(iotestHalf(stream)), "text/event-stream", int64(max), nil)
		got, err := io.ReadAll(body)
		segs, _ := sseSegments(stream)
		longest := 0
		for _, n := range segs {
			longest = max0(longest, n)
		}
		var tl *limit.TooLargeError
		switch {
		case err == nil && !bytes.Equal(got, stream):
			t.Fatalf("stream changed: %q → %q", stream, got)
		case err == nil && longest > int(max):
			t.Fatalf("an event of %d bytes passed a bound of %d", longest, max)
		case err != nil && !errors.As(err, &tl):
			t.Fatalf("error %v, want *limit.TooLargeError", err)
		case err != nil && longest+1 <= int(max):
			t.Fatalf("events of at most %d bytes failed a bound of %d", longest, max)
		case err != nil && !bytes.HasPrefix(stream, got):
			t.Fatalf("the bytes before the failure changed")
		}
		if err != nil {
			// What was handed out ends within one bound of an event boundary.
			_, last := sseSegments(got)
			if tail := len(got) - last; tail > int(max)+1 {
				t.Fatalf("%d bytes of one event handed out past a bound of %d", tail, max)
			}
		}
	})
}

func max0(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// iotestHalf reads b a few bytes at a time, so boundaries fall across reads.
func iotestHalf(b []byte) io.Reader { return &smallReader{b: b} }

type smallReader struct{ b []byte }

func (r *smallReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 3)], r.b)
	r.b = r.b[n:]
	return n, nil
}
