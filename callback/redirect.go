package callback

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// target is a validated redirect URI: where to listen and which path to serve.
type target struct {
	// addrs are the host:port addresses to listen on: one loopback IP, or
	// 127.0.0.1 and ::1 for localhost, which a browser may resolve to
	// either; a process holding the other one could catch the code.
	addrs []string
	// optional is the address of addrs (::1 of localhost) that may be
	// missing on the machine; only a busy one is an error.
	optional string
	port     int
	path     string
}

// bindAddr is the first address: the one named in messages.
func (t target) bindAddr() string { return t.addrs[0] }

// hostAddrs returns the addresses for host on port and the optional one.
func hostAddrs(host, port string) (addrs []string, optional string) {
	if strings.EqualFold(host, "localhost") {
		v6 := net.JoinHostPort("::1", port)
		return []string{net.JoinHostPort("127.0.0.1", port), v6}, v6
	}
	return []string{net.JoinHostPort(host, port)}, ""
}

// RedirectURI returns the redirect URI for a config entry: override (the
// entry's oauth.redirectUri) when set, after validation, else the default
// loopback URI on port (0 selects DefaultPort).
func RedirectURI(port int, override string) (string, error) {
	if override != "" {
		if _, err := parseTarget(override); err != nil {
			return "", err
		}
		return override, nil
	}
	if port == 0 {
		port = DefaultPort
	}
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("oauth callback port %d is out of range; set \"oauth.callbackPort\" to a port between 1 and 65535", port)
	}
	return fmt.Sprintf("http://127.0.0.1:%d%s", port, DefaultPath), nil
}

// parseTarget validates a loopback redirect URI.
func parseTarget(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("invalid OAuth redirect URI %q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return target{}, fmt.Errorf("OAuth redirect URI %q must use http:// on a loopback address (127.0.0.1, localhost or [::1]); fix \"oauth.redirectUri\"", raw)
	}
	if u.User != nil || u.Fragment != "" || u.RawQuery != "" {
		return target{}, fmt.Errorf("OAuth redirect URI %q must not contain user info, a query or a fragment; fix \"oauth.redirectUri\"", raw)
	}
	var bindHost string
	switch host := u.Hostname(); strings.ToLower(host) {
	case "127.0.0.1":
		bindHost = "127.0.0.1"
	case "localhost":
		bindHost = "localhost"
	case "::1":
		bindHost = "::1"
	default:
		return target{}, fmt.Errorf("OAuth redirect URI %q has host %q, which is not loopback; use 127.0.0.1, localhost or [::1] in \"oauth.redirectUri\"", raw, host)
	}
	ps := u.Port()
	if ps == "" {
		return target{}, fmt.Errorf("OAuth redirect URI %q names no port; add one (for example http://127.0.0.1:%d%s)", raw, DefaultPort, DefaultPath)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return target{}, fmt.Errorf("OAuth redirect URI %q has invalid port %q; use a port between 1 and 65535", raw, ps)
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	if path == ProbePath {
		return target{}, fmt.Errorf("OAuth redirect URI %q uses the reserved path %s; choose another path", raw, ProbePath)
	}
	addrs, optional := hostAddrs(bindHost, ps)
	return target{addrs: addrs, optional: optional, port: port, path: path}, nil
}

// withHost returns t listening on host (an IP literal or "localhost") instead.
func (t target) withHost(host string) (target, error) {
	h := strings.Trim(host, "[]")
	if !strings.EqualFold(h, "localhost") && net.ParseIP(h) == nil {
		return target{}, fmt.Errorf("OAuth callback host %q is not an IP address or \"localhost\"; fix \"oauth.callbackHost\"", host)
	}
	t.addrs, t.optional = hostAddrs(h, strconv.Itoa(t.port))
	return t, nil
}

// ParseRedirect extracts the redirect parameters from text a user pasted: a
// full redirect URL (http://127.0.0.1:19876/mcp/oauth/callback?code=...&state=...)
// or just its query (code=...&state=..., with or without a leading "?").
// The result holds a state and either a code or an error.
func ParseRedirect(input string) (url.Values, error) {
	s := strings.TrimSpace(input)
	if s == "" {
		return nil, errors.New("empty redirect; paste the full URL from the browser's address bar")
	}
	var q url.Values
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("cannot parse the pasted redirect URL: %w", err)
		}
		q, err = url.ParseQuery(u.RawQuery)
		if err != nil {
			return nil, fmt.Errorf("cannot parse the pasted redirect URL's query: %w", err)
		}
		if q.Get("code") == "" && q.Get("error") == "" && u.Fragment != "" {
			if fq, ferr := url.ParseQuery(u.Fragment); ferr == nil {
				q = fq
			}
		}
	} else {
		var err error
		q, err = url.ParseQuery(strings.TrimPrefix(s, "?"))
		if err != nil {
			return nil, fmt.Errorf("cannot parse the pasted redirect parameters: %w", err)
		}
	}
	if q.Get("code") == "" && q.Get("error") == "" {
		return nil, errors.New("the pasted text has neither a code nor an error parameter; paste the full URL from the browser's address bar after signing in")
	}
	if q.Get("state") == "" {
		return nil, errors.New("the pasted text has no state parameter; paste the full URL from the browser's address bar after signing in")
	}
	return q, nil
}
