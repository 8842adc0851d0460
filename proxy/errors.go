package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/limit"
	"github.com/mcplink/mcplink/oauth"
)

// StatusError is a final HTTP error status from the remote server: a 401 or
// 403 that OAuth could not fix (or that came with no OAuth configured), or
// any other non-2xx answer to a message. Err, when set, is why the OAuth
// handler could not fix a 401 or 403.
type StatusError struct {
	Method string // HTTP method
	URL    string // redacted
	Code   int    // HTTP status
	// Challenge and Scope are the error and scope parameters of the
	// WWW-Authenticate challenge, if any ("insufficient_scope", "invalid_token").
	Challenge string
	Scope     string
	// Body is the start of the answer's body, for statuses other than 401
	// and 403.
	Body string
	Err  error // the OAuth handler's error
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d %s", e.Method, e.URL, e.Code, http.StatusText(e.Code))
	if e.Challenge != "" {
		msg += " (" + e.Challenge + ")"
	}
	if e.Err != nil {
		return "authorizing " + msg + ": " + e.Err.Error()
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Unwrap returns why OAuth could not fix the status, if it was asked to.
func (e *StatusError) Unwrap() error { return e.Err }

// SignInTimeoutError is a sign-in (Options.OAuth's Authorize, run on a 401
// or 403) that did not finish within Options.AuthTimeout.
type SignInTimeoutError struct {
	Server  string        // Options.Server
	Timeout time.Duration // Options.AuthTimeout
	Err     error         // the sign-in's error (wraps context.DeadlineExceeded)
}

func (e *SignInTimeoutError) Error() string {
	return fmt.Sprintf("the sign-in to %s timed out after %v: %v", e.Server, e.Timeout, e.Err)
}

func (e *SignInTimeoutError) Unwrap() error { return e.Err }

// statusError returns the StatusError for resp (whose body it does not
// read) to a request of method to rawURL; authErr is why OAuth did not fix it.
func statusError(req *http.Request, resp *http.Response, authErr error) *StatusError {
	e := &StatusError{Method: req.Method, URL: req.URL.Redacted(), Code: resp.StatusCode, Err: authErr}
	if cs, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate")); err == nil {
		for _, c := range cs {
			if c.Params["error"] != "" {
				e.Challenge, e.Scope = c.Params["error"], c.Params["scope"]
				break
			}
		}
	}
	return e
}

// describe is the message the client gets when a call could not be
// forwarded: what went wrong, and the next step, in the words of
// Options.Hints where the step is a setting of the caller's.
func (p *proxy) describe(err error) string {
	const prefix = "mcplink proxy: "
	name, h := p.opts.Server, p.opts.Hints
	signIn := h.SignIn
	resource := "check the resource indicator"
	if h.Resource != "" {
		resource += " (" + h.Resource + ")"
	}
	var se *StatusError
	isStatus := errors.As(err, &se)
	var pe *callback.PortInUseError
	var ae *callback.AuthorizationError
	var ne *oauth.NeedsAuthError
	var tl *limit.TooLargeError
	var re *oauth.RedirectError
	var te *SignInTimeoutError
	switch {
	case errors.As(err, &tl):
		return prefix + fmt.Sprintf("%s sent a message larger than the %s limit, so this request failed (the session goes on); if the server's answers are that large, %s (%v)", name, limit.Size(tl.Limit), h.Limit, err)
	case errors.As(err, &re):
		return prefix + fmt.Sprintf("%s answered with a redirect mcplink does not follow: %v", name, re)
	case errors.Is(err, oauth.ErrFreshTokenRefused):
		return prefix + fmt.Sprintf("%s refused credentials obtained moments ago the same way as the previous ones, so mcplink is not signing in again for a while, to avoid a sign-in loop: a new sign-in would not help. The account may lack the access or scopes the server wants; check its requirements with the server's administrator (%v)", name, err)
	case errors.Is(err, oauth.ErrTooManyRefreshes):
		return prefix + fmt.Sprintf("%s kept refusing refreshed tokens (HTTP 401), so mcplink stopped refreshing them for a while, to avoid a sign-in loop; retry the request later, and %s (%v)", name, resource, err)
	case errors.Is(err, oauth.ErrTooManyAttempts):
		return prefix + fmt.Sprintf("too many sign-in attempts for %s in a short time, so mcplink stopped for a while, to avoid a sign-in loop; retry the request later, and check that the account you sign in with may use the scopes the server asks for (%v)", name, err)
	case errors.Is(err, oauth.ErrInsufficientScope),
		isStatus && se.Code == http.StatusForbidden && se.Challenge == "insufficient_scope",
		errors.As(err, &ne) && len(ne.Scopes) > 0:
		return prefix + fmt.Sprintf("%s requires scopes the sign-in did not grant (HTTP 403 insufficient_scope); sign in again and approve every requested scope, with an account allowed to have them (%s) (%v)", name, signIn, err)
	case errors.As(err, &pe):
		return prefix + fmt.Sprintf("could not sign in to %s: %v", name, err)
	case errors.As(err, &ae):
		return prefix + fmt.Sprintf("the sign-in to %s was refused by the authorization server (%v); retry the request to sign in again", name, err)
	case errors.Is(err, oauth.ErrNeedsAuth):
		return prefix + fmt.Sprintf("%s needs a sign-in; %s (%v)", name, signIn, err)
	case errors.As(err, &te):
		within := te.Timeout.String()
		if h.AuthTimeout != "" {
			within += " (" + h.AuthTimeout + ")"
		}
		return prefix + fmt.Sprintf("no sign-in to %s completed within %s; retry the request to start a new sign-in and finish it in the browser (%v)", name, within, err)
	case isStatus && se.Code == http.StatusUnauthorized && se.Err == nil && p.opts.OAuth == nil:
		return prefix + fmt.Sprintf("%s refused the credentials (HTTP 401 Unauthorized); check the Authorization header %s (%v)", name, h.Headers, err)
	case isStatus && se.Code == http.StatusUnauthorized && se.Err == nil:
		return prefix + fmt.Sprintf("%s refused the credentials (HTTP 401 Unauthorized) even fresh ones; %s, and %s (%v)", name, signIn, resource, err)
	case isStatus && se.Code == http.StatusForbidden && p.opts.OAuth == nil:
		return prefix + fmt.Sprintf("%s refused access (HTTP 403 Forbidden): the credentials in the Authorization header are valid but not allowed to do this; use other credentials or ask the server's administrator (%v)", name, err)
	case isStatus && se.Code == http.StatusForbidden:
		return prefix + fmt.Sprintf("%s refused access (HTTP 403 Forbidden): the signed-in account is not allowed to do this; sign in with another account (%s) or ask the server's administrator (%v)", name, signIn, err)
	case isStatus && se.Err != nil:
		return prefix + fmt.Sprintf("signing in to %s failed; retry the request to sign in again (%v)", name, err)
	case isStatus:
		return prefix + fmt.Sprintf("%s answered HTTP %d %s; retry later, or look at the server's status (%v)", name, se.Code, http.StatusText(se.Code), err)
	case unreachable(err):
		return prefix + "the remote server could not be reached: " + err.Error()
	}
	return prefix + "forwarding the request to the remote server failed: " + err.Error()
}

// unreachable reports whether err is a network failure: the server could
// not be reached, or the connection broke.
func unreachable(err error) bool {
	var oe *net.OpError
	var de *net.DNSError
	return errors.As(err, &oe) || errors.As(err, &de) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		// net/http's error for a kept-alive connection the server closed
		// as the request went out is not exported.
		strings.Contains(err.Error(), "server closed idle connection")
}
