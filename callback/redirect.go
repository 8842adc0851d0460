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

// Setting names what a *SettingError is about.
type Setting int

const (
	// SettingPort is the callback port of the default redirect URI.
	SettingPort Setting = iota + 1
	// SettingRedirectURI is a redirect URI given in full.
	SettingRedirectURI
	// SettingHost is the address the listener binds to instead of the
	// redirect URI's host (Request.ListenHost).
	SettingHost
)

// SettingError is a callback port, redirect URI or listen host that cannot
// be used for the loopback callback. It says what is wrong with the value;
// where the value is set (a config field, a flag) is for the caller that
// knows to name: the OAuth engine names the entry's field, mcplink's proxy
// command checks its flags before.
type SettingError struct {
	Setting Setting
	Value   string // as given
	// Problem is what is wrong with it, e.g. "is out of range".
	Problem string
	// Want is what would do, e.g. "a port between 1 and 65535".
	Want string
	// Server and ConfigFile name the config entry, when the caller
	// (Request, or the OAuth engine for RedirectURI) knows it.
	Server     string
	ConfigFile string
	Err        error // url.Parse's error, if any
}

func (e *SettingError) Error() string {
	var what string
	switch e.Setting {
	case SettingPort:
		what = "OAuth callback port " + e.Value
	case SettingHost:
		what = fmt.Sprintf("OAuth callback host %q", e.Value)
	default:
		what = fmt.Sprintf("OAuth redirect URI %q", e.Value)
	}
	msg := what + " " + e.Problem
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Want != "" {
		msg += " (want " + e.Want + ")"
	}
	return msg
}

func (e *SettingError) Unwrap() error { return e.Err }

// wantLoopback is what a redirect URI should be.
var wantLoopback = fmt.Sprintf("an http URL on 127.0.0.1, localhost or [::1] with a port, for example http://127.0.0.1:%d%s", DefaultPort, DefaultPath)

// uriError is a *SettingError for redirect URI raw.
func uriError(raw, problem string, err error) *SettingError {
	return &SettingError{Setting: SettingRedirectURI, Value: raw, Problem: problem, Want: wantLoopback, Err: err}
}

// RedirectURI returns the redirect URI for a config entry: override (the
// entry's oauth.redirectUri) when set, after validation, else the default
// loopback URI on port (0 selects DefaultPort). A value that cannot be used
// is a *SettingError.
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
		return "", &SettingError{Setting: SettingPort, Value: strconv.Itoa(port), Problem: "is out of range", Want: "a port between 1 and 65535"}
	}
	return fmt.Sprintf("http://127.0.0.1:%d%s", port, DefaultPath), nil
}

// parseTarget validates a loopback redirect URI.
func parseTarget(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, uriError(raw, "is invalid", err)
	}
	if u.Scheme != "http" {
		return target{}, uriError(raw, "does not use http://", nil)
	}
	if u.User != nil || u.Fragment != "" || u.RawQuery != "" {
		return target{}, uriError(raw, "contains user info, a query or a fragment", nil)
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
		return target{}, uriError(raw, fmt.Sprintf("has host %q, which is not loopback", host), nil)
	}
	ps := u.Port()
	if ps == "" {
		return target{}, uriError(raw, "names no port", nil)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return target{}, uriError(raw, fmt.Sprintf("has invalid port %q", ps), nil)
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	if path == ProbePath {
		return target{}, uriError(raw, "uses the reserved path "+ProbePath, nil)
	}
	addrs, optional := hostAddrs(bindHost, ps)
	return target{addrs: addrs, optional: optional, port: port, path: path}, nil
}

// withHost returns t listening on host (an IP literal or "localhost") instead.
func (t target) withHost(host string) (target, error) {
	h := strings.Trim(host, "[]")
	if !strings.EqualFold(h, "localhost") && net.ParseIP(h) == nil {
		return target{}, &SettingError{Setting: SettingHost, Value: host, Problem: "is not an IP address or \"localhost\""}
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
