package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/termtext"
	"github.com/mcplink/mcplink/oauth"
)

// DebugOptions are the options of `mcplink debug`.
type DebugOptions struct {
	IO     *IOStreams
	Config configFunc
	Diag   diagFunc
	Store  func() (authstore.Store, error)
	// Engine returns the OAuth engine and its closer (Factory.engine).
	Engine func(openBrowser bool) (*oauth.Engine, func(), error)

	Name string
	// Timeout bounds the whole run (discovery and the request with the
	// stored token); 0 means the server's "timeout".
	Timeout time.Duration
}

// NewCmdDebug builds `mcplink debug`.
func NewCmdDebug(f *Factory, runF func(context.Context, *DebugOptions) error) *cobra.Command {
	opts := &DebugOptions{IO: f.IO, Config: f.Config, Diag: f.diag, Store: f.Store, Engine: f.engine}
	cmd := &cobra.Command{
		Use:   "debug <server|url>",
		Short: "Show every step of a remote server's auth discovery, the stored token (masked) and what the server says to it",
		Long: `Probe a remote server without credentials and print each discovery step: the
URLs tried and their HTTP statuses, the WWW-Authenticate challenge, the protected
resource metadata, the chosen authorization server and its metadata, how a client
would be obtained, the scopes that would be requested, and the stored credentials
with the token masked. When a token is stored for the server's URL, one MCP
initialize request is then sent with it (and the configured headers; a
DPoP-bound token with a proof) and the answer's status and WWW-Authenticate
challenge are shown: a 403 insufficient_scope there is why a signed-in server
still refuses. The token is never printed, nothing is stored (an expired token
is not refreshed) and no browser opens.

A URL instead of a name debugs the configured server with that URL, or else the
credentials 'mcplink proxy <url>' keeps for it.`,
		Args: exactArgs(1, "a server name or URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return debugRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 0, "give up after this `duration` in all (default: the server's \"timeout\", 30s)")
	return cmd
}

func debugRun(ctx context.Context, opts *DebugOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	var e *config.Entry
	if u, ok := targetURL(opts.Name); ok {
		// A URL: the configured server with that URL, else what
		// `mcplink proxy <url>` stores its credentials as.
		if e, err = urlEntry(opts.proxyOptions(opts.Name), u); err != nil {
			return err
		}
	} else if e, err = cfg.Lookup(opts.Name); err != nil {
		// Not configured: it may name the credentials of a proxied URL
		// (host-<hash>), as brake messages do.
		if pe := proxiedEntry(ctx, opts, opts.Name); pe != nil {
			e, err = pe, nil
		} else {
			return usageError("%w (or give the server's URL)", err)
		}
	}
	// Much of what follows quotes servers (discovery errors, metadata,
	// challenges): every line goes out without terminal controls.
	w := termtext.Writer(opts.IO.Out)
	fmt.Fprintf(w, "server:   %s (%s, from %s)\n", e.Name, e.Type, e.Source)
	if e.Type != config.TypeRemote {
		fmt.Fprintf(w, "command:  %s\n", strings.Join(e.Command, " "))
		fmt.Fprintln(w, "Local servers use no OAuth; run 'mcplink list' to see whether it starts.")
		return nil
	}
	fmt.Fprintf(w, "url:      %s\n", e.URL)
	if len(e.Headers) > 0 {
		keys := make([]string, 0, len(e.Headers))
		for k := range e.Headers {
			keys = append(keys, k)
		}
		fmt.Fprintf(w, "headers:  %s (values hidden)\n", strings.Join(keys, ", "))
	}
	if e.OAuthDisabled {
		fmt.Fprintln(w, "oauth:    false (OAuth is never used for this server)")
		return nil
	}
	eng, closeEng, err := opts.Engine(false)
	if err != nil {
		return err
	}
	defer closeEng()
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = e.EffectiveTimeout()
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	timedOut := func() bool { return errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil }

	fmt.Fprintln(w, "\nDiscovery:")
	d, derr := eng.Discover(ctx, e, func(s oauth.Step) {
		mark := " "
		if s.Used {
			mark = "✓"
		}
		status := "-"
		if s.Status != 0 {
			status = fmt.Sprint(s.Status)
		}
		line := fmt.Sprintf("  %s %-22s %-4s %-4s %s", mark, s.Phase, s.Method, status, s.URL)
		if s.Err != "" {
			line += "  (" + s.Err + ")"
		}
		if s.Note != "" {
			line += "  — " + s.Note
		}
		fmt.Fprintln(w, line)
	})
	if d != nil {
		fmt.Fprintln(w)
		if c := d.Challenge; c != nil {
			parts := []string{c.Scheme}
			for _, kv := range [][2]string{{"scope", c.Scope}, {"error", c.Error}, {"error_description", c.ErrorDescription}} {
				if kv[1] != "" {
					parts = append(parts, fmt.Sprintf("%s=%q", kv[0], kv[1]))
				}
			}
			fmt.Fprintf(w, "challenge:            %s\n", strings.Join(parts, " "))
		}
		kv := func(k, v string) {
			if v != "" {
				fmt.Fprintf(w, "%-21s %s\n", k+":", v)
			}
		}
		kv("resource metadata", d.ResourceMetadataURL)
		kv("resource", d.Resource)
		kv("authorization server", d.Issuer)
		kv("AS metadata", d.AuthServerMetadataURL)
		kv("fallback", d.Fallback)
		kv("client", d.RegistrationMethod)
		if len(d.Scopes) > 0 {
			kv("scopes to request", strings.Join(d.Scopes, " "))
		} else {
			kv("scopes to request", "(none)")
		}
		kv("redirect URI", oauth.RedirectURI(e))
		dpop := "no"
		if len(d.DPoPAlgs) > 0 || d.ResourceAcceptsDPoP {
			use, err := oauth.WillUseDPoP(e, d)
			switch {
			case err != nil:
				dpop = err.Error()
			case use:
				dpop = "yes: tokens will be DPoP-bound"
			default:
				dpop = "no"
			}
			dpop += fmt.Sprintf(" (authorization server algs: %s; MCP server accepts DPoP: %v)", orDash(strings.Join(d.DPoPAlgs, " ")), d.ResourceAcceptsDPoP)
		}
		kv("DPoP", dpop)
	}

	fmt.Fprintln(w, "\nStored credentials:")
	store, err := opts.Store()
	if err != nil {
		return err
	}
	c, err := store.Load(ctx, e.Name)
	switch {
	case err != nil:
		fmt.Fprintf(w, "  none (%v)\n", err)
	default:
		printCreds(w, e, c)
		if c.ForURL(e.URL) && c.Token != nil && c.Token.AccessToken != "" {
			tryStoredToken(ctx, w, eng, e, c, timeout)
		}
	}
	if timedOut() {
		return fmt.Errorf("debug %s: no answer from %s within %s; pass --timeout to wait longer", e.Name, e.URL, timeout)
	}
	if derr != nil {
		return fmt.Errorf("discovery failed: %w", derr)
	}
	return nil
}

// debugProtocolVersion is the MCP protocol version of the initialize
// request tryStoredToken sends.
const debugProtocolVersion = "2025-11-25"

// tryStoredToken sends one MCP initialize request with the stored access
// token (as a connection would, before any refresh: nothing is stored) and
// the entry's headers, and prints the answer's status and WWW-Authenticate
// challenge: a 403 insufficient_scope there is why a server still refuses
// a signed-in client. A DPoP-bound token goes through the engine's handler's
// transport wrapper, so the server sees the DPoP scheme and a proof. The
// token itself is never printed.
func tryStoredToken(ctx context.Context, w io.Writer, eng *oauth.Engine, e *config.Entry, c *authstore.Credentials, timeout time.Duration) {
	fmt.Fprintln(w, "\nRequest with the stored token:")
	tok := c.Token
	// The stored token as it is (a connection would refresh an expired
	// one first), through the one credential transport: the token, the
	// DPoP proof and the configured headers go to the server's origin only.
	how := "Bearer"
	dh := &debugHandler{tok: tok}
	if h, err := eng.Handler(e); err == nil {
		if tw, ok := h.(oauth.TransportWrapper); ok {
			dh.wrap = tw
			if strings.EqualFold(tok.TokenType, oauth.TokenTypeDPoP) {
				how = "DPoP, with a proof"
			}
		}
	}
	ot, err := oauth.NewTransport(oauth.TransportOptions{
		ServerURL:      e.URL,
		Headers:        e.Headers,
		Handler:        dh,
		NoAuthorize:    true,
		MaxMessageSize: e.EffectiveMaxMessageSize(),
	})
	if err != nil {
		fmt.Fprintf(w, "  error:             %v\n", err)
		return
	}
	hc := ot.Client()
	hc.Timeout = timeout
	fmt.Fprintf(w, "  request:           POST %s (MCP initialize; Authorization: %s <stored token>", e.URL, how)
	if len(e.Headers) > 0 {
		fmt.Fprint(w, "; the configured headers")
	}
	fmt.Fprintln(w, ")")
	if !tok.Expiry.IsZero() && !tok.Expiry.After(time.Now()) {
		fmt.Fprintln(w, "  note:              the token has expired; a connection would refresh it first (this request does not)")
	}
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"mcplink-debug","version":%q}}}`,
		debugProtocolVersion, Version())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, strings.NewReader(body))
	if err != nil {
		fmt.Fprintf(w, "  error:             %v\n", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		fmt.Fprintf(w, "  error:             %s\n", redact(err.Error(), tok.AccessToken))
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	// End the session the initialize opened, as a client closing would.
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" && resp.StatusCode == http.StatusOK {
		if dreq, err := http.NewRequestWithContext(ctx, http.MethodDelete, e.URL, nil); err == nil {
			dreq.Header.Set("Mcp-Session-Id", sid)
			dreq.Header.Set("MCP-Protocol-Version", debugProtocolVersion)
			if dresp, err := hc.Do(dreq); err == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(dresp.Body, 64<<10))
				dresp.Body.Close()
			}
		}
	}
	line := fmt.Sprintf("  status:            %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		line += " (the server accepts the stored token)"
	case resp.StatusCode == http.StatusUnauthorized:
		line += fmt.Sprintf(" (the server rejects the stored token: a connection refreshes it when it can, else run `mcplink auth %s`)", e.Name)
	case resp.StatusCode == http.StatusForbidden:
		line += " (the server refuses the request with the stored token)"
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		line += " (no Streamable HTTP endpoint: the server may speak only the older SSE transport, which this check does not try)"
	}
	fmt.Fprintln(w, line)
	vals := resp.Header.Values("WWW-Authenticate")
	for _, v := range vals {
		fmt.Fprintf(w, "  WWW-Authenticate:  %s\n", redact(printable(v), tok.AccessToken))
	}
	if len(vals) == 0 {
		return
	}
	chals, err := oauthex.ParseWWWAuthenticate(vals)
	if err != nil {
		fmt.Fprintf(w, "  (the challenge does not parse: %v)\n", err)
		return
	}
	for _, ch := range chals {
		if ch.Scheme != "bearer" && ch.Scheme != "dpop" {
			continue
		}
		kv := func(k, v string) {
			if v != "" {
				fmt.Fprintf(w, "  %-18s %s\n", k+":", redact(printable(v), tok.AccessToken))
			}
		}
		kv("error", ch.Params["error"])
		kv("error_description", ch.Params["error_description"])
		kv("scope", ch.Params["scope"])
		if ch.Params["error"] == "insufficient_scope" {
			granted := strings.Fields(tok.Scope)
			var missing []string
			for _, s := range strings.Fields(ch.Params["scope"]) {
				if !slices.Contains(granted, s) {
					missing = append(missing, s)
				}
			}
			kv("granted", orDash(tok.Scope))
			if len(missing) > 0 {
				fmt.Fprintf(w, "  → the token lacks %s: sign in again with `mcplink auth %s` (it asks for the scopes the challenge names), or add them to \"oauth\": {\"scope\": …} in %s\n",
					strings.Join(missing, " "), e.Name, e.Source)
			}
		}
		break
	}
}

// debugHandler gives oauth.Transport the stored token as it is (no
// refresh) and the engine handler's DPoP wrapper; debug never signs in
// (oauth.TransportOptions.NoAuthorize).
type debugHandler struct {
	tok  *authstore.Token
	wrap oauth.TransportWrapper
}

func (h *debugHandler) TokenSource(context.Context) (oauth2.TokenSource, error) {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: h.tok.AccessToken, TokenType: "Bearer"}), nil
}

func (h *debugHandler) Authorize(_ context.Context, _ *http.Request, resp *http.Response) error {
	_ = resp.Body.Close()
	return errors.New("mcplink debug does not sign in")
}

func (h *debugHandler) WrapTransport(base http.RoundTripper) http.RoundTripper {
	if h.wrap == nil {
		return base
	}
	return h.wrap.WrapTransport(base)
}

// redact replaces every occurrence of secret in s.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "<stored token>")
}

// printable replaces control characters (a hostile server's header could
// carry terminal escapes) with '?'.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

func printCreds(w interface{ Write([]byte) (int, error) }, e *config.Entry, c *authstore.Credentials) {
	fmt.Fprintf(w, "  server URL: %s", c.ServerURL)
	if !c.ForURL(e.URL) {
		fmt.Fprintf(w, "  (differs from the configured URL: these credentials will not be used)")
	}
	fmt.Fprintln(w)
	if c.Issuer != "" {
		fmt.Fprintf(w, "  issuer:     %s\n", c.Issuer)
	}
	if c.Client != nil {
		how := "pre-registered/metadata document"
		if c.Client.Dynamic {
			how = "dynamic registration"
		}
		fmt.Fprintf(w, "  client:     %s (%s, %s)\n", c.Client.ClientID, how, orDash(c.Client.TokenEndpointAuthMethod))
	}
	if c.Token == nil {
		fmt.Fprintln(w, "  token:      none")
		return
	}
	fmt.Fprintf(w, "  token:      %s (%s)\n", mask(c.Token.AccessToken), orDash(c.Token.TokenType))
	if !c.Token.Expiry.IsZero() {
		d := time.Until(c.Token.Expiry).Round(time.Second)
		if d > 0 {
			fmt.Fprintf(w, "  expires:    %s (in %s)\n", c.Token.Expiry.Format(time.RFC3339), d)
		} else {
			fmt.Fprintf(w, "  expires:    %s (expired %s ago)\n", c.Token.Expiry.Format(time.RFC3339), -d)
		}
	}
	if c.Token.RefreshToken != "" {
		fmt.Fprintf(w, "  refresh:    %s\n", mask(c.Token.RefreshToken))
	}
	if c.Token.Scope != "" {
		fmt.Fprintf(w, "  scopes:     %s\n", c.Token.Scope)
	}
}

// mask shows only the first 4 characters of a secret and its length.
func mask(s string) string {
	if s == "" {
		return "(empty)"
	}
	if len(s) <= 8 {
		return strings.Repeat("•", len(s))
	}
	return fmt.Sprintf("%s… (%d chars)", s[:4], len(s))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// proxyOptions are the options of `mcplink proxy target` as far as the
// entry of its target goes (urlEntry).
func (opts *DebugOptions) proxyOptions(target string) *ProxyOptions {
	return &ProxyOptions{Config: opts.Config, Diag: opts.Diag, Target: target}
}

// proxiedEntry returns the entry `mcplink proxy <url>` used for the
// credentials stored as name, or nil when name is not such a record.
func proxiedEntry(ctx context.Context, opts *DebugOptions, name string) *config.Entry {
	store, err := opts.Store()
	if err != nil {
		return nil
	}
	c, err := store.Load(ctx, name)
	if err != nil || c == nil || c.ServerURL == "" {
		return nil
	}
	u, ok := targetURL(c.ServerURL)
	if !ok {
		return nil
	}
	e, err := urlEntry(opts.proxyOptions(c.ServerURL), u)
	if err != nil || e.Name != name {
		return nil
	}
	return e
}
