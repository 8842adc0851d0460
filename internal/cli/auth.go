package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cli/browser"
	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
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
		open = func(ctx context.Context, u string) error { return f.OpenURL(u) }
	}
	eng := oauth.New(oauth.Options{
		Store:     store,
		Callbacks: reg,
		OpenURL:   open,
		Notify: func(server, msg string) {
			f.diag("%s: %s", server, msg)
		},
	})
	return eng, func() { reg.Close() }, nil
}

// newManager returns a manager whose remote servers use stored OAuth credentials.
func (f *Factory) newManager(cfg *config.Config, timeout time.Duration) (*manager.Manager, func(), error) {
	eng, closeEng, err := f.engine(false)
	if err != nil {
		return nil, nil, err
	}
	m := manager.New(cfg, f.managerOptions(manager.Options{Timeout: timeout, OAuth: eng}))
	return m, func() { m.Close(); closeEng() }, nil
}

// authStates reports the stored authentication state of every OAuth-capable server.
func (f *Factory) authStates(ctx context.Context, cfg *config.Config) map[string]*authJSON {
	out := map[string]*authJSON{}
	eng, closeEng, err := f.engine(false)
	if err != nil {
		f.diag("warning: %v", err)
		return out
	}
	defer closeEng()
	for _, name := range cfg.Names() {
		e := cfg.Servers[name]
		if e.Type != config.TypeRemote || e.OAuthDisabled {
			continue
		}
		st, err := eng.Status(ctx, e)
		if err != nil {
			f.diag("warning: %s: reading stored credentials: %v", name, err)
			continue
		}
		out[name] = toAuthJSON(st)
	}
	return out
}

func toAuthJSON(st oauth.AuthStatus) *authJSON {
	a := &authJSON{State: string(st.State), Scopes: st.Scopes, Issuer: st.Issuer, ClientID: st.ClientID, Refresh: st.Refreshable}
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
	F         *Factory
	Name      string
	NoBrowser bool
	Timeout   time.Duration
}

// NewCmdAuth builds `mcplink auth`.
func NewCmdAuth(f *Factory, runF func(context.Context, *AuthOptions) error) *cobra.Command {
	opts := &AuthOptions{F: f}
	cmd := &cobra.Command{
		Use:   "auth [server]",
		Short: "Sign in to a server with OAuth (every server that needs it when no name is given)",
		Long: `Run the OAuth authorization flow for a remote server: discovery, client
registration (persisted), PKCE, a browser sign-in with the redirect caught on a
loopback callback server, and token storage. Without a name, every server whose
status is needs_auth is signed in to, in turn.

The authorization URL is always printed on stderr; the browser is opened too
unless --no-browser is given ($BROWSER is honoured).`,
		Args: rangeArgs(0, 1, "at most one server name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return authRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.NoBrowser, "no-browser", false, "only print the authorization URL")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", oauth.DefaultFlowTimeout, "how long to wait for the browser sign-in")
	return cmd
}

func authRun(ctx context.Context, opts *AuthOptions) error {
	f := opts.F
	cfg, err := f.Config()
	if err != nil {
		return err
	}
	var names []string
	if opts.Name != "" {
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
	} else {
		m, closeM, err := f.newManager(cfg, 0)
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
			fmt.Fprintln(f.IO.ErrOut, "No server needs authentication.")
			return nil
		}
	}

	eng, closeEng, err := f.engine(!opts.NoBrowser)
	if err != nil {
		return err
	}
	defer closeEng()
	var failed []string
	for _, name := range names {
		e := cfg.Servers[name]
		actx, cancel := context.WithTimeout(ctx, opts.Timeout)
		stop := f.spinner(fmt.Sprintf("Waiting for the sign-in to %s in the browser…", name))
		_, err := eng.Authenticate(actx, e)
		stop()
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = fmt.Errorf("no sign-in completed within %s; run 'mcplink auth %s' again (or raise --timeout): %w", opts.Timeout, name, err)
			}
			f.diag("✗ %s: %v", name, err)
			failed = append(failed, name)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		// Connect with the new token and report the tool count.
		m, closeM, err := f.newManager(cfg, 0)
		if err != nil {
			return err
		}
		st, _ := m.Connect(ctx, name)
		closeM()
		if st.Status == manager.StatusConnected {
			fmt.Fprintf(f.IO.Out, "✓ %s: authenticated; connected, %d tools\n", name, len(st.Tools))
		} else {
			fmt.Fprintf(f.IO.Out, "✓ %s: authenticated; but connecting failed: %s%s\n", name, st.Status, errSuffix(st.Error))
			failed = append(failed, name)
		}
	}
	if len(failed) > 0 {
		return &exitError{code: ExitError, err: fmt.Errorf("authentication failed for %s: %w", strings.Join(failed, ", "), errReported)}
	}
	return nil
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
			fmt.Fprintf(file, "\r%s %s", frames[i%len(frames)], msg)
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
	F    *Factory
	JSON bool
}

