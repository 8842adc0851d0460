package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/fix"
	"github.com/mcplink/mcplink/oauth"
)

// browserGrace is how long the proxy waits for a $BROWSER command to fail
// before taking it as started: launchers that hand the URL to a running
// browser exit at once, with a non-zero status when they cannot.
const browserGrace = 2 * time.Second

// proxyEngine returns the OAuth engine of `mcplink proxy` for e and the
// function that releases its callback listeners. Unless noBrowser is set
// it opens the sign-in URL in a browser; when none can be opened (or this
// is an SSH session, where the browser may run on another machine) it says
// so on stderr, with the ways to sign in anyway.
func (f *Factory) proxyEngine(e *config.Entry, noBrowser bool) (*oauth.Engine, func(), error) {
	store, err := f.Store()
	if err != nil {
		return nil, nil, err
	}
	reg := callback.New(callback.Options{})
	var open func(ctx context.Context, u string) error
	if !noBrowser {
		opener, none := proxyBrowser(f)
		ssh := f.Getenv("SSH_CONNECTION") != "" || f.Getenv("SSH_TTY") != ""
		open = func(ctx context.Context, u string) error {
			err := errors.New(none)
			if opener != nil {
				err = opener(ctx, u)
			}
			switch {
			case err != nil:
				f.diag("%s: could not open a browser (%v); open the URL above yourself. %s", e.Name, err, signInAlternatives(e, u))
			case ssh:
				f.diag("%s: this is an SSH session. %s", e.Name, signInAlternatives(e, u))
			}
			// Reported here, with the alternatives: the engine need not
			// add its own notice.
			return nil
		}
	}
	eng := oauth.New(oauth.Options{
		Store:     store,
		Callbacks: reg,
		OpenURL:   open,
		Fallback:  f.opencodeAuth(),
		Notify: func(server, msg string) {
			f.diag("%s: %s", server, msg)
		},
	})
	return eng, func() { reg.Close() }, nil
}

// proxyBrowser returns how to open a URL in a browser, or nil and why none
// can be. $BROWSER runs through launchBrowser, which notices a command that
// fails at once.
func proxyBrowser(f *Factory) (func(ctx context.Context, u string) error, string) {
	if b := f.Getenv("BROWSER"); strings.TrimSpace(b) != "" {
		return launchBrowser(b), ""
	}
	if f.OpenURL == nil {
		if runtime.GOOS == "linux" {
			return nil, "no $BROWSER, and neither DISPLAY nor WAYLAND_DISPLAY is set"
		}
		return nil, "this is an SSH session and $BROWSER is not set"
	}
	return f.OpenURL, ""
}

// launchBrowser runs the $BROWSER command line with the URL and waits up to
// browserGrace for it to fail: a command that cannot start or exits with a
// non-zero status is an error; one still running then, or that exited
// successfully, has opened the URL. Its output is discarded (stdout carries
// the protocol).
func launchBrowser(cmdline string) func(ctx context.Context, u string) error {
	return func(ctx context.Context, u string) error {
		args := strings.Fields(cmdline)
		cmd := exec.Command(args[0], append(args[1:], u)...)
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting $BROWSER (%s): %w", cmdline, err)
		}
		done := make(chan error, 1)
		// The waiter ends when the browser command exits; it reaps it even
		// when nobody reads done any more.
		go func() { done <- cmd.Wait() }()
		t := time.NewTimer(browserGrace)
		defer t.Stop()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("$BROWSER (%s) failed: %w", cmdline, err)
			}
		case <-t.C:
		case <-ctx.Done():
		}
		return nil
	}
}

