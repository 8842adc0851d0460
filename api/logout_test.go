package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/api"
	"github.com/mcplink/mcplink/api/apitest"
	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/internal/oauthtest"
)

// signedInEnv starts an API with secure0 signed in and connected.
func signedInEnv(t *testing.T) *apitest.Env {
	t.Helper()
	env := start(t, apitest.Options{Secure: 1, OpenURL: func(ctx context.Context, u string) error {
		go oauthtest.FollowRedirects(context.Background(), u) //nolint:errcheck // the API result is checked
		return nil
	}})
	st, err := env.Client.Authenticate(ctxT(t, 30*time.Second), "secure0")
	if err != nil || st.Status != "connected" {
		t.Fatalf("authenticate = %+v, %v", st, err)
	}
	return env
}

// TestLogoutReportsRevocation: DELETE /mcp/{name}/auth says the tokens were
// revoked at the authorization server, and keeps every ServerStatus field
// where it was.
func TestLogoutReportsRevocation(t *testing.T) {
	env := signedInEnv(t)
	ctx := ctxT(t, 30*time.Second)
	var raw map[string]json.RawMessage
	if err := env.Client.Do(ctx, http.MethodDelete, "/mcp/secure0/auth", nil, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "type", "status", "tools", "url", "auth", "logout"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("the answer lacks %q: %v", k, raw)
		}
	}
	var lo map[string]any
	if err := json.Unmarshal(raw["logout"], &lo); err != nil {
		t.Fatal(err)
	}
	if lo["revoked"] != true || lo["revocationSupported"] != true || lo["hadTokens"] != true {
		t.Errorf("logout = %s", raw["logout"])
	}
	if _, ok := lo["revocationError"]; ok {
		t.Errorf("revocationError set after a successful revocation: %s", raw["logout"])
	}
	if n := env.AS.Stats().Revocations; n != 2 {
		t.Errorf("the authorization server revoked %d tokens, want 2", n)
	}
	// Only the logout answer carries the object.
	if st, err := env.Client.Get(ctx, "secure0"); err != nil || st.Logout != nil {
		t.Errorf("GET after logout = %+v (logout %+v), %v", st, st.Logout, err)
	}

	// Signed in again, through the typed client.
	if st, err := env.Client.Authenticate(ctx, "secure0"); err != nil || st.Status != "connected" {
		t.Fatalf("authenticate again = %+v, %v", st, err)
	}
	st, err := env.Client.Logout(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	want := api.LogoutResult{HadTokens: true, Revoked: true, RevokedTokens: []string{"refresh_token", "access_token"}, RevocationSupported: true,
		Message: "tokens revoked at the authorization server and deleted; client registration kept"}
	if !logoutEqual(st.Logout, want) || st.State != "disconnected" || st.Auth == nil || st.Auth.State != "not_authenticated" {
		t.Fatalf("logout = %+v %+v auth %+v, want %+v", st, st.Logout, st.Auth, want)
	}
	if n := env.AS.Stats().Revocations; n != 4 {
		t.Errorf("the authorization server revoked %d tokens, want 4", n)
	}
	// The registration was kept: the second sign-in registered no client.
	if n := env.AS.Stats().Registrations; n != 1 {
		t.Errorf("%d client registrations, want 1", n)
	}

	// Nothing stored any more.
	st, err = env.Client.Logout(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	want = api.LogoutResult{Message: "no tokens were stored; client registration kept"}
	if !logoutEqual(st.Logout, want) {
		t.Fatalf("second logout = %+v, want %+v", st.Logout, want)
	}
}

// TestLogoutRevocationFailureReported: the authorization server refuses the
// revocation. The tokens are deleted anyway, and the answer says why the
// revocation failed (200: the logout itself worked).
func TestLogoutRevocationFailureReported(t *testing.T) {
	env := signedInEnv(t)
	ctx := ctxT(t, 30*time.Second)
	// The administrator rotated the client's secret: the AS refuses the
	// revocation's client authentication.
	stored, err := openStore(t, env).Load(ctx, "secure0")
	if err != nil || stored == nil || stored.Client == nil || stored.Client.ClientSecret == "" {
		t.Fatalf("stored client %+v, %v; want a confidential one", stored, err)
	}
	if !env.AS.SetClientSecret(stored.Client.ClientID, "rotated") {
		t.Fatalf("the AS does not know client %q", stored.Client.ClientID)
	}
	st, err := env.Client.Logout(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	lo := st.Logout
	if lo == nil {
		t.Fatalf("no logout object in %+v", st)
	}
	if lo.Revoked || !lo.RevocationSupported || !lo.HadTokens || len(lo.RevokedTokens) != 0 {
		t.Errorf("logout = %+v", lo)
	}
	for _, s := range []string{"revoking the refresh_token", "revoking the access_token", "invalid_client", "wrong client secret"} {
		if !strings.Contains(lo.RevocationError, s) {
			t.Errorf("revocationError %q lacks %q", lo.RevocationError, s)
		}
	}
	if strings.Contains(lo.RevocationError, "\n") {
		t.Errorf("revocationError is not one line: %q", lo.RevocationError)
	}
	if !strings.HasPrefix(lo.Message, "revocation failed: "+lo.RevocationError+"; local tokens deleted anyway") || !strings.HasSuffix(lo.Message, "client registration kept") {
		t.Errorf("message = %q", lo.Message)
	}
	if st.Auth == nil || st.Auth.State != "not_authenticated" {
		t.Errorf("tokens kept after a failed revocation: %+v", st.Auth)
	}
	if n := env.AS.Stats().Revocations; n != 0 {
		t.Errorf("oauthtest revoked %d tokens, want none (it refused the client)", n)
	}
}

// TestLogoutWithoutRevocationEndpoint: the authorization server offers no
// revocation; the answer says so and the tokens are deleted.
func TestLogoutWithoutRevocationEndpoint(t *testing.T) {
	env := signedInEnv(t)
	ctx := ctxT(t, 30*time.Second)
	moveIssuer(t, env)
	st, err := env.Client.Logout(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	want := api.LogoutResult{HadTokens: true, RevocationSkipped: "the authorization server advertises no revocation_endpoint",
		Message: "not revoked (the authorization server advertises no revocation_endpoint); local tokens deleted; client registration kept"}
	if !logoutEqual(st.Logout, want) {
		t.Fatalf("logout = %+v, want %+v", st.Logout, want)
	}
	if st.Auth == nil || st.Auth.State != "not_authenticated" {
		t.Errorf("tokens kept: %+v", st.Auth)
	}
}

func logoutEqual(a *api.LogoutResult, b api.LogoutResult) bool {
	return a != nil && a.HadTokens == b.HadTokens && a.Revoked == b.Revoked && slices.Equal(a.RevokedTokens, b.RevokedTokens) &&
		slices.Equal(a.NotRevocable, b.NotRevocable) && a.RevocationSupported == b.RevocationSupported &&
		a.RevocationSkipped == b.RevocationSkipped && a.RevocationError == b.RevocationError && a.Message == b.Message
}

// moveIssuer makes the stored tokens of secure0 come from another issuer:
// an authorization server without a revocation endpoint (env.AS has one, or
// the test proves nothing).
func moveIssuer(t *testing.T, env *apitest.Env) {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	if env.AS.RevocationEndpoint() == "" {
		t.Fatal("oauthtest serves no revocation_endpoint: the test proves nothing")
	}
	other, err := oauthtest.Start(oauthtest.Options{NoRevocation: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	err = openStore(t, env).Update(ctx, "secure0", func(c *authstore.Credentials) (*authstore.Credentials, error) {
		if c == nil || c.Token == nil {
			return nil, errors.New("no tokens stored for secure0")
		}
		c.Issuer = other.IssuerURL
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// openStore opens env's credential store.
func openStore(t *testing.T, env *apitest.Env) authstore.Store {
	t.Helper()
	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: env.StoreDir})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// TestLogoutResetsAttemptBrake: a tripped sign-in brake does not lock the
// API user out: DELETE /mcp/{name}/auth (their fresh start after fixing the
// cause) resets it, and the next sign-in starts.
func TestLogoutResetsAttemptBrake(t *testing.T) {
	env := start(t, apitest.Options{Secure: 1, NoConnect: true})
	ctx := ctxT(t, 30*time.Second)
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = env.Client.StartAuth(ctx, "secure0")
	}
	wantAPIError(t, err, 429, "too_many_attempts")
	if _, err := env.Client.Logout(ctx, "secure0"); err != nil {
		t.Fatal(err)
	}
	as, err := env.Client.StartAuth(ctx, "secure0")
	if err != nil {
		t.Fatalf("sign-in after logout: %v; want the brake reset", err)
	}
	// And it completes.
	if err := oauthtest.FollowRedirects(ctx, as.AuthorizationURL); err != nil {
		t.Fatal(err)
	}
}
