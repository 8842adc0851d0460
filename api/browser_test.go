package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/mcplink/mcplink/api/apitest"
	"github.com/mcplink/mcplink/internal/testenv"

	"github.com/mcplink/mcplink/internal/chromium"
)

// TestStatusPageInChromium clicks Authenticate on the status page, approves
// on the authorization server's consent page in the window that opens, and
// expects the page to show the server connected; then clicks Logout.
func TestStatusPageInChromium(t *testing.T) {
	bin := chromium.Require(t)
	env := start(t, apitest.Options{Secure: 1, Plain: 1, ConsentPage: true})

	base, cancelB := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelB()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoInheritEnv, chromedp.Env(testenv.Env(t)...))
	actx, cancelA := chromedp.NewExecAllocator(base, opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()

	waitStatus := func(name, want string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](`(() => { const e = document.getElementById("status-`+name+`"); return !!e && e.textContent === "`+want+`"; })()`,
			chromedp.WithPollingTimeout(10*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("status-secure0")),
		waitStatus("secure0", "needs_auth"),
		waitStatus("plain0", "connected"),
	); err != nil {
		t.Fatalf("loading the status page: %v", err)
	}

	popup := chromedp.WaitNewTarget(ctx, func(i *target.Info) bool { return i.Type == "page" })
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[data-action="authenticate"][data-name="secure0"]`))); err != nil {
		t.Fatalf("clicking Authenticate: %v", err)
	}
	var popupID target.ID
	select {
	case popupID = <-popup:
	case <-ctx.Done():
		t.Fatal("no sign-in window opened")
	}
	pctx, cancelP := chromedp.NewContext(ctx, chromedp.WithTargetID(popupID))
	defer cancelP()
	if err := chromedp.Do(pctx, chromedp.WaitVisible(chromedp.ID("approve"))); err != nil {
		t.Fatalf("waiting for the consent page: %v", err)
	}
	consentURL, err := chromedp.Run(pctx, chromedp.Location())
	if err != nil || !strings.HasPrefix(consentURL, env.AS.IssuerURL) {
		t.Fatalf("the sign-in window showed %q (%v), not the authorization server", consentURL, err)
	}
	if err := chromedp.Do(pctx, chromedp.Click(chromedp.ID("approve"))); err != nil {
		t.Fatalf("approving: %v", err)
	}
	if err := chromedp.Do(ctx, waitStatus("secure0", "connected")); err != nil {
		logText, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("log")))
		st, _ := env.Client.Get(context.Background(), "secure0")
		t.Fatalf("waiting for the page to show secure0 connected: %v (page log %q; API status %+v)", err, logText, st)
	}
	dot, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`tr[data-server="secure0"] [data-role="dot"]`), "class"))
	if err != nil || dot.Value != "dot connected" {
		t.Fatalf("status dot class %q, %v", dot.Value, err)
	}
	authText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr[data-server="secure0"] [data-role="auth"]`)))
	if err != nil || authText != "authenticated" {
		t.Fatalf("auth cell %q, %v", authText, err)
	}
	st, err := env.Client.Get(ctx, "secure0")
	if err != nil || st.Status != "connected" {
		t.Fatalf("API status after the browser sign-in: %+v, %v", st, err)
	}

	// A fresh render from the server shows it too; then Logout.
	if err := chromedp.Do(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("status-secure0")),
		waitStatus("secure0", "connected"),
		chromedp.Click(chromedp.CSS(`button[data-action="logout"][data-name="secure0"]`)),
		waitStatus("secure0", "disconnected"),
	); err != nil {
		t.Fatalf("logging out from the page: %v", err)
	}
	authText, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr[data-server="secure0"] [data-role="auth"]`)))
	if err != nil || authText != "not authenticated" {
		t.Fatalf("auth cell after logout %q, %v", authText, err)
	}
	// The page says what became of the tokens.
	logText, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("log")))
	if err != nil || !strings.Contains(logText, "secure0: tokens revoked at the authorization server and deleted; client registration kept") {
		t.Fatalf("page log after logout %q, %v", logText, err)
	}
	st, err = env.Client.Get(ctx, "secure0")
	if err != nil || st.Auth.State != "not_authenticated" {
		t.Fatalf("API status after Logout: %+v, %v", st, err)
	}
}
