package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/config"
)

// proxyTestFactory returns a Factory reading config (a config file's
// content), with its data directory in a temporary directory.
func proxyTestFactory(t *testing.T, cfg string) (*Factory, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "mcplink.json")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	f := NewFactory(nil, &bytes.Buffer{}, &stderr)
	f.ConfigFile = file
	f.HomeDir = dir
	f.Getenv = func(k string) string {
		switch k {
		case "MCPLINK_DATA_DIR":
			return filepath.Join(dir, "data")
		case "MCPLINK_CREDENTIALS_STORE":
			return "file"
		}
		return ""
	}
	return f, &stderr
}

// TestProxyEntryForURLs: a URL target's entry is keyed by host and a hash
// of the canonical URL (the same on every run, different for another path
// or query on the host), and carries the OAuth flags.
func TestProxyEntryForURLs(t *testing.T) {
	f, _ := proxyTestFactory(t, `{"mcp": {}}`)
	entry := func(opts ProxyOptions) *config.Entry {
		t.Helper()
		e, err := proxyEntry(newProxyOptions(f, opts))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a := entry(ProxyOptions{Target: "https://MCP.example.com:443/mcp#frag"})
	if a.URL != "https://mcp.example.com/mcp" || !strings.HasPrefix(a.Name, "mcp.example.com-") || len(a.Name) != len("mcp.example.com-")+8 {
		t.Fatalf("entry for an https URL: name %q, URL %q", a.Name, a.URL)
	}
	if again := entry(ProxyOptions{Target: "https://mcp.example.com/mcp"}); again.Name != a.Name {
		t.Errorf("the same URL, written differently, got name %q then %q", a.Name, again.Name)
	}
	for _, other := range []string{"https://mcp.example.com/mcp?tenant=b", "https://mcp.example.com/other", "https://mcp.example.com/mcp/"} {
		if e := entry(ProxyOptions{Target: other}); e.Name == a.Name || e.URL != other {
			t.Errorf("%s: name %q (the same as %s's), URL %q", other, e.Name, a.URL, e.URL)
		}
	}

	e := entry(ProxyOptions{Target: "http://127.0.0.1:8931/mcp", ClientID: "id", ClientSecret: "sec", Scope: "a b",
		Resource: "https://api.example.com", CallbackPort: 8976, CallbackHost: "[::]", RedirectURI: "http://127.0.0.1:8976/cb",
		Headers: []string{"X-Team: core"}})
	want := config.OAuth{ClientID: "id", ClientSecret: "sec", Scope: "a b", Resource: "https://api.example.com", CallbackPort: 8976, CallbackHost: "::", RedirectURI: "http://127.0.0.1:8976/cb"}
	if !reflect.DeepEqual(*e.OAuth, want) || e.Headers["X-Team"] != "core" || !strings.HasPrefix(e.Name, "127.0.0.1-8931-") || e.Source != commandLineSource {
		t.Errorf("entry = %+v, oauth %+v; want oauth %+v", e, *e.OAuth, want)
	}
	if e := entry(ProxyOptions{Target: "http://127.0.0.1:8931/mcp", Resource: "none"}); !e.OAuth.OmitResource || e.OAuth.Resource != "" {
		t.Errorf("--resource none: oauth %+v, want OmitResource", *e.OAuth)
	}
}

// TestProxyEntryConfiguredURL: a URL a configured server has is that
// server (an enabled one first), with the overrides a name takes, unless a
// flag only URL targets take is given.
func TestProxyEntryConfiguredURL(t *testing.T) {
	f, stderr := proxyTestFactory(t, `{"mcp": {
		"a-off": {"type": "remote", "url": "https://mcp.example.com/mcp", "enabled": false},
		"b-on":  {"type": "remote", "url": "https://mcp.example.com/mcp", "headers": {"X-A": "1"}, "oauth": {"scope": "s"}},
		"other": {"type": "remote", "url": "https://mcp.example.com/mcp?x=1"}
	}}`)
	e, err := proxyEntry(newProxyOptions(f, ProxyOptions{Target: "https://mcp.example.com/mcp", ClientID: "cid", OAuthFlags: []string{"client-id"}}))
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "b-on" || e.OAuth.Scope != "s" || e.OAuth.ClientID != "cid" || e.Headers["X-A"] != "1" {
		t.Fatalf("entry = %+v, oauth %+v; want b-on with its settings and --client-id", e, *e.OAuth)
	}
	if !strings.Contains(stderr.String(), `configured as "b-on"`) {
		t.Errorf("stderr: %q", stderr)
	}
	if e, err := proxyEntry(newProxyOptions(f, ProxyOptions{Target: "HTTPS://MCP.Example.com:443/mcp"})); err != nil || e.Name != "b-on" {
		t.Fatalf("the configured URL written differently: %v, %v", e, err)
	}
	if e, err := proxyEntry(newProxyOptions(f, ProxyOptions{Target: "https://mcp.example.com/mcp/"})); err != nil || e.Source != commandLineSource {
		t.Fatalf("another path: %v, %v; want the URL's own entry", e, err)
	}
	e, err = proxyEntry(newProxyOptions(f, ProxyOptions{Target: "https://mcp.example.com/mcp", Scope: "z", OAuthFlags: []string{"scope"}}))
	if err != nil {
		t.Fatal(err)
	}
	if e.Source != commandLineSource || e.OAuth.Scope != "z" {
		t.Fatalf("with --scope: entry %+v, want the URL's own", e)
	}
	_, err = proxyEntry(newProxyOptions(f, ProxyOptions{Target: "b-on", Scope: "z", OAuthFlags: []string{"scope"}}))
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != ExitConfig || !strings.Contains(err.Error(), `set "oauth.scope" in its entry instead`) {
		t.Fatalf("--scope with a configured name: %v", err)
	}
}

// TestSignInLock: a second holder waits (saying so once) until the first
// releases the lock, and gives up with its context; the lock directory is
// private.
func TestSignInLock(t *testing.T) {
	f, _ := proxyTestFactory(t, `{"mcp": {}}`)
	waits := 0
	first := newSignInLock(f, "jira/prod", nil)
	waiting := make(chan struct{}, 2) // one per waiting notice
	second := newSignInLock(f, "jira/prod", func() { waits++; waiting <- struct{}{} })
	release, err := first.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Dir(first.path))
	if err != nil || fi.Mode().Perm() != 0o700 || filepath.Base(first.path) == "jira/prod.lock" {
		t.Fatalf("lock %s: dir mode %v, %v", first.path, fi.Mode(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := second.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) || waits != 1 {
		t.Fatalf("acquire while held: %v, %d waiting notices", err, waits)
	}
	<-waiting
	got := make(chan error, 1)
	go func() {
		rel, err := second.acquire(context.Background())
		if err == nil {
			rel()
		}
		got <- err
	}()
	// The second acquire says it waits, and does.
	select {
	case <-waiting:
	case err := <-got:
		t.Fatalf("acquired while held: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the second acquire neither waited nor returned")
	}
	select {
	case err := <-got:
		t.Fatalf("acquired while held: %v", err)
	default:
	}
	release()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not acquired after the release")
	}
	// A lock that cannot be used (here: "locks" is a file) is reported
	// and signing in goes on.
	f2, stderr := proxyTestFactory(t, `{"mcp": {}}`)
	broken := newSignInLock(f2, "jira", nil)
	if err := os.MkdirAll(filepath.Dir(filepath.Dir(broken.path)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Dir(broken.path), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if rel, err := broken.acquire(context.Background()); err != nil || rel == nil || !strings.Contains(stderr.String(), "signing in without it") {
		t.Fatalf("unusable lock: %v, stderr %q", err, stderr)
	}
	if lockFileName("jira/prod") == lockFileName("jira_prod") || lockFileName("jira") != "jira" {
		t.Errorf("lock file names: %q %q %q", lockFileName("jira/prod"), lockFileName("jira_prod"), lockFileName("jira"))
	}
}

// TestProxyHints: the proxy package words its JSON-RPC errors with the
// hints the proxy command gives it — this command's flags for a URL
// target, the entry's config fields (and its file) for a configured one;
// the proxy's own defaults name none (proxy.TestDescribeNamesNoFlags).
func TestProxyHints(t *testing.T) {
	url := proxyHints(&config.Entry{Name: "h-1", Source: commandLineSource, OAuth: &config.OAuth{}})
	if url.AuthTimeout != "--auth-timeout" || url.Resource != "--resource" || url.Headers != "given with --header" ||
		url.IgnoreTools != "--ignore-tool" || !strings.Contains(url.SignIn, "mcplink logout h-1") || !strings.Contains(url.Limit, "--max-message-size") {
		t.Errorf("hints for a URL target = %+v", url)
	}
	cfg := proxyHints(&config.Entry{Name: "jira", Source: "/p/mcplink.json", OAuth: &config.OAuth{}})
	if cfg.Resource != `"oauth.resource" of "jira" in /p/mcplink.json` || !strings.Contains(cfg.Headers, `"headers" of "jira" in /p/mcplink.json`) ||
		!strings.Contains(cfg.SignIn, "mcplink auth jira") || !strings.Contains(cfg.Limit, `"maxMessageSize"`) {
		t.Errorf("hints for a configured server = %+v", cfg)
	}
}
