package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
)

// commandLineSource is the Source of the entry `mcplink proxy <url>` makes up.
const commandLineSource = "the command line"

// proxyOAuthFlags are the flags that set OAuth settings of the proxied entry.
var proxyOAuthFlags = []string{"client-id", "client-secret", "scope", "resource", "callback-port", "callback-host", "redirect-uri"}

// entryOnlyFlags are the OAuth flags refused for a configured server name:
// its entry holds those settings. (--client-id and --callback-port predate
// them and still override the entry.)
var entryOnlyFlags = map[string]string{
	"client-secret": "clientSecret",
	"scope":         "scope",
	"resource":      "resource",
	"callback-host": "callbackHost",
	"redirect-uri":  "redirectUri",
}

// targetURL returns the target as a URL when it is an http(s) URL.
func targetURL(target string) (*url.URL, bool) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, false
	}
	return u, true
}

// validateProxyOAuthFlags checks the OAuth flags' values (usage errors).
func validateProxyOAuthFlags(opts *ProxyOptions) error {
	if opts.CallbackPort < 0 || opts.CallbackPort > 65535 {
		return usageError("--callback-port %d: want a port number between 1 and 65535", opts.CallbackPort)
	}
	if opts.ClientSecret != "" && opts.ClientID == "" {
		return usageError("--client-secret needs --client-id: the secret belongs to a pre-registered client")
	}
	if r := opts.Resource; r != "" && r != "none" {
		if u, ok := targetURL(r); !ok || u.Opaque != "" {
			return usageError("--resource %q: want an absolute http(s) URL, or \"none\" to send no resource indicator", r)
		}
	}
	if h := opts.CallbackHost; h != "" {
		if t := strings.Trim(h, "[]"); !strings.EqualFold(t, "localhost") && net.ParseIP(t) == nil {
			return usageError("--callback-host %q: want an IP address or \"localhost\" to listen on (for example 0.0.0.0 inside a container)", h)
		}
	}
	if r := opts.RedirectURI; r != "" {
		if _, err := callback.RedirectURI(0, r); err != nil {
			return usageError("--redirect-uri %q: want an http URL on 127.0.0.1, localhost or [::1] with a port, e.g. http://127.0.0.1:%d%s", r, callback.DefaultPort, callback.DefaultPath)
		}
		u, _ := url.Parse(r)
		if opts.CallbackPort != 0 && u.Port() != strconv.Itoa(opts.CallbackPort) {
			return usageError("--redirect-uri port %s does not match --callback-port %d; make them equal or drop one", u.Port(), opts.CallbackPort)
		}
	}
	return nil
}

// proxyEntry resolves the target to a remote entry.
//
// A configured server name is that entry; --header adds headers and
// --client-id and --callback-port override its settings, while the other
// OAuth flags are refused (the entry holds them). A URL is the configured
// entry with exactly that URL, when there is one, taken as if named (so the
// proxy shares its sign-in with `mcplink auth`, list and call) — unless an
// OAuth flag a configured entry refuses is given; then, like any other URL,
// an entry made up from the flags and keyed by the URL (see urlEntryName).
func proxyEntry(opts *ProxyOptions) (*config.Entry, error) {
	headers, err := parseHeaders(opts.Headers)
	if err != nil {
		return nil, err
	}
	var e *config.Entry
	if u, ok := targetURL(opts.Target); ok {
		e, err = urlEntry(opts, u)
		if err != nil {
			return nil, err
		}
	} else {
		cfg, err := opts.Config()
		if err != nil {
			return nil, err
		}
		found, err := cfg.Lookup(opts.Target)
		if errors.Is(err, config.ErrUntrusted) {
			return nil, err // exit 2, naming the file and the fix
		}
		if err != nil {
			return nil, usageError("%w (or give an http(s) URL)", err)
		}
		if found.Type != config.TypeRemote {
			return nil, usageError("server %q is a local server; proxy is for remote servers (run its command directly)", found.Name)
		}
		if fl := entryOnlyFlag(opts); fl != "" {
			return nil, usageError("--%s applies to URL targets; server %q is configured in %s: set \"oauth.%s\" in its entry instead", fl, found.Name, found.Source, entryOnlyFlags[fl])
		}
		e = configuredEntry(opts, found)
	}
	maps.Copy(e.Headers, headers)
	return e, nil
}

// urlEntry is the entry for a URL target (see proxyEntry).
func urlEntry(opts *ProxyOptions, u *url.URL) (*config.Entry, error) {
	canon := canonicalTargetURL(u)
	name := urlEntryName(canon)
	if cfg, err := opts.Config(); err != nil {
		opts.Diag("mcplink proxy: warning: not looking for a configured server with this URL: %v", err)
	} else if found := configuredForURL(cfg, opts.Target); found != nil {
		fl := entryOnlyFlag(opts)
		if fl == "" {
			opts.Diag("mcplink proxy: %s is configured as %q in %s; using that entry and its credentials", opts.Target, found.Name, found.Source)
			return configuredEntry(opts, found), nil
		}
		opts.Diag("mcplink proxy: not using the configured server %q (same URL) because --%s was given; these credentials are kept as %q", found.Name, fl, name)
	}
	o := &config.OAuth{
		ClientID:     opts.ClientID,
		ClientSecret: opts.ClientSecret,
		Scope:        opts.Scope,
		CallbackPort: opts.CallbackPort,
		CallbackHost: strings.Trim(opts.CallbackHost, "[]"),
		RedirectURI:  opts.RedirectURI,
	}
	switch opts.Resource {
	case "":
	case "none":
		o.OmitResource = true
	default:
		o.Resource = opts.Resource
	}
	e := &config.Entry{
		Name:    name,
		Type:    config.TypeRemote,
		Enabled: true,
		URL:     canon,
		Headers: map[string]string{},
		OAuth:   o,
		Source:  commandLineSource,
	}
	return e, nil
}

