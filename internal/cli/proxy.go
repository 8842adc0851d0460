package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/rawio"
	"github.com/mcplink/mcplink/oauth"
	"github.com/mcplink/mcplink/proxy"
)

// ProxyOptions are the options of `mcplink proxy`.
type ProxyOptions struct {
	IO     *IOStreams
	Getenv func(string) string
	Config configFunc
	Diag   diagFunc
	Store  func() (authstore.Store, error)
	// Engine is the proxy's OAuth engine for an entry (Factory.proxyEngine);
	// SignInLock the cross-process lock around signing in to a server.
	Engine     func(e *config.Entry, noBrowser bool) (*oauth.Engine, func(), error)
	SignInLock func(name string, waiting func()) *signInLock

	// Target is a configured server name or an http(s) URL.
	Target       string
	Headers      []string // K:V
	Transport    string
	ClientID     string
	ClientSecret string
	Scope        string
	// Resource is the RFC 8707 resource indicator; "none" sends none.
	Resource     string
	CallbackPort int
	CallbackHost string
	RedirectURI  string
	IgnoreTools  []string
	NoBrowser    bool
	Device       bool
	AuthTimeout  time.Duration
	// MaxMessageSize is --max-message-size as given ("" when not).
	MaxMessageSize string
	// OAuthFlags are the OAuth flags given (see proxyOAuthFlags), by name.
	OAuthFlags []string
}

// NewCmdProxy builds `mcplink proxy`.
func NewCmdProxy(f *Factory, runF func(context.Context, *ProxyOptions) error) *cobra.Command {
	opts := newProxyOptions(f, ProxyOptions{})
	cmd := &cobra.Command{
		Use:   "proxy <server|url>",
		Short: "Serve a remote MCP server on stdin/stdout, for stdio-only clients",
		Long: `Proxy between a client speaking MCP over stdio (stdin/stdout) and a remote
server (Streamable HTTP, or SSE), so stdio-only clients can use remote,
OAuth-protected servers. Give a configured remote server's name, or a URL.

A URL that a configured server has (exactly) is proxied as that server,
sharing its credentials with the other mcplink commands, unless OAuth flags
other than --client-id and --callback-port are given. Any other URL gets credentials of its own, stored under its host
name plus a hash of the URL (e.g. mcp.example.com-1a2b3c4d, the name that
starts the proxy's stderr lines and that mcplink logout takes), so two
servers on one host keep separate sign-ins. The OAuth flags (--client-id,
--client-secret, --scope, --resource, --callback-port, --callback-host,
--redirect-uri) set up a URL target; for a configured name, edit its
"oauth" settings instead (--client-id and --callback-port still override
them).

Stored credentials are used and refreshed as needed; when the server needs a
sign-in, the browser flow runs first (the URL is printed on stderr, and the
browser opened unless --no-browser; $BROWSER is honoured), and again
mid-session if the credentials stop working. Proxies for one server started
together sign in once: the others wait for that sign-in and use it. When no
browser can be opened, stderr also lists the other ways to sign in (an SSH
port forward, --device, or mcplink auth beforehand). A request that fails
gets a JSON-RPC error naming the cause (unreachable, HTTP 401 or 403,
insufficient scope, too many sign-in attempts, an answer larger than
--max-message-size, a redirect to another origin) and the next step; the
session goes on. Credentials (--header, the token) go only to the URL's
origin, never to a redirect target elsewhere. An expired
remote session is re-initialized transparently. Stdout carries only protocol
messages; all diagnostics go to stderr.

Example client configuration:
  {"command": "mcplink", "args": ["proxy", "https://mcp.example.com/mcp"]}`,
		Args: exactArgs(1, "a server name or URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			if _, err := proxy.ParseMode(opts.Transport); err != nil {
				return usageError("--transport: %w", err)
			}
			if err := proxy.ValidatePatterns(opts.IgnoreTools); err != nil {
				return usageError("--ignore-tool: %w", err)
			}
			if _, err := parseHeaders(opts.Headers); err != nil {
				return err
			}
			if _, err := parseSize(opts.MaxMessageSize); err != nil {
				return usageError("--max-message-size: %w", err)
			}
			for _, name := range proxyOAuthFlags {
				if cmd.Flags().Changed(name) {
					opts.OAuthFlags = append(opts.OAuthFlags, name)
				}
			}
			if err := validateProxyOAuthFlags(opts); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return proxyRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Headers, "header", nil, "add an HTTP header `K:V` (or K=V) to every request (repeatable)")
	fl.StringVar(&opts.Transport, "transport", string(proxy.ModeHTTPFirst), "remote transport: http-first, sse-first, http-only or sse-only")
	fl.StringVar(&opts.ClientID, "client-id", "", "pre-registered OAuth client `ID` (default: dynamic registration)")
	fl.StringVar(&opts.ClientSecret, "client-secret", "", "`secret` of the pre-registered client given with --client-id (URL targets)")
	fl.StringVar(&opts.Scope, "scope", "", "space-separated OAuth `scopes` to request, besides those the server asks for (URL targets)")
	fl.StringVar(&opts.Resource, "resource", "", "RFC 8707 resource indicator `URL` to send instead of the discovered one, or \"none\" to send none (URL targets)")
	fl.IntVar(&opts.CallbackPort, "callback-port", 0, "fixed loopback `port` for the OAuth redirect (default 19876, shared with other mcplink processes)")
	fl.StringVar(&opts.CallbackHost, "callback-host", "", "`address` the OAuth callback listener binds to, e.g. 0.0.0.0 in a container; the redirect URI keeps 127.0.0.1 (URL targets)")
	fl.StringVar(&opts.RedirectURI, "redirect-uri", "", "OAuth redirect `URI` on a loopback host, e.g. http://127.0.0.1:8976/callback (URL targets)")
	fl.StringArrayVar(&opts.IgnoreTools, "ignore-tool", nil, "hide tools matching this glob `pattern` from tools/list and refuse calls to them (repeatable)")
	fl.BoolVar(&opts.NoBrowser, "no-browser", false, "only print the sign-in URL on stderr")
	fl.BoolVar(&opts.Device, "device", false, "sign in with the device authorization grant (RFC 8628): enter the code shown on stderr on any device — for SSH and containers, where stdin carries the protocol and the loopback callback is unreachable")
	fl.DurationVar(&opts.AuthTimeout, "auth-timeout", oauth.DefaultFlowTimeout, "how long to wait for a browser sign-in")
	fl.StringVar(&opts.MaxMessageSize, "max-message-size", "", "largest `size` of one message from the server (a JSON body, one SSE event), in bytes or with KiB/MiB/GiB, e.g. 67108864 or 64MiB (default: the server's \"maxMessageSize\", else 16MiB)")
	return cmd
}

