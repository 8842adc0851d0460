package manager_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// A server that refuses the credentials from the config: status failed
// (signing in cannot help while the header is sent), a typed error with the
// data, and a message naming the header, the config file and both fixes;
// never the header's value, never `set "headers"`.
func TestConfiguredHeaderRefused(t *testing.T) {
	hdr := startHTTP(t, mcptest.HTTPOptions{RequireAuthorization: "Bearer s3cret"})
	unauth := startHTTP(t, mcptest.HTTPOptions{Unauthorized: true})
	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	eng := oauth.New(oauth.Options{Store: store, Callbacks: callback.New(callback.Options{})})

	entry := func(name, url string, oauthOff bool, headers map[string]string) *config.Entry {
		e := remote(name, url)
		e.Source = "/home/u/.config/mcplink/mcplink.json"
		e.Headers = headers
		if oauthOff {
			e.OAuth, e.OAuthDisabled = nil, true
		}
		return e
	}
	cases := []struct {
		e       *config.Entry
		status  manager.Status
		want    []string
		headers []string // HeaderRefusedError.Headers; nil: no such error
	}{
		{entry("oauth-on", hdr.URL, false, map[string]string{"Authorization": "Bearer WRONG-VALUE"}), manager.StatusFailed,
			[]string{"the server refused the Authorization header from the config (401 Unauthorized; WWW-Authenticate: " + mcptest.Challenge + ")",
				`correct it in the "headers" of "oauth-on" in /home/u/.config/mcplink/mcplink.json`, "or remove it to let mcplink sign in with OAuth"},
			[]string{"Authorization"}},
		{entry("oauth-off", hdr.URL, true, map[string]string{"authorization": "Bearer WRONG-VALUE", "X-Team": "blue"}), manager.StatusFailed,
			[]string{"the server refused the Authorization header from the config (401", "or remove it to let mcplink sign in with OAuth", `(and remove "oauth": false)`},
			[]string{"X-Team", "authorization"}},
		{entry("apikey", unauth.URL, true, map[string]string{"X-Api-Key": "WRONG-VALUE"}), manager.StatusFailed,
			[]string{"the server refused the headers from the config (X-Api-Key) (401 Unauthorized", `correct them in the "headers" of "apikey"`, `remove "oauth": false to let mcplink sign in with OAuth`},
			[]string{"X-Api-Key"}},
		// Not credentials mcplink could replace: OAuth decides (needs_auth).
		{entry("other-header", unauth.URL, false, map[string]string{"X-Team": "blue"}), manager.StatusNeedsAuth, []string{`MCP server "other-header" needs authorization`}, nil},
		// "oauth": false without headers keeps its advice to set some.
		{entry("bare", unauth.URL, true, nil), manager.StatusFailed, []string{`set "headers"`}, nil},
		{entry("right", hdr.URL, false, map[string]string{"Authorization": "Bearer s3cret"}), manager.StatusConnected, nil, nil},
	}
	var entries []*config.Entry
	for _, c := range cases {
		entries = append(entries, c.e)
	}
	m := newManager(t, manager.Options{OAuth: eng, Timeout: 10 * time.Second}, entries...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m.ConnectAll(ctx)
	for _, c := range cases {
		st, _ := m.State(c.e.Name)
		if st.Status != c.status {
			t.Errorf("%s: status %s (%s), want %s", c.e.Name, st.Status, st.Error, c.status)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(st.Error, w) {
				t.Errorf("%s: error lacks %q:\n%s (%#v)", c.e.Name, w, st.Error, st.Err)
			}
		}
		// A needs_auth state carries the server for the surface's fix
		// (how to sign in).
		var nae *oauth.NeedsAuthError
		if c.status == manager.StatusNeedsAuth && (!errors.As(st.Err, &nae) || nae.Server != c.e.Name) {
			t.Errorf("%s: needs_auth without an *oauth.NeedsAuthError for it: %#v", c.e.Name, st.Err)
		}
		if strings.Contains(st.Error, "WRONG-VALUE") {
			t.Errorf("%s: the header's value is in the message: %s", c.e.Name, st.Error)
		}
		if c.headers != nil && strings.Contains(st.Error, `set "headers"`) {
			t.Errorf("%s: tells the user to set headers although they are set: %s", c.e.Name, st.Error)
		}
		var he *manager.HeaderRefusedError
		if got := errors.As(st.Err, &he); got != (c.headers != nil) {
			t.Errorf("%s: State.Err = %v, HeaderRefusedError %t", c.e.Name, st.Err, got)
			continue
		}
		if he != nil && (!slices.Equal(he.Headers, c.headers) || he.Status != 401 || he.Server != c.e.Name || he.OAuthDisabled != c.e.OAuthDisabled || he.Error() != st.Error) {
			t.Errorf("%s: error data %+v", c.e.Name, he)
		}
	}
	// Reconnecting clears the typed error with the message.
	if err := m.Disconnect("oauth-on"); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.State("oauth-on"); st.Err != nil || st.Error != "" {
		t.Errorf("after Disconnect: Err %v, Error %q", st.Err, st.Error)
	}
}
