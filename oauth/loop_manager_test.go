package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// TestManagerClassifiesLoopBrakesAsFailed: the manager reports a server that
// refuses freshly obtained credentials as failed (a new sign-in would not
// help), with the brake's message, not as needs_auth.
func TestManagerClassifiesLoopBrakesAsFailed(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			as, err := oauthtest.Start(oauthtest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { as.Close() })
			store, err := authstore.NewFileStore(authstore.FileOptions{Dir: filepath.Join(t.TempDir(), "data")})
			if err != nil {
				t.Fatal(err)
			}
			port := testenv.FreePort(t)
			reg := callback.New(callback.Options{})
			t.Cleanup(func() { reg.Close() })
			eng := oauth.New(oauth.Options{Store: store, Callbacks: reg, OpenURL: oauthtest.FollowRedirects})
			entry := &config.Entry{Name: "srv", Type: config.TypeRemote, Enabled: true, URL: as.MCPURL, OAuth: &config.OAuth{CallbackPort: port}}
			m := manager.New(&config.Config{Servers: map[string]*config.Entry{"srv": entry}}, manager.Options{OAuth: eng})
			t.Cleanup(func() { m.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := eng.Authenticate(ctx, entry); err != nil {
				t.Fatal(err)
			}
			as.SetRefuse(status, "")
			var st manager.State
			for range 2 { // a 401 first refreshes once; the refreshed token is refused too
				m.Disconnect("srv")
				st, _ = m.Connect(ctx, "srv")
			}
			var fe *oauth.FreshTokenRefusedError
			if st.Status != manager.StatusFailed || !strings.Contains(st.Error, "not signing in or refreshing again") || !errors.As(st.Err, &fe) || fe.Server != "srv" {
				t.Fatalf("status %s (%s); want failed with the brake's message", st.Status, st.Error)
			}
			if s := as.Stats(); s.AuthorizeRequests != 1 || s.Refreshes > 1 {
				t.Errorf("%d authorizations and %d refreshes; want 1 and at most 1", s.AuthorizeRequests, s.Refreshes)
			}
		})
	}
}
