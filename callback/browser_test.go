package callback

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/testenv"

	"github.com/mcplink/mcplink/internal/chromium"
)

// dumpDOM loads u in headless Chromium and returns the serialized DOM.
func dumpDOM(t *testing.T, chromium, u string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--dump-dom", u)
	cmd.Env = testenv.Env(t) // its profile, config and cache dirs are the test's
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, stderr.String())
	}
	return string(out)
}

func TestBrowserPages(t *testing.T) {
	chromium := chromium.Require(t)
	reg := New(Options{})
	defer reg.Close()

	t.Run("success", func(t *testing.T) {
		port := testenv.FreePort(t)
		state := newState(t)
		f := begin(t, reg, port, state)
		code := "code-" + newState(t)
		dom := dumpDOM(t, chromium, callbackURL(port, url.Values{"code": {code}, "state": {state}}))
		if !strings.Contains(dom, "Signed in to notion. You can close this tab.") {
			t.Errorf("browser DOM lacks the success message:\n%s", dom)
		}
		if strings.Contains(dom, code) || strings.Contains(dom, state) {
			t.Errorf("browser DOM shows the code or state:\n%s", dom)
		}
		v, err := waitFlow(t, f)
		if err != nil || v.Get("code") != code {
			t.Fatalf("Wait = %v, %v", v, err)
		}
		waitBindable(t, port)
	})

	t.Run("exchange failed", func(t *testing.T) {
		port := testenv.FreePort(t)
		state := newState(t)
		f := beginNoReport(t, reg, port, state)
		go func() {
			<-f.Done()
			f.Report(errors.New("token endpoint returned invalid_grant: <b>bad</b><script>document.title=\"pwned\"</script>\x1b[2J"))
		}()
		dom := dumpDOM(t, chromium, callbackURL(port, url.Values{"code": {"c"}, "state": {state}}))
		for _, want := range []string{"Sign-in to notion failed", "invalid_grant: &lt;b&gt;bad&lt;/b&gt;&lt;script&gt;"} {
			if !strings.Contains(dom, want) {
				t.Errorf("browser DOM lacks %q:\n%s", want, dom)
			}
		}
		if strings.Contains(dom, "Signed in") || strings.Contains(dom, "<script") || strings.Contains(dom, "pwned</title>") || strings.Contains(dom, "\x1b") {
			t.Errorf("browser DOM claims success or renders the failure as markup:\n%s", dom)
		}
		waitBindable(t, port)
	})

	t.Run("localhost", func(t *testing.T) {
		port := testenv.FreePort(t)
		u := fmt.Sprintf("http://localhost:%d/cb", port)
		f, err := reg.Begin(context.Background(), Request{RedirectURI: u, State: "lh", Server: "notion"})
		if err != nil {
			t.Fatal(err)
		}
		autoReport(f, nil)
		dom := dumpDOM(t, chromium, u+"?code=c&state=lh")
		if !strings.Contains(dom, "Signed in to notion. You can close this tab.") {
			t.Errorf("browser DOM lacks the success message:\n%s", dom)
		}
		if _, err := waitFlow(t, f); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("as error", func(t *testing.T) {
		port := testenv.FreePort(t)
		state := newState(t)
		f := begin(t, reg, port, state)
		dom := dumpDOM(t, chromium, callbackURL(port, url.Values{
			"error": {"access_denied"}, "error_description": {`The user said <b>no</b><script>document.title="pwned"</script>`}, "state": {state},
		}))
		for _, want := range []string{"Sign-in to notion failed", "access_denied: The user said &lt;b&gt;no&lt;/b&gt;&lt;script&gt;"} {
			if !strings.Contains(dom, want) {
				t.Errorf("browser DOM lacks %q:\n%s", want, dom)
			}
		}
		if strings.Contains(dom, "<script") || strings.Contains(dom, "pwned</title>") || strings.Contains(dom, "<b>no</b>") {
			t.Errorf("AS error description was rendered as markup:\n%s", dom)
		}
		var aerr *AuthorizationError
		if _, err := waitFlow(t, f); !errors.As(err, &aerr) || aerr.Code != "access_denied" {
			t.Fatalf("Wait error = %v", err)
		}
		waitBindable(t, port)
	})

	t.Run("unknown state", func(t *testing.T) {
		port := testenv.FreePort(t)
		f := begin(t, reg, port, newState(t))
		defer f.Close()
		dom := dumpDOM(t, chromium, callbackURL(port, url.Values{"code": {"c"}, "state": {"not-ours"}}))
		if !strings.Contains(dom, "unknown or already finished") || !strings.Contains(dom, "another mcplink process") {
			t.Errorf("browser DOM lacks the unknown-request message:\n%s", dom)
		}
		assertPending(t, f)
	})
}