// NewCmdAuthStatus builds `mcplink auth status`.
func NewCmdAuthStatus(f *Factory, runF func(context.Context, *AuthStatusOptions) error) *cobra.Command {
	opts := &AuthStatusOptions{F: f}
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
	f := opts.F
	cfg, err := f.Config()
	if err != nil {
		return err
	}
	states := f.authStates(ctx, cfg)
	if opts.JSON {
		return writeJSON(f.IO.Out, states)
	}
	names := make([]string, 0, len(states))
	for n := range states {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		fmt.Fprintln(f.IO.ErrOut, "No remote server uses OAuth.")
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
		fmt.Fprintln(f.IO.Out, line)
	}
	return nil
}

// LogoutOptions are the options of `mcplink logout`.
type LogoutOptions struct {
	F    *Factory
	Name string
	All  bool
}

// NewCmdLogout builds `mcplink logout`.
func NewCmdLogout(f *Factory, runF func(context.Context, *LogoutOptions) error) *cobra.Command {
	opts := &LogoutOptions{F: f}
	cmd := &cobra.Command{
		Use:   "logout [server] [--all]",
		Short: "Forget stored credentials for a server (or --all)",
		Args:  rangeArgs(0, 1, "at most one server name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = args[0]
			}
			if (opts.Name == "") == !opts.All {
				return usageError("logout: name one server, or pass --all")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return logoutRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "forget the credentials of every server")
	return cmd
}

func logoutRun(ctx context.Context, opts *LogoutOptions) error {
	f := opts.F
	eng, closeEng, err := f.engine(false)
	if err != nil {
		return err
	}
	defer closeEng()
	names := []string{opts.Name}
	if opts.All {
		store, err := f.Store()
		if err != nil {
			return err
		}
		all, err := store.List(ctx)
		if err != nil {
			return err
		}
		names = names[:0]
		for n := range all {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	for _, n := range names {
		if err := eng.Logout(ctx, n); err != nil {
			return err
		}
		fmt.Fprintf(f.IO.ErrOut, "Logged out of %s (local credentials removed)\n", n)
	}
	if len(names) == 0 {
		fmt.Fprintln(f.IO.ErrOut, "No stored credentials.")
	}
	return nil
}

// openBrowser returns the browser opener: $BROWSER first, then the platform
// opener. It returns nil when no browser can be opened (no display).
func openBrowser(getenv func(string) string) func(string) error {
	if b := getenv("BROWSER"); b != "" {
		return func(u string) error {
			args := strings.Fields(b)
			cmd := exec.Command(args[0], append(args[1:], u)...)
			cmd.Stdout, cmd.Stderr = nil, nil
			if err := cmd.Start(); err != nil {
				return fmt.Errorf("starting $BROWSER (%s): %w", b, err)
			}
			go cmd.Wait() //nolint:errcheck // reaps the browser launcher; it owns its own lifetime
			return nil
		}
	}
	if runtime.GOOS == "linux" && getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		return nil
	}
	return browser.OpenURL
}
