package manager_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// oauthEnv is an OAuth engine on a real file store and callback registry,
// signing in through oauthtest's redirect-following "browser".
type oauthEnv struct {
	eng   *oauth.Engine
	entry *config.Entry
}

func newOAuthEnv(t *testing.T, as *oauthtest.Server) *oauthEnv {
	t.Helper()
	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	eng := oauth.New(oauth.Options{Store: store, Callbacks: callback.New(callback.Options{}), OpenURL: oauthtest.FollowRedirects})
	entry := &config.Entry{Name: "legacy", Type: config.TypeRemote, Enabled: true, URL: as.MCPURL,
		OAuth: &config.OAuth{CallbackPort: port}}
	return &oauthEnv{eng: eng, entry: entry}
}

// startOAuth starts an authorization server with its protected MCP server and
// an engine for it; ctx bounds the test.
func startOAuth(t *testing.T, o oauthtest.Options) (*oauthtest.Server, *oauthEnv, context.Context) {
	t.Helper()
	as, err := oauthtest.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return as, newOAuthEnv(t, as), ctx
}

// TestSSEFallbackWithOAuth: an OAuth-protected server that speaks only the
// 2024-11-05 SSE transport. Before sign-in it needs auth; after sign-in the
// Streamable HTTP attempt is refused with 405 and the SSE fallback connects
// with the stored token on its event stream and on every message, and a tool
// call works. When the server stops accepting the token, the SSE transport's
// 401 refreshes it (the SSE transport has no OAuth handler of its own).
func TestSSEFallbackWithOAuth(t *testing.T) {
	as, v, ctx := startOAuth(t, oauthtest.Options{SSEOnly: true})

	m := newManager(t, manager.Options{OAuth: v.eng}, v.entry)
	st, _ := m.Connect(ctx, "legacy")
	if st.Status != manager.StatusNeedsAuth {
		t.Fatalf("before sign-in: status %s (%s), want needs_auth", st.Status, st.Error)
	}

	if _, err := v.eng.Authenticate(ctx, v.entry); err != nil {
		t.Fatal(err)
	}
	rejected := as.Stats().MCPRejected
	st, err := m.Connect(ctx, "legacy")
	if err != nil || st.Status != manager.StatusConnected {
		t.Fatalf("after sign-in: status %s (%s), err %v; want connected", st.Status, st.Error, err)
	}
	if st.Transport != manager.TransportSSE {
		t.Errorf("transport = %q, want %q", st.Transport, manager.TransportSSE)
	}
	if got := as.Stats().MCPRejected; got != rejected {
		t.Errorf("the server rejected %d requests after sign-in, want none", got-rejected)
	}
	res, err := m.CallTool(ctx, "legacy", "echo", map[string]any{"text": "over sse"})
	if err != nil {
		t.Fatal(err)
	}
	if got := text(t, res); got != "over sse" {
		t.Errorf("echo = %q", got)
	}

	// Mid-session the server forgets the access token: the next message's
	// POST gets 401, the engine refreshes and the message is sent again,
	// without a new sign-in and without the session noticing.
	authorizeBefore := as.Stats().AuthorizeRequests
	as.ExpireAccessTokens()
	rejected = as.Stats().MCPRejected
	if _, err := m.CallTool(ctx, "legacy", "echo", map[string]any{"text": "after expiry"}); err != nil {
		t.Fatalf("call after the token expired mid-session: %v", err)
	}
	if s := as.Stats(); s.Refreshes != 1 || s.AuthorizeRequests != authorizeBefore || s.MCPRejected != rejected+1 {
		t.Errorf("mid-session expiry: %d refreshes, %d new authorizations, %d rejections; want 1, 0, 1",
			s.Refreshes, s.AuthorizeRequests-authorizeBefore, s.MCPRejected-rejected)
	}

	// Again with a new connection: connected over SSE without a new sign-in.
	as.ExpireAccessTokens()
	if err := m.Disconnect("legacy"); err != nil {
		t.Fatal(err)
	}
	st, err = m.Connect(ctx, "legacy")
	if err != nil || st.Status != manager.StatusConnected || st.Transport != manager.TransportSSE {
		t.Fatalf("after expiry: status %s over %q (%s), err %v; want connected over sse", st.Status, st.Transport, st.Error, err)
	}
	if s := as.Stats(); s.Refreshes != 2 || s.AuthorizeRequests != authorizeBefore {
		t.Errorf("after expiry: %d refreshes and %d new authorizations, want 2 and 0", s.Refreshes, s.AuthorizeRequests-authorizeBefore)
	}
}

// TestSSEFallbackTokenRevokedNeedsAuth: a stored token the authorization
// server no longer honours (refresh refused) ends in needs_auth over SSE
// too, with a message naming the fix.
func TestSSEFallbackTokenRevokedNeedsAuth(t *testing.T) {
	as, v, ctx := startOAuth(t, oauthtest.Options{SSEOnly: true})
	if _, err := v.eng.Authenticate(ctx, v.entry); err != nil {
		t.Fatal(err)
	}
	as.RevokeAll()
	m := newManager(t, manager.Options{OAuth: v.eng}, v.entry)
	st, _ := m.Connect(ctx, "legacy")
	if nae := (*oauth.NeedsAuthError)(nil); st.Status != manager.StatusNeedsAuth || !errors.As(st.Err, &nae) || nae.Server != "legacy" {
		t.Fatalf("status %s (%s, %#v), want needs_auth with an *oauth.NeedsAuthError for legacy", st.Status, st.Error, st.Err)
	}
}

// TestStoredTokenNeverSentToAnotherURL: credentials are bound to the URL
// they were obtained for. When the entry's URL changes, the old token is
// not sent to the new server, on any request.
func TestStoredTokenNeverSentToAnotherURL(t *testing.T) {
	_, v, ctx := startOAuth(t, oauthtest.Options{})
	if _, err := v.eng.Authenticate(ctx, v.entry); err != nil {
		t.Fatal(err)
	}
	other := startHTTP(t, mcptest.HTTPOptions{RecordHeaders: true})
	moved := *v.entry
	moved.URL = other.URL
	m := newManager(t, manager.Options{OAuth: v.eng}, &moved)
	st, err := m.Connect(ctx, moved.Name)
	if err != nil || st.Status != manager.StatusConnected {
		t.Fatalf("connect to the new URL (no auth needed there): %s %s %v", st.Status, st.Error, err)
	}
	reqs := other.Requests()
	if len(reqs) == 0 {
		t.Fatal("the new server saw no request")
	}
	for _, r := range reqs {
		if a := r.Header.Get("Authorization"); a != "" {
			t.Fatalf("%s %s to the new URL carried Authorization %q: the old URL's token leaked", r.Method, r.Path, a)
		}
	}
}
