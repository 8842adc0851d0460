package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/clients"
	"github.com/mcplink/mcplink/internal/oauthtest"
)

// writeOpencodeAuth stores c under name in opencode's mcp-auth.json shape,
// with the access token expired and, when dynamic, opencode's clientInfo.
func writeOpencodeAuth(t *testing.T, file, name string, c *authstore.Credentials, dynamic bool) []byte {
	t.Helper()
	exp := float64(time.Now().Add(-time.Minute).UnixMilli()) / 1000
	e := clients.OpencodeAuthEntry{ServerURL: c.ServerURL, Tokens: &clients.OpencodeTokens{
		AccessToken: c.Token.AccessToken, RefreshToken: c.Token.RefreshToken, ExpiresAt: &exp, Scope: c.Token.Scope}}
	if dynamic {
		e.ClientInfo = &clients.OpencodeClientInfo{ClientID: c.Client.ClientID, ClientSecret: c.Client.ClientSecret}
	}
	data, err := json.MarshalIndent(map[string]any{name: e}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestFallbackRefreshWritesOwnStore: credentials another program stored
// (opencode's file, no issuer, no resource) are refreshed after discovery,
// the new tokens land in mcplink's store only, and from then on mcplink's
// entry is used. Both opencode client kinds: a dynamic registration
// (clientInfo) and a pre-registered client from the config (not stored).
func TestFallbackRefreshWritesOwnStore(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dynamic bool
	}{{"dynamic", true}, {"preregistered", false}} {
		t.Run(tc.name, func(t *testing.T) {
			entry := testEntry(t, "")
			o := oauthtest.Options{}
			if !tc.dynamic {
				entry.OAuth.ClientID, entry.OAuth.ClientSecret = "pre", "pre-secret"
				o = oauthtest.Options{DisableDCR: true, PreRegistered: []oauthtest.Client{{ClientID: "pre", ClientSecret: "pre-secret", RedirectURIs: []string{mustRedirect(t, entry)}}}}
			}
			s := startAS(t, o)
			entry.URL = s.MCPURL
			// "opencode" signs in (another engine, another store).
			c, err := newEnv(t, "", nil).e.Authenticate(ctxT(t), entry)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "mcp-auth.json")
			before := writeOpencodeAuth(t, file, entry.Name, c, tc.dynamic)

			st, err := authstore.NewFileStore(authstore.FileOptions{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			reg := callback.New(callback.Options{})
			t.Cleanup(func() { reg.Close() })
			e := New(Options{Store: st, Fallback: clients.OpencodeAuth{File: file}, Callbacks: reg, RetryBackoff: 5 * time.Millisecond})

			if got, err := e.Status(ctxT(t), entry); err != nil || got.State != StateExpired {
				t.Fatalf("status from opencode's file = %+v, %v; want expired", got, err)
			}
			tok, err := e.Token(ctxT(t), entry)
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken == c.Token.AccessToken || s.Stats().Refreshes != 1 {
				t.Fatalf("no refresh: same token %v, refreshes %d", tok.AccessToken == c.Token.AccessToken, s.Stats().Refreshes)
			}
			if after, _ := os.ReadFile(file); !bytes.Equal(after, before) {
				t.Fatal("opencode's file was changed")
			}
			own, err := st.Load(ctxT(t), entry.Name)
			if err != nil {
				t.Fatal(err)
			}
			if own.From != "" || own.Issuer != s.IssuerURL || own.Resource != s.MCPURL || own.Token.AccessToken != tok.AccessToken || own.Client == nil {
				t.Fatalf("mcplink's store: %+v client %+v", own, own.Client)
			}
			if tc.dynamic && (own.Client.ClientID != c.Client.ClientID || !own.Client.Dynamic || own.Client.Issuer != s.IssuerURL || own.Client.RedirectURI != mustRedirect(t, entry)) {
				t.Errorf("dynamic client not completed: %+v", own.Client)
			}
			if !tc.dynamic && (own.Client.ClientID != "pre" || own.Client.Dynamic) {
				t.Errorf("pre-registered client: %+v", own.Client)
			}
			// mcplink's entry now hides opencode's.
			all, err := e.opts.Store.List(ctxT(t))
			if err != nil || all[entry.Name].Token.AccessToken != tok.AccessToken {
				t.Fatalf("List: %v %v", all, err)
			}
		})
	}
}

// TestFallbackOnlyForItsURL: opencode's entry for another URL is ignored.
func TestFallbackOnlyForItsURL(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	entry := testEntry(t, s.MCPURL)
	c, err := newEnv(t, "", nil).e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "mcp-auth.json")
	writeOpencodeAuth(t, file, entry.Name, c, true)
	st, err := authstore.NewFileStore(authstore.FileOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e := New(Options{Store: st, Fallback: clients.OpencodeAuth{File: file}})
	other := *entry
	other.URL = s.MCPURL + "/other"
	if _, err := e.Token(ctxT(t), &other); !errors.Is(err, ErrNeedsAuth) {
		t.Fatalf("token for another URL: %v, want needs auth", err)
	}
	if got, _ := e.Status(ctxT(t), &other); got.State != StateNotAuthenticated {
		t.Fatalf("status for another URL: %+v", got)
	}
}
