package proxy

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/oauth"
)

// TestDescribeSignInNeeded covers the messages for errors the subprocess
// tests do not reach through the real proxy: a sign-in needed without a
// flow being run (possibly for more scopes), the loop brakes the oauth
// package may hit first in other orders, and an unknown failure.
func TestDescribeSignInNeeded(t *testing.T) {
	p, err := newProxy(Options{URL: "http://127.0.0.1:1/mcp", Server: "jira", SignInHint: "run `mcplink auth jira`, then restart the proxy"}, io.Discard)
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
		{wrap(fmt.Errorf("waiting: %w", context.DeadlineExceeded)), "no sign-in to jira completed within 5m0s (--auth-timeout)"},
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
