package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cli/browser"
	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/fix"
	"github.com/mcplink/mcplink/internal/termtext"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// authJSON is the stable --json shape of a server's authentication state.
type authJSON struct {
	State     string     `json:"state"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	Scopes    []string   `json:"scopes,omitempty"`
	Issuer    string     `json:"issuer,omitempty"`
	ClientID  string     `json:"clientId,omitempty"`
	Refresh   bool       `json:"refreshable,omitempty"`
	// RequiredScopes: the server demanded them and the token lacks them;
	// the next sign-in requests them.
	RequiredScopes []string `json:"requiredScopes,omitempty"`
}

// engine wires the OAuth engine: credential store, callback registry, browser.
// The returned func closes the callback registry (freeing any port).
func (f *Factory) engine(openBrowser bool) (*oauth.Engine, func(), error) {
	store, err := f.Store()
	if err != nil {
		return nil, nil, err
	}
	reg := callback.New(callback.Options{})
	var open func(ctx context.Context, u string) error
	if openBrowser && f.OpenURL != nil {
		open = f.OpenURL
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

// newManager returns a manager whose remote servers use stored OAuth
// credentials, and the (non-interactive) engine it uses. Its users (list,
// tools, call, auth) connect, do one thing and exit: the manager is
// one-shot (no standalone GET stream, an unawaited session DELETE).
func (f *Factory) newManager(cfg *config.Config, timeout time.Duration) (*manager.Manager, *oauth.Engine, func(), error) {
	eng, closeEng, err := f.engine(false)
	if err != nil {
		return nil, nil, nil, err
	}
	m := manager.New(cfg, f.managerOptions(manager.Options{Timeout: timeout, OAuth: eng, OneShot: true}))
	return m, eng, func() { m.Close(); closeEng() }, nil
}

// authStates reports the stored authentication state of every OAuth-capable
// server, read through eng.
func (f *Factory) authStates(ctx context.Context, eng *oauth.Engine, cfg *config.Config) map[string]*authJSON {
	var entries []*config.Entry
	for _, name := range cfg.Names() {
		if e := cfg.Servers[name]; e.Type == config.TypeRemote && !e.OAuthDisabled {
			entries = append(entries, e)
		}
	}
	out := map[string]*authJSON{}
	if len(entries) == 0 {
		return out
	}
	sts, err := eng.Statuses(ctx, entries) // one read of the store for all of them
	if err != nil {
		f.diag("warning: reading stored credentials: %v", err)
		return out
	}
	for name, st := range sts {
		out[name] = toAuthJSON(st)
	}
	return out
}

func toAuthJSON(st oauth.AuthStatus) *authJSON {
	a := &authJSON{State: string(st.State), Scopes: st.Scopes, Issuer: st.Issuer, ClientID: st.ClientID, Refresh: st.Refreshable, RequiredScopes: st.RequiredScopes}
	if !st.Expiry.IsZero() {
		t := st.Expiry
		a.ExpiresAt = &t
	}
	return a
}

func addAuthCommands(root *cobra.Command, f *Factory) {
	auth := NewCmdAuth(f, nil)
	auth.AddCommand(NewCmdAuthStatus(f, nil))
	root.AddCommand(auth, NewCmdLogout(f, nil), NewCmdDebug(f, nil))
}

// AuthOptions are the options of `mcplink auth`.
type AuthOptions struct {
	IO         *IOStreams
	Config     configFunc
	Diag       diagFunc
	NewManager newManagerFunc
	// Engine returns the OAuth engine, opening the browser or not, and
	// its closer (Factory.engine); OpenURL is nil when no browser can be
	// opened (then the redirect is pasted).
	Engine  func(openBrowser bool) (*oauth.Engine, func(), error)
	OpenURL func(ctx context.Context, url string) error
	// PickSignIn asks which of names to sign in to (on a terminal);
	// Spinner shows msg until stop is called.
	PickSignIn func(ctx context.Context, names []string) ([]string, error)
	Spinner    func(msg string) (stop func())

	Name      string
	NoBrowser bool
	Device    bool
	All       bool
	Timeout   time.Duration
}

// NewCmdAuth builds `mcplink auth`.
func NewCmdAuth(f *Factory, runF func(context.Context, *AuthOptions) error) *cobra.Command {
	opts := &AuthOptions{IO: f.IO, Config: f.Config, Diag: f.diag, NewManager: f.newManager, Engine: f.engine,
		OpenURL: f.OpenURL, PickSignIn: f.pickSignIn, Spinner: f.spinner}
	cmd := &cobra.Command{
		Use:   "auth [server]",
		Short: "Sign in to a server with OAuth (every server that needs it when no name is given)",
		Long: `Run the OAuth authorization flow for a remote server: discovery, client
registration (persisted), PKCE, a browser sign-in with the redirect caught on a
loopback callback server, and token storage. Without a name, every server whose
status is needs_auth is signed in to, in turn (on a terminal, when there are
several, a picker asks which one, or all of them); with --all, every remote OAuth
server is signed in to at once (one callback listener per port, one state per flow).

The authorization URL is always printed on stderr; the browser is opened too
unless --no-browser is given ($BROWSER is honoured). When no browser can be
opened (no display, an SSH session, --no-browser), paste the URL the browser
was redirected to (or just the code) on stdin; the callback server keeps
listening meanwhile, and whichever arrives first wins. Paste mode also works
when the callback port is busy.

--device uses the device authorization grant (RFC 8628) when the authorization
server offers it: open the verification URI shown on any device and enter the code.`,
		Args: rangeArgs(0, 1, "at most one server name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = args[0]
			}
			if opts.All && opts.Name != "" {
				return usageError("auth: name one server or pass --all, not both")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return authRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.NoBrowser, "no-browser", false, "only print the authorization URL (then paste the redirect URL)")
	cmd.Flags().BoolVar(&opts.Device, "device", false, "use the device authorization grant (RFC 8628): sign in on another device with a code")
	cmd.Flags().BoolVar(&opts.All, "all", false, "sign in to every remote OAuth server, in parallel")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", oauth.DefaultFlowTimeout, "how long to wait for the sign-in (browser, paste or --device)")
	return cmd
}

func authRun(ctx context.Context, opts *AuthOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	var names []string
	switch {
	case opts.Name != "":
		e, err := cfg.Lookup(opts.Name)
		if err != nil {
			return usageError("%w", err)
		}
		if e.Type != config.TypeRemote {
			return usageError("server %q is a local server; OAuth is only for remote servers", e.Name)
		}
		if e.OAuthDisabled {
			return usageError("server %q has \"oauth\": false in %s; remove it to use OAuth", e.Name, e.Source)
		}
		names = []string{opts.Name}
	case opts.All:
		for _, n := range cfg.Names() {
			if e := cfg.Servers[n]; e.Enabled && e.Type == config.TypeRemote && !e.OAuthDisabled {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			fmt.Fprintln(opts.IO.ErrOut, "No remote server uses OAuth.")
			return nil
		}
	default:
		m, _, closeM, err := opts.NewManager(cfg, 0)
		if err != nil {
			return err
		}
		for _, st := range m.ConnectAll(ctx) {
			if st.Status == manager.StatusNeedsAuth {
				names = append(names, st.Name)
			}
		}
		closeM()
		if len(names) == 0 {
			fmt.Fprintln(opts.IO.ErrOut, "No server needs authentication.")
			return nil
		}
		if names, err = opts.PickSignIn(ctx, names); err != nil {
			return err
		}
	}

	eng, closeEng, err := opts.Engine(!opts.NoBrowser && !opts.Device)
	if err != nil {
		return err
	}
	defer closeEng()
	aopts := oauth.AuthOptions{Device: opts.Device}
	if !opts.Device && (opts.NoBrowser || opts.OpenURL == nil) {
		lines, stopPaste := pasteLines(opts.IO.In)
		defer stopPaste()
		aopts.Paste = lines
	}
	signIn := func(name string) (string, error) {
		e := cfg.Servers[name]
		for attempt := 0; ; attempt++ {
			actx, cancel := context.WithTimeout(ctx, opts.Timeout)
			_, err := eng.AuthenticateWith(actx, e, aopts)
			cancel()
			if err != nil {
				var dte *oauth.DeviceTimeoutError
				switch {
				case errors.As(err, &dte) && !dte.FlowTimeout && ctx.Err() == nil:
					// Our --timeout ended the wait, not the device code's expiry.
					err = fmt.Errorf("gave up after --timeout %s: the device sign-in to %s was not completed in time (the device code was still valid); run 'mcplink auth %s --device' again with a larger --timeout to wait longer", opts.Timeout, name, name)
				case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
					err = fmt.Errorf("no sign-in completed within %s; run 'mcplink auth %s' again (or raise --timeout): %w", opts.Timeout, name, err)
				}
				return "", err
			}
			// Connect with the new token and report the tool count.
			m, _, closeM, err := opts.NewManager(cfg, 0)
			if err != nil {
				return "", err
			}
			st, _ := m.Connect(ctx, name)
			closeM()
			if st.Status == manager.StatusConnected {
				return fmt.Sprintf("✓ %s: authenticated; connected, %d tools", name, len(st.Tools)), nil
			}
			// Step-up: the server wants scopes beyond the ones its sign-in
			// challenge named (now recorded with the credentials); the next
			// sign-in asks for them too. Once.
			if attempt == 0 && st.Status == manager.StatusNeedsAuth {
				if as, err := eng.Status(ctx, e); err == nil && len(as.RequiredScopes) > 0 {
					opts.Diag("%s: the server requires more scopes (%s); signing in again to request them", name, strings.Join(as.RequiredScopes, " "))
					continue
				}
			}
			// fix.CLI: auth's --timeout bounds the sign-in, not the connect.
			return fmt.Sprintf("✓ %s: authenticated; but connecting failed: %s%s", name, st.Status, errSuffix(stateErrorOn(st, fix.CLI))), errConnectFailed
		}
	}

	// No spinner while the user may be typing (paste) or reading a code.
	spin := opts.Spinner
	if aopts.Paste != nil || aopts.Device {
		spin = func(string) func() { return func() {} }
	}
	var failed []string
	if opts.All && len(names) > 1 {
		type result struct {
			name, line string
			err        error
		}
		results := make(chan result, len(names))
		var wg sync.WaitGroup
		for _, n := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				line, err := signIn(n)
				results <- result{n, line, err}
			}()
		}
		stop := spin(fmt.Sprintf("Waiting for %d sign-ins in the browser…", len(names)))
		wg.Wait()
		stop()
		close(results)
		byName := map[string]result{}
		for r := range results {
			byName[r.name] = r
		}
		for _, n := range names {
			r := byName[n]
			failed = reportSignIn(opts.IO, opts.Diag, n, r.line, r.err, failed)
		}
	} else {
		for _, name := range names {
			stop := spin(fmt.Sprintf("Waiting for the sign-in to %s in the browser…", name))
			line, err := signIn(name)
			stop()
			failed = reportSignIn(opts.IO, opts.Diag, name, line, err, failed)
			if err != nil && ctx.Err() != nil {
				break
			}
		}
	}
	if len(failed) > 0 {
		return &exitError{code: ExitError, err: fmt.Errorf("authentication failed for %s: %w", strings.Join(failed, ", "), errReported)}
	}
	return nil
}

// errConnectFailed marks a sign-in whose follow-up connection failed.
var errConnectFailed = errors.New("connecting after sign-in failed")

// reportSignIn prints one sign-in outcome and returns failed, extended on failure.
func reportSignIn(ios *IOStreams, diag diagFunc, name, line string, err error, failed []string) []string {
	switch {
	case err == nil:
		fmt.Fprintln(ios.Out, termtext.Clean(line))
	case errors.Is(err, errConnectFailed):
		fmt.Fprintln(ios.Out, termtext.Clean(line))
		failed = append(failed, name)
	case errors.Is(err, oauth.ErrNotProtected):
		fmt.Fprintf(ios.Out, "- %s: does not require OAuth\n", name)
	default:
		diag("✗ %s: %v", name, err)
		failed = append(failed, name)
	}
	return failed
}

// pasteLines reads lines from in (stdin) for paste mode. The reader
// goroutine ends at EOF, or at the first line after stop is called (a
// blocked read of a terminal cannot be interrupted; the process exits then).
func pasteLines(in io.Reader) (<-chan string, func()) {
	lines := make(chan string)
	done := make(chan struct{})
	if in == nil {
		close(lines)
		return lines, func() {}
	}
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 0, 4096), 64<<10)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return lines, func() { once.Do(func() { close(done) }) }
}

// spinner shows an animated line on a terminal stderr; it prints nothing otherwise.
func (f *Factory) spinner(msg string) (stop func()) {
	file, ok := f.IO.ErrOut.(*os.File)
	if !ok {
		return func() {}
	}
	if fi, err := file.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		frames := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(file, "\r%s %s", frames[i%len(frames)], termtext.Line(msg))
			select {
			case <-done:
				fmt.Fprint(file, "\r\033[K")
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// AuthStatusOptions are the options of `mcplink auth status`.
type AuthStatusOptions struct {
	IO         *IOStreams
	Config     configFunc
	Engine     func(openBrowser bool) (*oauth.Engine, func(), error)
	AuthStates func(context.Context, *oauth.Engine, *config.Config) map[string]*authJSON

	JSON bool
}

// NewCmdAuthStatus builds `mcplink auth status`.
func NewCmdAuthStatus(f *Factory, runF func(context.Context, *AuthStatusOptions) error) *cobra.Command {
	opts := &AuthStatusOptions{IO: f.IO, Config: f.Config, Engine: f.engine, AuthStates: f.authStates}
	cmd := &cobra.Command{
		Use:     "status",
		Aliases: []string{"list"},
		Short:   "Show stored authentication state: authenticated, expired or not_authenticated",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return authStatusRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON object of server name to state")
	return cmd
}

func authStatusRun(ctx context.Context, opts *AuthStatusOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	eng, closeEng, err := opts.Engine(false)
	if err != nil {
		return err
	}
	defer closeEng()
	states := opts.AuthStates(ctx, eng, cfg)
	if opts.JSON {
		return writeJSON(opts.IO.Out, states)
	}
	names := make([]string, 0, len(states))
	for n := range states {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "No remote server uses OAuth.")
		return nil
	}
	for _, n := range names {
		a := states[n]
		line := fmt.Sprintf("%-20s %s", n, a.State)
		if a.ExpiresAt != nil {
			if d := time.Until(*a.ExpiresAt); d > 0 {
				line += fmt.Sprintf("  expires in %s", d.Round(time.Second))
			} else {
				line += fmt.Sprintf("  expired %s ago", (-d).Round(time.Second))
			}
		}
		if a.Refresh {
			line += "  (refreshable)"
		}
		if len(a.Scopes) > 0 {
			line += "  scopes: " + strings.Join(a.Scopes, " ")
		}
		if len(a.RequiredScopes) > 0 {
			line += "  requires: " + strings.Join(a.RequiredScopes, " ")
		}
		fmt.Fprintln(opts.IO.Out, termtext.Clean(line))
	}
	return nil
}

// LogoutOptions are the options of `mcplink logout`.
type LogoutOptions struct {
	IO     *IOStreams
	Config configFunc
	Diag   diagFunc
	Engine func(openBrowser bool) (*oauth.Engine, func(), error)
	// SignedIn lists the servers with stored credentials; PickLogout asks
	// which of names to log out of (on a terminal).
	SignedIn   func(ctx context.Context, cfg *config.Config) ([]string, error)
	PickLogout func(ctx context.Context, cfg *config.Config, names []string) ([]string, error)

	Name      string
	All       bool
	LocalOnly bool
}

// NewCmdLogout builds `mcplink logout`.
func NewCmdLogout(f *Factory, runF func(context.Context, *LogoutOptions) error) *cobra.Command {
	opts := &LogoutOptions{IO: f.IO, Config: f.Config, Diag: f.diag, Engine: f.engine, SignedIn: f.signedIn, PickLogout: f.pickLogout}
	cmd := &cobra.Command{
		Use:   "logout [server] [--all] [--local-only]",
		Short: "Revoke and forget the tokens of a server (or --all)",
		Long: `Revoke the refresh and access tokens at the authorization server (RFC 7009),
when it advertises a revocation endpoint, then delete them locally. The client
registration is kept, so signing in again reuses it. A failed revocation is
reported (exit status 1) but the local tokens are deleted anyway.
--local-only skips the revocation. Without a server name on a terminal, a picker
asks which server with stored tokens to log out of.`,
		Args: rangeArgs(0, 1, "at most one server name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = args[0]
			}
			if opts.Name != "" && opts.All {
				return usageError("logout: name one server, or pass --all")
			}
			if opts.Name == "" && !opts.All && !f.interactive() {
				return usageError("logout: name one server, or pass --all") // a terminal gets a picker
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return logoutRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "log out of every server with stored credentials")
	cmd.Flags().BoolVar(&opts.LocalOnly, "local-only", false, "only delete local tokens; do not revoke them at the authorization server")
	return cmd
}

func logoutRun(ctx context.Context, opts *LogoutOptions) error {
	eng, closeEng, err := opts.Engine(false)
	if err != nil {
		return err
	}
	defer closeEng()
	// The config supplies pre-registered clients for revocation; logging out
	// must work even when it does not load.
	cfg, cerr := opts.Config()
	if cerr != nil {
		opts.Diag("warning: %v", cerr)
	}
	names := []string{opts.Name}
	if opts.All || opts.Name == "" {
		if names, err = opts.SignedIn(ctx, cfg); err != nil {
			return err
		}
	}
	if !opts.All && opts.Name == "" {
		if names, err = opts.PickLogout(ctx, cfg, names); err != nil {
			return err
		}
	}
	if opts.Name != "" && !opts.All {
		if err := knownForLogout(ctx, opts.SignedIn, cfg, opts.Name); err != nil {
			return err
		}
	}
	var failed []string
	for _, n := range names {
		lo := oauth.LogoutOptions{LocalOnly: opts.LocalOnly}
		if cfg != nil && cfg.Servers[n] != nil && cfg.Servers[n].Untrusted == nil {
			// An untrusted project file's client settings are not used.
			lo.Entry = cfg.Servers[n]
		}
		res, err := eng.LogoutServer(ctx, n, lo)
		if err != nil {
			return err
		}
		switch {
		case res.RevocationErr != nil:
			opts.Diag("✗ %s: revoking the tokens failed: %v", n, res.RevocationErr)
			opts.Diag("Logged out of %s locally (tokens deleted; client registration kept), but the authorization server may still accept them; retry later or revoke them in the provider's settings", n)
			failed = append(failed, n)
		case !res.HadTokens:
			opts.Diag("%s: no tokens stored (client registration kept)", n)
		case len(res.Revoked) > 0:
			opts.Diag("Logged out of %s: revoked %s at the authorization server; local tokens deleted (client registration kept)", n, strings.Join(res.Revoked, " and "))
		case len(res.NotRevocable) > 0:
			// Handled after the switch.
		default:
			why := res.RevocationSkipped
			if opts.LocalOnly {
				why = "--local-only"
			}
			opts.Diag("Logged out of %s: local tokens deleted (client registration kept); not revoked: %s", n, why)
		}
		if res.RevocationErr == nil && len(res.NotRevocable) > 0 {
			if len(res.Revoked) == 0 {
				opts.Diag("Logged out of %s: local tokens deleted (client registration kept)", n)
			}
			opts.Diag("  note: the authorization server does not revoke the %s (unsupported_token_type, e.g. a self-contained JWT); it stays valid until it expires", strings.Join(res.NotRevocable, " and "))
		}
	}
	if len(names) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "No stored credentials.")
	}
	if len(failed) > 0 {
		return &exitError{code: ExitError, err: fmt.Errorf("revocation failed for %s: %w", strings.Join(failed, ", "), errReported)}
	}
	return nil
}

// openBrowser returns the browser opener: $BROWSER first, then the platform
// opener. It returns nil when no browser can be opened (no display).
func openBrowser(getenv func(string) string) func(context.Context, string) error {
	if b := getenv("BROWSER"); strings.TrimSpace(b) != "" {
		// launchBrowser notices a $BROWSER that cannot start or fails at
		// once (within browserGrace), so the user is told to open the URL.
		return launchBrowser(b)
	}
	if runtime.GOOS == "linux" && getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		return nil
	}
	// Over SSH a macOS or Windows opener shows the page on the remote
	// machine's screen, not the user's: paste mode instead.
	if runtime.GOOS != "linux" && (getenv("SSH_CONNECTION") != "" || getenv("SSH_TTY") != "") {
		return nil
	}
	return func(_ context.Context, u string) error { return browser.OpenURL(u) }
}

// knownForLogout returns a usage error (exit 2) for a name that is neither
// a configured server nor one with stored credentials (a proxied URL's
// `<host>-<hash>` name, say): a typo must not pass as "nothing to log out".
// When the config does not load, every name is taken (logout is the way
// out of a broken setup).
func knownForLogout(ctx context.Context, signedIn func(context.Context, *config.Config) ([]string, error), cfg *config.Config, name string) error {
	if cfg == nil || cfg.Servers[name] != nil {
		return nil
	}
	// Every stored name (a client registration alone included), and
	// opencode's sign-ins mcplink may use.
	stored, err := signedIn(ctx, cfg)
	if err != nil || slices.Contains(stored, name) {
		return err
	}
	return usageError("no server named %q in the config and no credentials stored under that name (see 'mcplink list' and 'mcplink auth status')", name)
}
