package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mcplink/mcplink/internal/chromium"
)

// browser is one headless Chromium shared by the tests; every sign-in runs
// in a fresh browser context (no cookies carried over), so each one meets
// the login page.
type browser struct {
	ctx        context.Context // the browser's chromedp context
	cancel     func()
	cancelExec func()
	dataDir    string
	logs       *lockedBuffer
}

// sharedBrowser starts Chromium on first use; TestMain stops it.
func sharedBrowser(tb testing.TB) *browser {
	tb.Helper()
	path := chromium.Require(tb)
	harness.mu.Lock()
	defer harness.mu.Unlock()
	if harness.browser == nil && harness.bErr == nil {
		harness.browser, harness.bErr = startBrowser(path)
	}
	if harness.bErr != nil {
		unavailable(tb, "e2e: Chromium (%s) cannot run: %v", path, harness.bErr)
	}
	return harness.browser
}

func startBrowser(path string) (*browser, error) {
	dir, err := os.MkdirTemp("", "mcplink-e2e-chromium-")
	if err != nil {
		return nil, err
	}
	b := &browser{dataDir: dir, logs: &lockedBuffer{}}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(dir),
		// Its config and cache dirs are the test's too.
		chromedp.NoInheritEnv, chromedp.Env(minimalEnv(filepath.Join(dir, "env"))...),
		chromedp.CombinedOutput(b.logs),
		chromedp.WSURLReadTimeout(30 * time.Second),
	}
	allocCtx, cancelExec := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b.ctx, b.cancel, b.cancelExec = ctx, cancel, cancelExec
	// The first action starts the browser (bounded by WSURLReadTimeout). It
	// must run on ctx itself: the browser lives as long as the context of the
	// first action.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.close()
		return nil, fmt.Errorf("%w\n%s", err, b.logs.String())
	}
	return b, nil
}

func (b *browser) close() {
	b.cancel()
	b.cancelExec()
	_ = os.RemoveAll(b.dataDir)
}

// tab opens a tab in a new browser context; cancel closes both.
func (b *browser) tab(tb testing.TB, timeout time.Duration) (context.Context, func()) {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	tctx, stop := context.WithTimeout(ctx, timeout)
	return tctx, func() { stop(); cancel() }
}

// waitLocation polls the tab's address until match accepts it (at most
// until ctx ends) and returns it.
func waitLocation(ctx context.Context, match func(string) bool) (string, error) {
	last := ""
	for {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err == nil {
			last = loc
			if match(loc) {
				return loc, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("browser never reached the expected address (last %q): %w", redactURL(last), ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// pageText returns the text of the page's body.
func pageText(ctx context.Context) (string, error) {
	return chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
}

// login fills the provider's login form as the user.
func login(ctx context.Context, user, password string) error {
	return chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#signin")),
	)
}

// approve presses Approve on the provider's consent page.
func approve(ctx context.Context) error {
	return chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS("#approve")),
		chromedp.Click(chromedp.CSS("#approve")),
	)
}

// deny presses Deny on the provider's consent page.
func deny(ctx context.Context) error {
	return chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS("#deny")),
		chromedp.Click(chromedp.CSS("#deny")),
	)
}

// redactURL drops the query of a URL (codes and states are secrets).
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}