// usesOAuth reports whether the proxy authorizes e with OAuth: not when the
// entry says "oauth": false or carries its own Authorization header.
func usesOAuth(e *config.Entry) bool {
	if e.OAuthDisabled || e.OAuth == nil {
		return false
	}
	for k := range e.Headers {
		if strings.EqualFold(k, "Authorization") {
			return false
		}
	}
	return true
}

// newProxyOptions returns o with the dependencies taken from f.
func newProxyOptions(f *Factory, o ProxyOptions) *ProxyOptions {
	o.IO, o.Getenv, o.Config, o.Diag, o.Store, o.Engine = f.IO, f.Getenv, f.Config, f.diag, f.Store, f.proxyEngine
	o.SignInLock = func(name string, waiting func()) *signInLock { return newSignInLock(f, name, waiting) }
	return &o
}

func proxyRun(ctx context.Context, opts *ProxyOptions) error {
	e, err := proxyEntry(opts)
	if err != nil {
		return err
	}
	oauthOn := usesOAuth(e)
	if e.Source == commandLineSource && oauthOn {
		if store, err := opts.Store(); err == nil {
			adoptLegacyCredentials(ctx, opts.Diag, store, e, opts.Target)
		}
	}
	// A long-running proxy with a tiny heap: collect more often to keep the
	// resident set small (the SDK allocates a fresh buffer per decoded
	// message). An explicit GOGC wins.
	if opts.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	mode, _ := proxy.ParseMode(opts.Transport)
	maxSize := e.EffectiveMaxMessageSize()
	if n, _ := parseSize(opts.MaxMessageSize); n > 0 {
		maxSize = n
	}
	popts := proxy.Options{
		URL:         e.URL,
		Headers:     e.Headers,
		Mode:        mode,
		AuthTimeout: opts.AuthTimeout,
		IgnoreTools: opts.IgnoreTools,
		Logf: func(format string, a ...any) {
			opts.Diag("mcplink proxy: %s: "+format, append([]any{e.Name}, a...)...)
		},
		Server:         e.Name,
		Hints:          proxyHints(e),
		MaxMessageSize: maxSize,
	}
	in, out := opts.IO.In, opts.IO.Out
	if fi, ok := in.(*os.File); ok {
		if rf, err := rawio.Reopen(fi); err == nil {
			defer rf.Close()
			in = rf
		} else if pf, restore := pollable(fi); pf != nil {
			defer restore()
			in = pf
		}
	}
	if fo, ok := out.(*os.File); ok {
		if rf, err := rawio.Reopen(fo); err == nil {
			defer rf.Close()
			out = rf
		} else if pf, restore := pollable(fo); pf != nil {
			defer restore()
			out = pf
		}
	}
	if oauthOn {
		eng, closeEng, err := opts.Engine(e, opts.NoBrowser)
		if err != nil {
			return err
		}
		defer closeEng()
		lock := opts.SignInLock(e.Name, func() {
			opts.Diag("mcplink proxy: another mcplink is signing in to %s; waiting for it", e.Name)
		})
		// A proxy never outlives its client: while it signs in before
		// serving, stdin is watched, and its end (or a signal) cancels
		// the sign-in and releases the sign-in lock at once. What the
		// client sent meanwhile is kept for the proxy.
		w := watchStdin(in)
		sctx, cancel := context.WithCancelCause(ctx)
		// Ends when the sign-in does (cancel below) or stdin does.
		go func() {
			select {
			case <-w.Ended():
				cancel(errClientGone)
			case <-sctx.Done():
			}
		}()
		err = signInFirst(sctx, opts.Diag, eng, e, lock, opts.AuthTimeout, opts.Device)
		gone := errors.Is(context.Cause(sctx), errClientGone)
		cancel(nil)
		in = w.resume()
		switch {
		case err != nil && gone:
			opts.Diag("mcplink proxy: %s: the client closed stdin before the sign-in finished; exiting", e.Name)
			return nil
		case err != nil && ctx.Err() != nil:
			opts.Diag("mcplink proxy: %s: stopped before the sign-in finished", e.Name)
			return nil
		case err != nil:
			return err
		}
		popts.OAuth = eng.InteractiveHandlerWith(e, oauth.AuthOptions{Device: opts.Device})
		popts.SignIn = proxySignIn(lock, fixFor(e))
	}
	// One P and pollable pipes: every goroutine of the proxy then runs on
	// one thread that sleeps only in the network poller, so a forwarded
	// call costs two thread wake-ups instead of a hand-off between threads
	// at each step (bench/proxy: added latency p50 250 → 100 µs, CPU per
	// call 260 → 175 µs on this 2-core VM). On Linux, stdin and stdout are
	// pipes reopened with descriptions of their own and read and written
	// with raw system calls, as are the connections to the server
	// (internal/rawio). GOMAXPROCS set by the user wins.
	if opts.Getenv("GOMAXPROCS") == "" {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	return proxy.Run(ctx, in, out, popts)
}

// proxyHints are the words for the ways out, in the JSON-RPC errors the
// client gets, that name this command's flags and e's config fields: the
// proxy package knows what went wrong, not how its settings were given.
func proxyHints(e *config.Entry) proxy.Hints {
	h := proxy.Hints{
		SignIn:      signInHint(e),
		Limit:       proxyLimitHint(e),
		AuthTimeout: "--auth-timeout",
		Headers:     "given with --header",
		Resource:    "--resource",
		IgnoreTools: "--ignore-tool",
	}
	if e.Source != commandLineSource {
		h.Headers = fmt.Sprintf("given with --header or in the \"headers\" of %q in %s", e.Name, e.Source)
		h.Resource = fmt.Sprintf("\"oauth.resource\" of %q in %s", e.Name, e.Source)
	}
	return h
}

// signInHint is the step, named in errors sent to the client, that gives
// the proxy new credentials for e.
func signInHint(e *config.Entry) string {
	if !usesOAuth(e) {
		return "check the credentials in the server's headers"
	}
	if e.Source == commandLineSource {
		return fmt.Sprintf("run `mcplink logout %s` and restart the proxy to sign in again", e.Name)
	}
	return fmt.Sprintf("run `mcplink auth %s`, then restart the proxy", e.Name)
}
