package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/netutil"
)

// AuthOptions tunes AuthenticateWith.
type AuthOptions struct {
	// Paste, when non-nil, delivers lines the user typed (for example stdin
	// split into lines): the full URL the browser was redirected to, or just
	// the code. They race the callback listener; whichever arrives first
	// wins, with the same state and iss checks. With Paste set, a busy
	// callback port does not stop the sign-in: the flow goes on without a
	// listener. Several concurrent flows may share one channel: a pasted URL
	// is routed to the flow its state names.
	Paste <-chan string
	// Device uses the device authorization grant (RFC 8628) instead of a
	// browser redirect; the AS must advertise device_authorization_endpoint.
	Device bool
	// OnDeviceCode, when non-nil, is called with the device code once the
	// AS issued it (Device only), before polling starts, so a UI can show
	// it; Notify still announces it too. It must not block for long.
	OnDeviceCode func(DeviceCode)
}

// DeviceCode is what the user needs to finish a device sign-in (RFC 8628 §3.2).
type DeviceCode struct {
	// VerificationURI is the page where the user enters UserCode.
	VerificationURI string
	// VerificationURIComplete, when the AS offers it, carries the code.
	VerificationURIComplete string
	// UserCode is the code to enter.
	UserCode string
	// ExpiresAt is when the device code expires (zero when the AS gave no lifetime).
	ExpiresAt time.Time
}

// ErrDeviceNotSupported means --device was asked for but the authorization
// server advertises no device_authorization_endpoint.
var ErrDeviceNotSupported = errors.New("the authorization server does not support the device authorization grant")

// AuthenticateWith is Authenticate with options: paste mode and the device
// authorization grant.
func (e *Engine) AuthenticateWith(ctx context.Context, entry *config.Entry, opts AuthOptions) (*authstore.Credentials, error) {
	if err := checkEntry(entry); err != nil {
		return nil, err
	}
	if isMachine(entry) {
		return e.authenticateMachine(ctx, entry) // grants.go: fetch, no browser
	}
	d, err := e.Discover(ctx, entry, nil)
	if err != nil {
		return nil, err
	}
	if opts.Device {
		return e.authorizeDeviceWith(ctx, entry, d, opts.OnDeviceCode)
	}
	return e.authorizeWith(ctx, entry, d, nil, opts.Paste)
}

// noticeListenAddr says so when the callback listener is bound to a
// non-loopback address (oauth.callbackHost set explicitly).
func noticeListenAddr(e *Engine, entry *config.Entry, flow *callback.Flow) {
	if !flow.Listening() {
		return
	}
	if msg := listenNotice(entry, flow.ListenAddr()); msg != "" {
		e.notify(entry.Name, msg)
	}
}

// listenNotice is the notice for a listener on addr, or "" when it is loopback.
func listenNotice(entry *config.Entry, addr string) string {
	h := oauthOf(entry).CallbackHost
	if h == "" || netutil.IsLoopbackHost(h) {
		return ""
	}
	return fmt.Sprintf("the OAuth callback listener is bound to %s, which is not a loopback address, because \"oauth.callbackHost\" is %q in %s; other machines that can reach it can see the sign-in redirect", addr, h, entry.Source)
}

// pastedBareCode reports whether params came from a code pasted without
// its redirect URL: it has no iss to check, which the user vouches for.
func (p *Pending) pastedBareCode(params url.Values) bool {
	c := p.bareCode.Load()
	return c != nil && *c == params.Get("code") && !params.Has("iss")
}

// Listening reports whether a callback listener waits for the redirect
// (false for a flow begun with ListenFallback on a busy port).
func (p *Pending) Listening() bool { return p.flow.Listening() }

// ListenError says why the flow has no listener (a *callback.PortInUseError),
// or nil.
func (p *Pending) ListenError() error { return p.flow.ListenError() }

// Paste completes the flow with what the user pasted: the full URL the
// browser was redirected to (or its query), or just the code. The state and
// RFC 9207 iss checks of the listener apply before anything is delivered, so
// a wrong paste returns an error and leaves the flow pending; a bare code has
// no iss to check (the user vouches for it).
//
// Input is read as a redirect only when it looks like one (see
// looksLikeRedirect): a code may contain "=" (base64 padding), and such a
// code is a code. Where the input is known to be a code, use PasteCode.
func (p *Pending) Paste(input string) error {
	in := strings.TrimSpace(input)
	if in == "" {
		return errors.New("nothing was pasted; paste the full URL from the browser's address bar after signing in (or just the code)")
	}
	if !looksLikeRedirect(in) {
		if !plausibleCode(in) {
			return errors.New("that is not a URL or an authorization code; paste the full URL from the browser's address bar after signing in (or just the code)")
		}
		return p.deliverCode(in)
	}
	params, err := callback.ParseRedirect(in)
	if err != nil {
		return err
	}
	state := params.Get("state")
	if state == p.State && params.Get("error") == "" {
		if err := checkIss(params, p.d.Issuer, p.d.AuthServer.AuthorizationResponseIssParameterSupported); err != nil {
			return err
		}
	}
	return p.deliver(state, params)
}

// PasteCode completes the flow with code, known to be an authorization code
// (an API's {"code"}): it is delivered for this flow's state as given (white
// space around it dropped: a code cannot contain any), never read as a
// redirect URL. Like a bare pasted code it has no RFC 9207 iss to check. A
// refused code leaves the flow pending.
func (p *Pending) PasteCode(code string) error {
	code = strings.TrimSpace(code)
	if code == "" {
		return errors.New("the authorization code is empty")
	}
	if !plausibleCode(code) {
		return errors.New("that is not an authorization code: a code is at most 4096 printable ASCII characters without spaces")
	}
	return p.deliverCode(code)
}

