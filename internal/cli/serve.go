package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/api"
	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/clients"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/safefile"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// ServeOptions are the options of `mcplink serve`.
type ServeOptions struct {
	IO     *IOStreams
	Getenv func(string) string
	Config configFunc
	Diag   diagFunc
	Store  func() (authstore.Store, error)
	// OpencodeAuth is opencode's credentials file (read for servers
	// mcplink has none for); ManagerOptions completes a manager's options
	// (Factory.managerOptions); OpenURL opens a browser (nil: none).
	OpencodeAuth   func() clients.OpencodeAuth
	ManagerOptions func(manager.Options) manager.Options
	OpenURL        func(ctx context.Context, url string) error
	// For POST /mcp: the file it writes (Factory.addTarget) and how
	// {env:}/{file:} are resolved in the entry it validates.
	AddTarget func() (string, []config.EditOption, error)
	HomeDir   string
	LookupEnv func(string) (string, bool)

	Addr        string
	TokenFile   string
	FlowTimeout time.Duration
	NoBrowser   bool
	NoConnect   bool
	// Ready, when set, is called with the bound address once the server listens.
	Ready func(addr string)
}

// NewCmdServe builds `mcplink serve`.
func NewCmdServe(f *Factory, runF func(context.Context, *ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{IO: f.IO, Getenv: f.Getenv, Config: f.Config, Diag: f.diag, Store: f.Store,
		OpencodeAuth: f.opencodeAuth, ManagerOptions: f.managerOptions, OpenURL: f.OpenURL,
		AddTarget: f.addTarget, HomeDir: f.HomeDir, LookupEnv: f.lookupEnv}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API and status page for editors, agents and web UIs",
		Long: `Serve mcplink's HTTP API (JSON; OpenAPI 3.1 at /openapi.json) and a status page
at / on a loopback address. Editors, agents and web UIs use it to see server
status, sign in with OAuth, connect, list and call tools, and follow changes
(GET /events, Server-Sent Events).

The API refuses requests addressed to other host names (DNS rebinding) and
cross-site browser requests. A token (--token-file or MCPLINK_API_TOKEN) is
then required as "Authorization: Bearer <token>"; it is mandatory when --addr
is not a loopback address.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return serveRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Addr, "addr", api.DefaultAddr, "listen `address` (host:port; port 0 picks a free port)")
	cmd.Flags().StringVar(&opts.TokenFile, "token-file", "", "require the API token stored in this `file` (default: env "+api.TokenEnv+")")
	cmd.Flags().DurationVar(&opts.FlowTimeout, "flow-timeout", oauth.DefaultFlowTimeout, "how long an authorization flow stays pending")
	cmd.Flags().BoolVar(&opts.NoBrowser, "no-browser", false, "never open a browser; report authorization URLs in events instead")
	cmd.Flags().BoolVar(&opts.NoConnect, "no-connect", false, "do not connect the enabled servers at start-up")
	return cmd
}

// apiToken reads the token from --token-file or MCPLINK_API_TOKEN.
func (opts *ServeOptions) apiToken() (string, error) {
	if opts.TokenFile != "" {
		data, err := readTokenFile(opts.TokenFile)
		if err != nil {
			return "", err
		}
		tok := strings.TrimSpace(string(data))
		if tok == "" {
			return "", usageError("--token-file %s is empty; put the API token in it", opts.TokenFile)
		}
		return tok, nil
	}
	return strings.TrimSpace(opts.Getenv(api.TokenEnv)), nil
}

// maxTokenFile bounds the --token-file read.
const maxTokenFile = 64 << 10

// readTokenFile reads the API token file: a regular file (a FIFO would
// block), private to its owner (checkTokenFileMode; Unix only), of at most
// maxTokenFile bytes. The mode is checked on the opened file.
func readTokenFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, usageError("reading --token-file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, usageError("--token-file %s is not a regular file; put the API token in a plain file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError("reading --token-file: %w", err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, usageError("reading --token-file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, usageError("--token-file %s is not a regular file; put the API token in a plain file", path)
	}
	if err := checkTokenFileMode(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return nil, usageError("reading --token-file: %w", err)
	}
	if len(data) > maxTokenFile {
		return nil, usageError("--token-file %s is larger than %d KiB; it must hold only the API token", path, maxTokenFile>>10)
	}
	return data, nil
}

// addTarget is the file POST /mcp writes a new server to: the --config
// file; else the project file when there is one (it must be trusted: a
// server added to an untrusted file would not be used); else the global file.
func (f *Factory) addTarget() (string, []config.EditOption, error) {
	if p := f.explicitConfig(); p != "" {
		return p, nil, nil
	}
	if files := config.ProjectFiles(f.WorkDir); len(files) > 0 {
		p := files[len(files)-1]
		data, err := safefile.ReadRegular(p, config.MaxFileSize) // a FIFO never blocks serve
		if err != nil {
			return "", nil, fmt.Errorf("reading the project file: %w", err)
		}
		st, err := f.trustStore().Check(p, data)
		if err != nil {
			return "", nil, err
		}
		if st != config.Trusted {
			return "", nil, fmt.Errorf("the project file %s is not trusted, so a server added to it would not be used; review it, then run \"mcplink trust\" in %s", p, filepath.Dir(p))
		}
		return p, f.editOptions(p), nil
	}
	return config.GlobalFile(f.configHome()), nil, nil
}

func serveRun(ctx context.Context, opts *ServeOptions) error {
	token, err := opts.apiToken()
	if err != nil {
		return err
	}
	if err := api.CheckAddr(opts.Addr, token); err != nil {
		if errors.Is(err, api.ErrTokenRequired) {
			return usageError("--addr: %w; set one with --token-file or %s (or listen on 127.0.0.1)", err, api.TokenEnv)
		}
		return usageError("--addr: %w", err)
	}
	if opts.FlowTimeout <= 0 {
		return usageError("--flow-timeout must be positive")
	}
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	store, err := opts.Store()
	if err != nil {
		return err
	}
	events := api.NewEvents()
	reg := callback.New(callback.Options{})
	defer reg.Close()
	eng := oauth.New(oauth.Options{
		Store:       store,
		Callbacks:   reg,
		FlowTimeout: opts.FlowTimeout,
		Fallback:    opts.OpencodeAuth(),
		Notify: func(server, msg string) {
			opts.Diag("%s: %s", server, msg)
			events.Notify(server, msg)
		},
	})
	m := manager.New(cfg, opts.ManagerOptions(manager.Options{OAuth: eng}))
	defer m.Close()

	var open func(ctx context.Context, u string) error
	if !opts.NoBrowser {
		open = opts.OpenURL
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (choose another with --addr): %w", opts.Addr, err)
	}
	srv, err := api.New(api.Options{
		Addr: ln.Addr().String(), Token: token,
		Config: cfg, Manager: m, Engine: eng, Callbacks: reg, Events: events, OpenURL: open,
		FlowTTL: opts.FlowTimeout,
		Logf:    func(format string, a ...any) { opts.Diag(format, a...) },
		Add: &api.AddOptions{
			Target:  opts.AddTarget,
			HomeDir: opts.HomeDir,
			Getenv:  opts.LookupEnv,
		},
	})
	if err != nil {
		ln.Close()
		return usageError("%w", err)
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(opts.IO.ErrOut, "mcplink API listening on %s (status page: %s/, OpenAPI: %s/openapi.json)\n", url, url, url)
	if opts.Ready != nil {
		opts.Ready(ln.Addr().String())
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	connected := make(chan struct{})
	go func() {
		defer close(connected)
		if !opts.NoConnect {
			m.ConnectAll(sctx)
		}
	}()
	err = srv.Serve(ctx, ln)
	cancel()
	<-connected
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