// signInAlternatives is the sentence on stderr that lists the ways to sign
// in when the browser that opens authURL cannot reach this machine's
// callback listener.
func signInAlternatives(e *config.Entry, authURL string) string {
	host, port := "127.0.0.1", ""
	if u, err := url.Parse(authURL); err == nil {
		if r, err := url.Parse(u.Query().Get("redirect_uri")); err == nil && r.Port() != "" {
			host, port = r.Hostname(), r.Port()
		}
	}
	if port == "" {
		if r, err := url.Parse(oauth.RedirectURI(e)); err == nil {
			host, port = r.Hostname(), r.Port()
		}
	}
	hp := net.JoinHostPort(host, port)
	auth := fmt.Sprintf("sign in beforehand with `mcplink auth %s` (it accepts the redirect URL pasted on its stdin)", e.Name)
	if e.Source == commandLineSource {
		auth = fmt.Sprintf("add the server (`mcplink add NAME --url %s`) and sign in beforehand with `mcplink auth NAME` (it accepts the redirect URL pasted on its stdin); the proxy then uses those credentials", e.URL)
	}
	return fmt.Sprintf("The sign-in ends with a redirect to %s on this machine; if the browser runs on another machine, forward that port first (ssh -L %s:%s <this host>), or restart the proxy with --device (if the authorization server supports the device grant), or %s.",
		hp, port, hp, auth)
}

// proxySignIn is the proxy's sign-in coordinator (proxy.Options.SignIn,
// run by oauth.Transport around every Authorize): it holds the sign-in
// lock around the sign-in, so that proxies for one server that lose their
// credentials together sign in once, the others using what the first
// stored, and rewrites errors with fix.
func proxySignIn(lock *signInLock, fix func(error) error) func(ctx context.Context, status int, authorize func(context.Context) error) error {
	return func(ctx context.Context, _ int, authorize func(context.Context) error) error {
		release, err := lock.acquire(ctx)
		if err != nil {
			return err
		}
		defer release()
		return fix(authorize(ctx))
	}
}

// fixFor adds to the errors whose fix is a setting of e (the callback
// port, a pre-registered client) the fix as the proxy words it: the config
// entry's settings or, for a URL target, the proxy's flags.
func fixFor(e *config.Entry) func(error) error {
	s := fix.Proxy
	if e.Source == commandLineSource {
		s = fix.ProxyFlags
	}
	return func(err error) error { return fix.Wrap(err, s) }
}

// signedIn reports whether usable credentials for e are stored: a token, or
// an expired one that can be refreshed.
func signedIn(ctx context.Context, eng *oauth.Engine, e *config.Entry) (bool, error) {
	st, err := eng.Status(ctx, e)
	if err != nil {
		return false, err
	}
	return st.State == oauth.StateAuthenticated || (st.State == oauth.StateExpired && st.Refreshable), nil
}

// signInFirst runs the browser flow (or, with device, the device grant)
// before serving when nothing usable is stored for e. Paste mode is not
// offered: the proxy's stdin carries the MCP protocol. A server that turns
// out not to need OAuth is fine.
//
// The sign-in runs under lock, so that of several proxies for one server
// started together one signs in and the others wait, then use what it
// stored.
func signInFirst(ctx context.Context, diag diagFunc, eng *oauth.Engine, e *config.Entry, lock *signInLock, timeout time.Duration, device bool) error {
	ok, err := signedIn(ctx, eng, e)
	if err != nil || ok {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	release, err := lock.acquire(actx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("another mcplink process was still signing in to %s after %s; finish or stop that sign-in, then run the proxy again (or raise --auth-timeout): %w", e.Name, timeout, err)
		}
		return err
	}
	defer release()
	if ok, err := signedIn(actx, eng, e); err != nil || ok {
		if ok {
			diag("mcplink proxy: %s: another mcplink process signed in; using its credentials", e.Name)
		}
		return err
	}
	_, err = eng.AuthenticateWith(actx, e, oauth.AuthOptions{Device: device})
	switch {
	case err == nil:
		diag("mcplink proxy: %s: signed in", e.Name)
		return nil
	case errors.Is(err, oauth.ErrNotProtected):
		return nil
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return fmt.Errorf("no sign-in to %s completed within %s; run the proxy again (or raise --auth-timeout): %w", e.Name, timeout, err)
	}
	return fmt.Errorf("signing in to %s: %w", e.Name, fixFor(e)(err))
}
