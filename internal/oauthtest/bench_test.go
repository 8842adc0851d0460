package oauthtest

import (
	"net/http"
	"testing"
)

func reportPerSecond(b *testing.B, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, unit)
	}
}

// BenchmarkStartClose measures bringing both servers up and down.
func BenchmarkStartClose(b *testing.B) {
	for b.Loop() {
		srv, err := Start(Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := srv.Close(); err != nil {
			b.Fatal(err)
		}
	}
	reportPerSecond(b, "servers/s")
}

// BenchmarkAuthorizationCodeFlow measures a full front channel (authorize
// redirect to a real callback server) plus the PKCE code exchange.
func BenchmarkAuthorizationCodeFlow(b *testing.B) {
	srv := start(b, Options{})
	f := newFlow(b, srv, AuthMethodBasic)
	for b.Loop() {
		if tok := f.login(b); tok.AccessToken == "" {
			b.Fatal("no access token")
		}
	}
	reportPerSecond(b, "logins/s")
}

// BenchmarkRefresh measures refresh_token grants with rotation.
func BenchmarkRefresh(b *testing.B) {
	srv := start(b, Options{})
	f := newFlow(b, srv, AuthMethodPost)
	rt := f.login(b).RefreshToken
	for b.Loop() {
		resp, body := f.refresh(b, rt, nil)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("refresh: %v", body)
		}
		rt = body["refresh_token"].(string)
	}
	reportPerSecond(b, "refreshes/s")
}

// BenchmarkToolCall measures an authenticated tools/call over one session.
func BenchmarkToolCall(b *testing.B) {
	srv := start(b, Options{RequiredScope: "mcp:read"})
	f := newFlow(b, srv, AuthMethodNone, "mcp:read")
	cs, err := connect(b, srv, f.login(b).AccessToken)
	if err != nil {
		b.Fatal(err)
	}
	args := map[string]any{"text": "ping"}
	for b.Loop() {
		callTool(b, cs, "echo", args)
	}
	reportPerSecond(b, "calls/s")
}
