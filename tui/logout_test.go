package tui

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// store opens the credential store the backend of e uses.
func (e *env) store(t *testing.T) authstore.Store {
	t.Helper()
	s, err := authstore.NewFileStore(authstore.FileOptions{Dir: filepath.Join(e.dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// storedCreds returns what the store holds for name.
func (e *env) storedCreds(t *testing.T, name string) *authstore.Credentials {
	t.Helper()
	c, err := e.store(t).Load(t.Context(), name)
	if err != nil {
		t.Fatalf("loading the credentials of %s: %v", name, err)
	}
	return c
}

// signedIn sets up the dashboard with protected signed in and connected.
func signedIn(t *testing.T) (*env, *harness) {
	t.Helper()
	e, h := setup(t, func(u string) error {
		go oauthtest.FollowRedirects(t.Context(), u) //nolint:errcheck // the result is the status below
		return nil
	}, Options{})
	h.selectServer("protected")
	h.press("a")
	h.until("signed in", 15*time.Second, func() bool {
		return h.status("protected") == manager.StatusConnected && h.m.auth["protected"].st.State == oauth.StateAuthenticated
	})
	return e, h
}

// logOut presses l y and waits until the logout and what follows it ended.
func (h *harness) logOut() {
	h.t.Helper()
	h.press("l", "y")
	h.until("logged out", 20*time.Second, func() bool {
		_, done := h.m.logouts["protected"]
		return done && h.m.auth["protected"].st.State == oauth.StateNotAuthenticated && len(h.m.busy) == 0
	})
}

// TestLogoutRevocationFailed: the authorization server is gone when the user
// logs out. The tokens are deleted anyway, and the screen says the
// revocation failed and why, in full in the details pane.
func TestLogoutRevocationFailed(t *testing.T) {
	e, h := signedIn(t)
	if err := e.as.Close(); err != nil {
		t.Fatal(err)
	}
	h.logOut()
	if !h.m.msgErr || !strings.HasPrefix(h.m.message, "Signed out of protected, but revocation failed: ") ||
		!strings.Contains(h.m.message, "local tokens deleted anyway") || !strings.HasSuffix(h.m.message, "client registration kept") {
		t.Fatalf("message = %q (error %v)", h.m.message, h.m.msgErr)
	}
	// The reason names the revocation endpoint that could not be reached;
	// the status line is cut at the window's width, the details pane is not.
	if !strings.Contains(h.m.message, e.as.RevocationEndpoint()) {
		t.Fatalf("the reason does not name the revocation endpoint: %q", h.m.message)
	}
	// Both tokens' failures, on the one status line.
	if strings.Contains(h.m.message, "\n") || !strings.Contains(h.m.message, "; revoking the access_token: ") {
		t.Fatalf("message not one line naming both failures: %q", h.m.message)
	}
	if !strings.Contains(nospace(flatDetails(h)), nospace(h.m.message)) {
		t.Fatalf("the full message is not in the details pane:\n%s", h.screen())
	}
	if c := e.storedCreds(t, "protected"); c.Client == nil || c.Token != nil {
		t.Fatalf("after logout: client %+v token %+v, want the registration kept and no token", c.Client, c.Token)
	}
}

// TestLogoutNoRevocationEndpoint: the tokens' issuer publishes no
// revocation_endpoint (another oauthtest server, without one): nothing is
// revoked, the tokens are deleted, and the screen
// says so.
func TestLogoutNoRevocationEndpoint(t *testing.T) {
	e, h := signedIn(t)
	issuer := noRevocationIssuer(t, e.as)
	err := e.store(t).Update(t.Context(), "protected", func(c *authstore.Credentials) (*authstore.Credentials, error) {
		if c == nil {
			return nil, errors.New("nothing stored for protected")
		}
		c.Issuer = issuer
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h.logOut()
	want := "Signed out of protected: not revoked (the authorization server advertises no revocation_endpoint); local tokens deleted; client registration kept"
	if h.m.message != want || h.m.msgErr {
		t.Fatalf("message = %q (error %v), want %q", h.m.message, h.m.msgErr, want)
	}
	if n := e.as.Stats().Revocations; n != 0 {
		t.Fatalf("%d tokens revoked, want none", n)
	}
	if c := e.storedCreds(t, "protected"); c.Client == nil || c.Token != nil {
		t.Fatalf("after logout: client %+v token %+v, want the registration kept and no token", c.Client, c.Token)
	}
	// Signing in again reuses the registration and clears the outcome.
	regs := e.as.Stats().Registrations
	h.press("a")
	h.until("signed in again", 15*time.Second, func() bool {
		return h.status("protected") == manager.StatusConnected && h.m.auth["protected"].st.State == oauth.StateAuthenticated && h.m.afterAuth == ""
	})
	if _, ok := h.m.logouts["protected"]; ok || strings.Contains(flatDetails(h), "Logout") {
		t.Fatalf("the logout outcome outlived the next sign-in:\n%s", h.screen())
	}
	if n := e.as.Stats().Registrations; n != regs {
		t.Fatalf("signing in again registered a new client (%d → %d registrations)", regs, n)
	}
}

// noRevocationIssuer starts another authorization server, one without a
// revocation endpoint, and returns its issuer; as must have one, or the
// test proves nothing.
func noRevocationIssuer(t *testing.T, as *oauthtest.Server) string {
	t.Helper()
	if as.RevocationEndpoint() == "" {
		t.Fatal("oauthtest serves no revocation_endpoint: the test proves nothing")
	}
	other, err := oauthtest.Start(oauthtest.Options{NoRevocation: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return other.IssuerURL
}

// TestLogoutMessages: every outcome of a logout, as the model shows it in
// the status line and the details pane.
func TestLogoutMessages(t *testing.T) {
	_, h := setup(t, nil, Options{})
	h.selectServer("protected")
	cases := []struct {
		name   string
		res    *oauth.LogoutResult
		want   string
		failed bool
	}{
		{"revoked", &oauth.LogoutResult{HadTokens: true, Revoked: []string{"refresh_token", "access_token"}},
			"Signed out of protected: tokens revoked at the authorization server and deleted; client registration kept", false},
		{"revocation failed", &oauth.LogoutResult{HadTokens: true, RevocationErr: errors.New("revoking the refresh_token: token endpoint https://as.example/revoke returned invalid_client")},
			"Signed out of protected, but revocation failed: revoking the refresh_token: token endpoint https://as.example/revoke returned invalid_client; local tokens deleted anyway (the authorization server may still accept them until they expire; revoke them in the provider's settings); client registration kept", true},
		{"no revocation endpoint", &oauth.LogoutResult{HadTokens: true, RevocationSkipped: "the authorization server advertises no revocation_endpoint"},
			"Signed out of protected: not revoked (the authorization server advertises no revocation_endpoint); local tokens deleted; client registration kept", false},
		{"JWT access token", &oauth.LogoutResult{HadTokens: true, Revoked: []string{"refresh_token"}, NotRevocable: []string{"access_token"}},
			"Signed out of protected: tokens revoked at the authorization server and deleted (the authorization server cannot revoke the access_token: it stays valid until it expires); client registration kept", false},
		{"nothing revocable", &oauth.LogoutResult{HadTokens: true, NotRevocable: []string{"access_token"}},
			"Signed out of protected: local tokens deleted (the authorization server cannot revoke the access_token: it stays valid until it expires); client registration kept", false},
		{"no tokens", &oauth.LogoutResult{},
			"Signed out of protected: no tokens were stored; client registration kept", false},
	}
	for _, c := range cases {
		h.send(logoutMsg{name: "protected", res: c.res})
		if h.m.message != c.want || h.m.msgErr != c.failed {
			t.Errorf("%s: message = %q (error %v), want %q (error %v)", c.name, h.m.message, h.m.msgErr, c.want, c.failed)
		}
		if got := nospace(flatDetails(h)); !strings.Contains(got, nospace("Logout "+c.want)) {
			t.Errorf("%s: details pane lacks the outcome:\n%s", c.name, h.screen())
		}
		if !strings.Contains(ansi.Strip(h.screen()), "Signed out of protected") {
			t.Errorf("%s: status line lacks the outcome:\n%s", c.name, h.screen())
		}
		h.idle() // its reload and reconnect
	}
	// A failed local deletion is an error of its own.
	h.send(logoutMsg{name: "protected", err: errors.New("forgetting credentials for \"protected\": disk full")})
	if !h.m.msgErr || h.m.message != `logout of protected failed: forgetting credentials for "protected": disk full` {
		t.Fatalf("message = %q (error %v)", h.m.message, h.m.msgErr)
	}
	h.idle()
}
