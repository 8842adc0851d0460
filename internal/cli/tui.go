package cli

import (
	"bytes"
	"context"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/clients"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
	"github.com/mcplink/mcplink/tui"
)

// TUIOptions are the options of `mcplink tui`.
type TUIOptions struct {
	IO     *IOStreams
	Getenv func(string) string
	// Deps returns what the dashboard uses, writing its diagnostics to
	// errOut: they are held while the dashboard is on the screen.
	Deps func(errOut io.Writer) tuiDeps

	Timeout     time.Duration
	FlowTimeout time.Duration
	NoBrowser   bool
}

// NewCmdTUI builds `mcplink tui`.
func NewCmdTUI(f *Factory, runF func(context.Context, *TUIOptions) error) *cobra.Command {
	opts := &TUIOptions{IO: f.IO, Getenv: f.Getenv, Deps: f.tuiDeps}
	cmd := &cobra.Command{
		Use:   "tui",
		Short: "Terminal dashboard: every server's state live, auth/logout/reconnect one key away",
		Long: `Show every configured server with a status dot (green connected, amber
needs auth, red failed, grey disabled), its tools and authentication state.
Keys: ↑/↓ or j/k select · a sign in (opens the browser, c copies the URL, p
pastes the URL the browser ended on when it runs on another machine, esc
cancels) · d sign in with a device code (RFC 8628, for SSH hosts and
containers: open the URL shown on any device and enter the code; c copies the
URL, esc cancels; the authorization server must support it) · l log out
(revokes the tokens at the authorization server and deletes them; the client
registration is kept; the outcome, a failed revocation included, is shown in
the server's details) · r reconnect · e enable/disable (edits the config file,
keeping comments) · / filter · enter tools · ? all keys · q quit.
NO_COLOR is honoured.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return tuiRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 0, "connect timeout for every server (default: each entry's own)")
	cmd.Flags().DurationVar(&opts.FlowTimeout, "auth-timeout", oauth.DefaultFlowTimeout, "how long a sign-in waits for the browser")
	cmd.Flags().BoolVar(&opts.NoBrowser, "no-browser", false, "only show the authorization URL; never open a browser")
	return cmd
}

// tuiDeps are the dashboard's dependencies (see TUIOptions.Deps).
type tuiDeps struct {
	Config         configFunc
	Store          func() (authstore.Store, error)
	OpencodeAuth   func() clients.OpencodeAuth
	Diag           diagFunc
	ManagerOptions func(manager.Options) manager.Options
	OpenURL        func(ctx context.Context, url string) error
	EditOptions    func(path string) []config.EditOption
	EditFile       func(e *config.Entry) string
}

// tuiDeps returns the dashboard's dependencies from a copy of f whose
// diagnostics go to errOut.
func (f *Factory) tuiDeps(errOut io.Writer) tuiDeps {
	tf := *f
	tf.IO = &IOStreams{In: f.IO.In, Out: f.IO.Out, ErrOut: errOut}
	return tuiDeps{Config: tf.Config, Store: tf.Store, OpencodeAuth: tf.opencodeAuth, Diag: tf.diag,
		ManagerOptions: tf.managerOptions, OpenURL: tf.OpenURL, EditOptions: tf.editOptions, EditFile: tf.toggleFile}
}

func tuiRun(ctx context.Context, opts *TUIOptions) error {
	// Diagnostics (store notices, OAuth progress) would scribble over the
	// screen: hold them and print them once the dashboard is gone. What the
	// user must see while it runs (a logout's revocation result) reaches the
	// dashboard through the backend's return values instead.
	if !tui.IsTerminal(opts.IO.Out) {
		return tui.ErrNotTerminal
	}
	held := &lockedBuffer{}
	defer func() {
		if held.Len() > 0 {
			_, _ = opts.IO.ErrOut.Write(held.Bytes())
		}
	}()
	d := opts.Deps(held)
	cfg, err := d.Config()
	if err != nil {
		return err
	}
	// The engine is built here rather than by Factory.engine: its flow
	// timeout is the dashboard's --auth-timeout.
	store, err := d.Store()
	if err != nil {
		return err
	}
	reg := callback.New(callback.Options{})
	defer reg.Close()
	eng := oauth.New(oauth.Options{
		Store: store, Callbacks: reg, FlowTimeout: opts.FlowTimeout,
		Fallback: d.OpencodeAuth(),
		Notify:   func(server, msg string) { d.Diag("%s: %s", server, msg) },
	})
	var open func(context.Context, string) error
	if !opts.NoBrowser && d.OpenURL != nil {
		open = d.OpenURL
	}
	b, err := tui.NewBackend(tui.BackendOptions{
		Config: cfg,
		NewManager: func(c *config.Config) *manager.Manager {
			return manager.New(c, d.ManagerOptions(manager.Options{Timeout: opts.Timeout, OAuth: eng}))
		},
		Engine:      eng,
		Reload:      d.Config,
		OpenURL:     open,
		EditOptions: d.EditOptions,
		EditFile:    d.EditFile,
	})
	if err != nil {
		return err
	}
	defer b.Close()
	noColor := opts.Getenv("NO_COLOR") != "" // https://no-color.org: any non-empty value
	return tui.Run(ctx, b, tui.Options{FlowTimeout: opts.FlowTimeout, NoColor: noColor},
		tui.RunOptions{In: opts.IO.In, Out: opts.IO.Out})
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
