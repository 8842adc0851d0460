package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcplink/mcplink/limit"
	"github.com/mcplink/mcplink/oauth"
)

// TestDescribeSignInNeeded covers the messages for errors the subprocess
// tests do not reach through the real proxy: a sign-in needed without a
// flow being run (possibly for more scopes), the loop brakes the oauth
// package may hit first in other orders, and an unknown failure.
func TestDescribeSignInNeeded(t *testing.T) {
	p, err := newProxy(Options{URL: "http://127.0.0.1:1/mcp", Server: "jira", Hints: Hints{SignIn: "run `mcplink auth jira`, then restart the proxy"}}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "http://127.0.0.1:1/mcp", Err: &StatusError{Method: "POST", URL: "http://127.0.0.1:1/mcp", Code: 401, Err: err}}
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{wrap(&oauth.NeedsAuthError{Server: "jira", Reason: "no stored token"}), "jira needs a sign-in; run `mcplink auth jira`, then restart the proxy"},
		{wrap(&oauth.NeedsAuthError{Server: "jira", Reason: "more scopes", Scopes: []string{"admin"}}), "requires scopes the sign-in did not grant"},
		{wrap(&SignInTimeoutError{Server: "jira", Timeout: 5 * time.Minute, Err: fmt.Errorf("waiting: %w", context.DeadlineExceeded)}), "no sign-in to jira completed within 5m0s; retry the request"},
		{wrap(fmt.Errorf("5 attempts: %w", oauth.ErrTooManyAttempts)), "too many sign-in attempts for jira in a short time, so mcplink stopped for a while, to avoid a sign-in loop; retry the request later"},
		{wrap(fmt.Errorf("5 refreshes: %w", oauth.ErrTooManyRefreshes)), "jira kept refusing refreshed tokens (HTTP 401)"},
		{wrap(fmt.Errorf("refused again: %w", oauth.ErrFreshTokenRefused)), "a new sign-in would not help"},
		{wrap(fmt.Errorf("discovery failed")), "signing in to jira failed; retry the request to sign in again"},
		{fmt.Errorf("decoding a message from the server: bad"), "forwarding the request to the remote server failed: decoding"},
	} {
		if got := p.describe(tc.err); !strings.Contains(got, tc.want) || !strings.HasPrefix(got, "mcplink proxy: ") {
			t.Errorf("describe(%v) = %q, want it to contain %q", tc.err, got, tc.want)
		}
	}
}

// TestDescribeNamesNoFlags: the proxy is a library; with no Hints its
// messages name no flag, command or config file of mcplink's, and with
// them they name exactly what the caller gave (mcplink's proxy command
// gives its flags: TestFailuresNameTheCause, TestSignInTimeoutMidSession).
func TestDescribeNamesNoFlags(t *testing.T) {
	const u = "http://127.0.0.1:1/mcp"
	status := func(code int, challenge string, err error) error {
		return &url.Error{Op: "Post", URL: u, Err: &StatusError{Method: "POST", URL: u, Code: code, Challenge: challenge, Err: err}}
	}
	timeout := &SignInTimeoutError{Server: "srv", Timeout: 2 * time.Second, Err: context.DeadlineExceeded}
	errs := []error{
		status(401, "", timeout),
		status(401, "", fmt.Errorf("5 refreshes: %w", oauth.ErrTooManyRefreshes)),
		status(401, "invalid_token", nil),
		status(401, "", &oauth.NeedsAuthError{Server: "srv"}),
		&limit.TooLargeError{Limit: 1 << 20},
	}
	plain, err := newProxy(Options{URL: u, Server: "srv"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	withOAuth, err := newProxy(Options{URL: u, Server: "srv", OAuth: nopHandler{}}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*proxy{plain, withOAuth} {
		for _, e := range errs {
			if got := p.describe(e); strings.Contains(got, "--") || strings.Contains(got, "oauth.") || strings.Contains(got, "mcplink auth") {
				t.Errorf("describe(%v) with no Hints = %q, names a setting of mcplink's", e, got)
			}
		}
	}
	hints := Hints{SignIn: "SIGNIN", Limit: "LIMIT", AuthTimeout: "AUTHTIMEOUT", Headers: "HEADERS", Resource: "RESOURCE"}
	p, err := newProxy(Options{URL: u, Server: "srv", OAuth: nopHandler{}, Hints: hints}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	plainH, err := newProxy(Options{URL: u, Server: "srv", Hints: hints}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p    *proxy
		err  error
		want []string
	}{
		{p, errs[0], []string{"no sign-in to srv completed within 2s (AUTHTIMEOUT); retry the request"}},
		{p, errs[1], []string{"check the resource indicator (RESOURCE)"}},
		{p, errs[2], []string{"even fresh ones; SIGNIN, and check the resource indicator (RESOURCE)"}},
		{p, errs[3], []string{"srv needs a sign-in; SIGNIN"}},
		{p, errs[4], []string{"if the server's answers are that large, LIMIT"}},
		{plainH, errs[2], []string{"check the Authorization header HEADERS"}},
	} {
		got := c.p.describe(c.err)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("describe(%v) = %q, want it to contain %q", c.err, got, w)
			}
		}
	}
	var te *SignInTimeoutError
	if !errors.As(errs[0], &te) || te.Timeout != 2*time.Second || te.Server != "srv" || !errors.Is(errs[0], context.DeadlineExceeded) {
		t.Errorf("the sign-in timeout lost its data: %#v", te)
	}
	var pe *PatternError
	if err := ValidatePatterns([]string{"ok*", "[bad"}); !errors.As(err, &pe) || pe.Pattern != "[bad" || strings.Contains(err.Error(), "--") {
		t.Errorf("ValidatePatterns = %v, want a *PatternError for [bad naming no flag", err)
	}
}

// nopHandler is an OAuth handler that never authorizes: describe only
// asks whether OAuth is on.
type nopHandler struct{}

func (nopHandler) TokenSource(context.Context) (oauth2.TokenSource, error) { return nil, nil }
func (nopHandler) Authorize(context.Context, *http.Request, *http.Response) error {
	return errors.New("no")
}
