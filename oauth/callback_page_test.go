package oauth

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"

	"github.com/mcplink/mcplink/internal/chromium"
)

// pageBrowser plays a browser with a plain HTTP client: it follows the
// authorization URL through the AS into our callback listener and sends the
// page it ends on to pages.
func pageBrowser(pages chan<- string) func(ctx context.Context, u string) error {
	return func(ctx context.Context, u string) error {
		hc := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 20 * time.Second}
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			pages <- "browser error: " + err.Error()
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		pages <- string(b)
		return nil
	}
}

// chromiumBrowser opens the URL in headless Chromium (skipping when none is
// installed, failing in CI) and sends the DOM it ends on to pages.
func chromiumBrowser(t *testing.T, pages chan<- string) func(ctx context.Context, u string) error {
	t.Helper()
	bin := chromium.Require(t)
	profile := t.TempDir()
	return func(_ context.Context, u string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
			"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--disable-dev-shm-usage", "--user-data-dir="+profile, "--dump-dom", u)
		cmd.Env = testenv.Env(t, "HOME="+profile, "XDG_CONFIG_HOME="+profile, "XDG_CACHE_HOME="+profile, "PATH=/usr/bin:/bin")
		out, err := cmd.Output()
		if err != nil {
			pages <- "browser error: " + err.Error()
			return err
		}
		pages <- string(out)
		return nil
	}
}

// checkExchangePages signs in twice through browser: once with the token
// endpoint refusing the code (the page must show that failure, never
// "Signed in"), once normally (the page says "Signed in").
func checkExchangePages(t *testing.T, browser func(chan<- string) func(context.Context, string) error) {
	s := startAS(t, oauthtest.Options{})
	pages := make(chan string, 2)
	v := newEnv(t, "", browser(pages))
	entry := testEntry(t, s.MCPURL)

	s.SetNextTokenError("invalid_grant")
	if _, err := v.e.Authenticate(ctxT(t), entry); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("sign-in with a failing token endpoint: %v", err)
	}
	page := <-pages
	for _, want := range []string{"Sign-in to srv failed", "could not finish signing in", "exchanging the authorization code", "invalid_grant: error injected by the test"} {
		if !strings.Contains(page, want) {
			t.Errorf("failure page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "Signed in") {
		t.Errorf("failure page claims success:\n%s", page)
	}

	v.clock.Advance(AttemptWindow)
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	if page := <-pages; !strings.Contains(page, "Signed in to srv. You can close this tab.") {
		t.Errorf("success page:\n%s", page)
	}
}

// TestCallbackPageShowsExchangeOutcome: the page a plain HTTP client gets
// from the real listener reflects the real token exchange.
func TestCallbackPageShowsExchangeOutcome(t *testing.T) {
	checkExchangePages(t, pageBrowser)
}

// TestCallbackPageShowsExchangeOutcomeChromium: the same with real Chromium.
func TestCallbackPageShowsExchangeOutcomeChromium(t *testing.T) {
	checkExchangePages(t, func(pages chan<- string) func(context.Context, string) error { return chromiumBrowser(t, pages) })
}