// deliverCode delivers a bare code for p's state, noting it so Wait skips
// the iss check it cannot have.
func (p *Pending) deliverCode(code string) error {
	p.bareCode.Store(&code)
	return p.deliver(p.State, url.Values{"code": {code}})
}

// deliver hands params to the flow of state.
func (p *Pending) deliver(state string, params url.Values) error {
	if err := p.e.opts.Callbacks.Deliver(state, params); err != nil {
		if errors.Is(err, callback.ErrUnknownState) {
			return fmt.Errorf("the pasted redirect belongs to no pending sign-in (wrong or old state, or the sign-in already ended); paste the URL of the latest sign-in: %w", err)
		}
		return fmt.Errorf("the pasted redirect was not accepted: %w", err)
	}
	return nil
}

// looksLikeRedirect reports whether pasted text is a redirect rather than a
// bare code: it has a scheme ("http://…"), or it parses as a query with a
// "code" or "error" parameter ("code=…&state=…", "?error=…"). A code with
// "=" in it (base64 padding, "abc==") is neither.
func looksLikeRedirect(in string) bool {
	if strings.Contains(in, "://") {
		return true
	}
	q, err := url.ParseQuery(strings.TrimPrefix(in, "?"))
	return err == nil && (q.Has("code") || q.Has("error"))
}

// plausibleCode reports whether s can be an authorization code: printable
// ASCII without spaces (RFC 6749 §A.11 VSCHAR), of a sane length.
func plausibleCode(s string) bool {
	if len(s) > 4096 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return s != ""
}

// readPaste hands pasted lines to p.Paste until p's flow ends or ctx is
// done, reporting refused pastes through Notify. When the pasted lines end
// (stdin closed) and no callback listener runs either, nothing can ever
// complete the flow: fail calls it off with the reason at once instead of
// leaving it to time out.
func (e *Engine) readPaste(ctx context.Context, p *Pending, lines <-chan string, fail context.CancelCauseFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.flow.Done():
			return
		case line, ok := <-lines:
			if !ok {
				// A paste delivered just before the end of input (echo URL |
				// mcplink auth, a paste then Ctrl-D) already ended the flow:
				// Paste delivers synchronously, so the flow is done by now,
				// but the select above may have picked the closed channel
				// over the done flow. The delivery wins: the exchange goes on.
				select {
				case <-p.flow.Done():
					return
				default:
				}
				if !p.flow.Listening() {
					fail(fmt.Errorf("MCP server %q: standard input ended, so no redirect can be pasted, and no callback listener runs: %w", p.entry.Name, p.ListenError()))
				}
				return
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			if err := p.Paste(line); err != nil {
				e.notify(p.entry.Name, err.Error())
			}
		}
	}
}

// openerGrace bounds how long a finished flow waits for Options.OpenURL to
// return before cancelling its context.
const openerGrace = time.Second

// authorizeWith runs one interactive authorization, redoing it once with a
// fresh registration when the AS rejects our stored dynamic client; paste,
// when non-nil, races pasted redirects against the callback listener.
func (e *Engine) authorizeWith(ctx context.Context, entry *config.Entry, d *Discovery, granted []string, paste <-chan string) (*authstore.Credentials, error) {
	for attempt := 0; ; attempt++ {
		p, err := e.beginFlow(ctx, entry, d, granted, paste != nil)
		if err != nil {
			return nil, err
		}
		e.notify(entry.Name, "Open this URL to sign in: "+p.AuthorizationURL)
		var wg sync.WaitGroup
		pctx, stop := context.WithCancel(ctx)
		wctx, fail := context.WithCancelCause(ctx)
		var opened chan struct{}
		if e.opts.OpenURL != nil {
			// The browser is opened while the flow waits: an opener that
			// returns only once the page is loaded (a test's browser, a
			// $BROWSER that exits when done) must not hold up the token
			// exchange the callback page waits for.
			opened = make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(opened)
				if err := e.opts.OpenURL(pctx, p.AuthorizationURL); err != nil && pctx.Err() == nil {
					e.notify(entry.Name, "could not open a browser ("+err.Error()+"); open the URL above yourself")
				}
			}()
		}
		if paste != nil {
			if p.flow.Listening() {
				e.notify(entry.Name, "After signing in, the browser returns here by itself; if it cannot reach this machine, paste the full URL it was redirected to (or just the code) and press Enter:")
			} else {
				e.notify(entry.Name, "Paste the full URL the browser was redirected to after signing in (or just the code) and press Enter:")
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.readPaste(pctx, p, paste, fail)
			}()
		}
		creds, err := p.Wait(wctx)
		if cause := context.Cause(wctx); err != nil && ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause // readPaste called the flow off: say why
		}
		if opened != nil {
			// Let a browser that is still loading the callback page finish
			// it (briefly) before its context is cancelled.
			t := time.NewTimer(openerGrace)
			select {
			case <-opened:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		stop()
		wg.Wait()
		fail(nil)
		var ic *invalidClientError
		if errors.As(err, &ic) && attempt == 0 && (p.client.kind == RegistrationDynamic || p.client.kind == RegistrationStored) {
			if derr := ignoreUnchanged(e.dropClient(ctx, entry, p.client.id)); derr != nil {
				return nil, derr
			}
			e.notify(entry.Name, "the authorization server rejected the stored client registration; registering again")
			continue
		}
		if ic != nil {
			return nil, ic.err
		}
		return creds, err
	}
}