// entryOnlyFlag returns the first of the OAuth flags given that a
// configured entry cannot take (see entryOnlyFlags), or "".
func entryOnlyFlag(opts *ProxyOptions) string {
	for _, fl := range opts.OAuthFlags {
		if _, ok := entryOnlyFlags[fl]; ok {
			return fl
		}
	}
	return ""
}

// configuredEntry is a copy of the configured entry found, with the
// overrides a configured entry takes from flags: --client-id and
// --callback-port.
func configuredEntry(opts *ProxyOptions, found *config.Entry) *config.Entry {
	e := cloneEntry(found)
	if e.OAuth != nil {
		if opts.ClientID != "" {
			e.OAuth.ClientID = opts.ClientID
		}
		if opts.CallbackPort != 0 {
			e.OAuth.CallbackPort = opts.CallbackPort
		}
	}
	return e
}

// configuredForURL returns the remote entry whose URL is target, up to the
// case of the scheme and host, a default port and a fragment (see
// canonicalTargetURL; the path and query must be exactly the same): an
// enabled one first, then the first by name.
func configuredForURL(cfg *config.Config, target string) *config.Entry {
	tu, ok := targetURL(target)
	if !ok {
		return nil
	}
	want := canonicalTargetURL(tu)
	var found *config.Entry
	for _, n := range cfg.Names() {
		e := cfg.Servers[n]
		if e.Type != config.TypeRemote {
			continue
		}
		if u, ok := targetURL(e.URL); !ok || canonicalTargetURL(u) != want {
			continue
		}
		if found == nil || (e.Enabled && !found.Enabled) {
			found = e
		}
	}
	return found
}

// cloneEntry copies e deeply enough for the proxy to change its headers
// and OAuth settings.
func cloneEntry(found *config.Entry) *config.Entry {
	e := *found
	e.Headers = maps.Clone(found.Headers)
	if e.Headers == nil {
		e.Headers = map[string]string{}
	}
	if found.OAuth != nil {
		o := *found.OAuth
		e.OAuth = &o
	}
	return &e
}

// canonicalTargetURL is the URL the proxy uses and keys credentials by:
// scheme and host in lower case, no default port, no fragment. The path
// and query stay exactly as given: servers may tell them apart.
func canonicalTargetURL(u *url.URL) string {
	c := *u
	c.Scheme = strings.ToLower(c.Scheme)
	c.Host = strings.ToLower(c.Host)
	if (c.Scheme == "https" && c.Port() == "443") || (c.Scheme == "http" && c.Port() == "80") {
		c.Host = strings.TrimSuffix(c.Host, ":"+c.Port())
	}
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}

// urlEntryName is the credential name of a URL target: its host (see
// hostName) and a short hash of the canonical URL, so that two servers on
// one host (or one URL with two query strings) keep their own sign-ins, and
// the name is the same on every run ("mcp.example.com-1a2b3c4d").
func urlEntryName(canon string) string {
	sum := sha256.Sum256([]byte(canon))
	u, _ := url.Parse(canon)
	return hostName(u) + "-" + hex.EncodeToString(sum[:4])
}

// hostName derives a name from a URL: its host, plus the port when there
// is one ("mcp.example.com", "127.0.0.1-8931"). Earlier versions keyed
// credentials of URL targets by it alone.
func hostName(u *url.URL) string {
	name := u.Hostname()
	if p := u.Port(); p != "" {
		name += "-" + p
	}
	return strings.ReplaceAll(strings.ReplaceAll(name, ":", "-"), "%", "-")
}

// errKeep aborts a store update that has nothing to change.
var errKeep = errors.New("keep the stored entry")

// adoptLegacyCredentials moves credentials that an earlier version stored
// for rawURL, the target exactly as given, under the bare host name (see
// hostName) to e.Name, when
// nothing is stored there yet, so upgrading does not ask for a new sign-in.
// Credentials under legacy for another URL on the same host stay where they
// are. Failures only cost that sign-in; they are reported, not returned.
func adoptLegacyCredentials(ctx context.Context, diag diagFunc, store authstore.Store, e *config.Entry, rawURL string) {
	u, ok := targetURL(rawURL)
	if !ok {
		return
	}
	legacy := hostName(u)
	old, err := store.Load(ctx, legacy)
	if err != nil || !old.ForURL(rawURL) {
		return
	}
	moved := false
	err = store.Update(ctx, e.Name, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		if cur != nil {
			return nil, errKeep
		}
		c := *old
		c.ServerURL = e.URL
		moved = true
		return &c, nil
	})
	if err != nil && !errors.Is(err, errKeep) {
		diag("mcplink proxy: warning: moving the credentials stored as %q to %q: %v", legacy, e.Name, err)
		return
	}
	if !moved {
		return
	}
	err = store.Update(ctx, legacy, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		if cur == nil || !cur.ForURL(rawURL) {
			return nil, errKeep
		}
		return nil, nil // delete
	})
	if err != nil && !errors.Is(err, errKeep) {
		diag("mcplink proxy: warning: removing the old credentials entry %q: %v", legacy, err)
		return
	}
	diag("mcplink proxy: %s: moved the credentials stored as %q (earlier versions keyed them by host only)", e.Name, legacy)
}
