package oauth

import (
	"net/url"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/internal/oauthtest"
)

// OpenID providers (oidc-provider, following OIDC Core §11) drop
// offline_access, and so issue no refresh token, unless prompt=consent is
// sent with it. Without offline_access nothing changes.
func TestOfflineAccessSendsPromptConsent(t *testing.T) {
	for _, tc := range []struct {
		scopes []string
		want   string
	}{
		{[]string{"mcp:read", "offline_access"}, "consent"},
		{[]string{"mcp:read"}, ""},
	} {
		s := startAS(t, oauthtest.Options{Scopes: tc.scopes})
		v := newEnv(t, t.TempDir(), nil)
		entry := testEntry(t, s.MCPURL)
		if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
			t.Fatal(err)
		}
		v.openedMu.Lock()
		opened := v.opened
		v.openedMu.Unlock()
		if len(opened) != 1 {
			t.Fatalf("scopes %v: %d browser opens", tc.scopes, len(opened))
		}
		u, err := url.Parse(opened[0])
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Query().Get("prompt"); got != tc.want {
			t.Errorf("scopes %v: prompt = %q, want %q (scope %q)", tc.scopes, got, tc.want, u.Query().Get("scope"))
		}
	}
}

// A token that lives less than twice RefreshMargin is used for half its
// lifetime instead of being refreshed before every request.
func TestShortLivedTokenRefreshMargin(t *testing.T) {
	v := newEnv(t, t.TempDir(), nil)
	now := v.clock.Now()
	short := &authstore.Token{AccessToken: "a", IssuedAt: now, Expiry: now.Add(10 * time.Second)}
	long := &authstore.Token{AccessToken: "b", IssuedAt: now, Expiry: now.Add(time.Hour)}
	legacy := &authstore.Token{AccessToken: "c", Expiry: now.Add(30 * time.Second)} // no IssuedAt: full margin
	if !v.e.usable(short) || !v.e.usable(long) {
		t.Fatal("fresh tokens must be usable")
	}
	if v.e.usable(legacy) {
		t.Error("a token without IssuedAt expiring within RefreshMargin must be refreshed")
	}
	v.clock.Advance(4 * time.Second)
	if !v.e.usable(short) {
		t.Error("10 s token after 4 s: still usable (margin is 5 s)")
	}
	v.clock.Advance(2 * time.Second)
	if v.e.usable(short) {
		t.Error("10 s token after 6 s: inside the 5 s margin, must be refreshed")
	}
	v.clock.Advance(time.Hour - 6*time.Second - RefreshMargin - time.Second)
	if !v.e.usable(long) {
		t.Error("1 h token 61 s before expiry: usable")
	}
	v.clock.Advance(2 * time.Second)
	if v.e.usable(long) {
		t.Error("1 h token 59 s before expiry: must be refreshed")
	}
}
