package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/paths"
	"github.com/mcplink/mcplink/internal/termtext"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// IOStreams are the process's standard streams: data goes to Out, diagnostics to ErrOut.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Factory holds what commands need from the environment. Everything a
// command touches outside its own flags comes from here, so tests and the
// demo can run commands in-process against their own files.
type Factory struct {
	IO *IOStreams
	// Getenv reads the environment.
	Getenv func(string) string
	// WorkDir and HomeDir anchor config discovery.
	WorkDir string
	HomeDir string
	// ConfigFile is the --config flag.
	ConfigFile string
	// Executable is the path of the running mcplink binary (for the demo's local server).
	Executable string
	// OpenURL opens a URL in a browser; nil when none can be opened.
	OpenURL func(ctx context.Context, url string) error

	store authstore.Store // opened on first use by Store
	// noPrompt: never ask on the terminal while loading the config
	// (shell completion).
	noPrompt bool
}

// The dependencies that commands' Options take from the Factory, in the
// cli/cli layout: each NewCmdX fills its Options with the few it uses, so
// a command's Options say what it touches and the Factory stays the one
// place that builds them.
type (
	// configFunc loads the configuration (Factory.Config).
	configFunc = func() (*config.Config, error)
	// newManagerFunc returns a one-shot manager over the stored
	// credentials, its engine and its closer (Factory.newManager).
	newManagerFunc = func(*config.Config, time.Duration) (*manager.Manager, *oauth.Engine, func(), error)
	// connectOneFunc connects one configured server (Factory.connectOne).
	connectOneFunc = func(context.Context, string, time.Duration) (*manager.Manager, func(), error)
	// diagFunc writes one diagnostic line on stderr (Factory.diag).
	diagFunc = func(format string, a ...any)
)

// NewFactory returns a Factory for the real process environment.
func NewFactory(stdin io.Reader, stdout, stderr io.Writer) *Factory {
	wd, _ := os.Getwd()
	home, _ := os.UserHomeDir()
	exe := selfPath()
	return &Factory{
		IO:         &IOStreams{In: stdin, Out: stdout, ErrOut: stderr},
		Getenv:     os.Getenv,
		WorkDir:    wd,
		HomeDir:    home,
		Executable: exe,
		OpenURL:    openBrowser(os.Getenv),
	}
}

func (f *Factory) lookupEnv(k string) (string, bool) {
	v := f.Getenv(k)
	if v == "" {
		return os.LookupEnv(k)
	}
	return v, true
}

// explicitConfig returns the --config flag or MCPLINK_CONFIG.
func (f *Factory) explicitConfig() string {
	if f.ConfigFile != "" {
		return f.ConfigFile
	}
	return f.Getenv("MCPLINK_CONFIG")
}

// configHome is $XDG_CONFIG_HOME or <home>/.config, on every OS (see
// internal/paths).
func (f *Factory) configHome() string {
	return paths.ConfigHome(runtime.GOOS, f.Getenv, f.HomeDir)
}

// Config loads the configuration. Project files found by discovery are used
// only when trusted (see trustStore).
func (f *Factory) Config() (*config.Config, error) {
	return config.Load(config.LoadOptions{
		File:       f.explicitConfig(),
		WorkDir:    f.WorkDir,
		ConfigHome: f.configHome(),
		HomeDir:    f.HomeDir,
		Getenv:     f.lookupEnv,
		Trust:      f.trustStore(),
		Opencode:   f.opencodeOptions(),
		Foreign:    f.foreignReader(),
	})
}

// dataDir is mcplink's data directory (credentials, trusted files):
// MCPLINK_DATA_DIR, else $XDG_DATA_HOME/mcplink, else ~/.local/share/mcplink.
func (f *Factory) dataDir() string { return authstore.DefaultDir(f.Getenv, f.HomeDir) }

// trustStore returns the record of trusted project files in the data
// directory (one that trusts nothing when the directory is unknown).
func (f *Factory) trustStore() *config.TrustStore { return config.NewTrustStore(f.dataDir()) }

// editOptions returns the options for editing path on the user's command: a
// project file that was trusted (or is new) stays trusted. The global file
// and an explicit --config file are trusted anyway and get no record.
func (f *Factory) editOptions(path string) []config.EditOption {
	if p := f.explicitConfig(); p != "" && path == p {
		return []config.EditOption{config.CheckBeforeEdit(refuseForeign)}
	}
	if path == config.GlobalFile(f.configHome()) {
		return nil
	}
	return []config.EditOption{config.KeepTrusted(f.trustStore())}
}

// EditFile returns the config file that add/remove edit.
func (f *Factory) EditFile(global bool) string {
	if p := f.explicitConfig(); p != "" {
		return p
	}
	if global {
		return config.GlobalFile(f.configHome())
	}
	return config.ProjectFile(f.WorkDir)
}

// Store opens the credential store selected by MCPLINK_CREDENTIALS_STORE
// (auto, keyring or file; auto probes the keyring and falls back to the file).
//
// The store is opened once per Factory, so the keyring probe (and its notice
// when it falls back to the file) happens at most once per command.
func (f *Factory) Store() (authstore.Store, error) {
	if f.store != nil {
		return f.store, nil
	}
	st, err := authstore.Open(authstore.OpenOptions{
		Mode: f.Getenv(authstore.EnvCredentialsStore),
		Dir:  f.dataDir(),
		Notify: func(msg string) {
			f.diag("%s", msg)
		},
	})
	if err != nil {
		return nil, err
	}
	f.store = st
	return st, nil
}

// ManagerOptions returns the manager options shared by every command.
func (f *Factory) managerOptions(opts manager.Options) manager.Options {
	opts.ClientInfo = &mcp.Implementation{Name: "mcplink", Version: currentBuild().Version}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Transport: &boundedDelete{base: http.DefaultTransport, bound: sessionEndBound}}
	}
	return opts
}

// sessionEndBound bounds the DELETE that ends a remote session when a
// command closes its connections: a server that no longer answers (the
// reason a command gave up, often) must not hold the command up for the
// SDK's own 5 s bound.
const sessionEndBound = 500 * time.Millisecond

// boundedDelete gives every DELETE request at most bound.
type boundedDelete struct {
	base  http.RoundTripper
	bound time.Duration
}

func (t *boundedDelete) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodDelete {
		return t.base.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.bound)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// diag writes one diagnostic line to stderr. Its arguments often quote
// servers, so the line is stripped of terminal controls (termtext.Clean).
func (f *Factory) diag(format string, a ...any) {
	fmt.Fprintln(f.IO.ErrOut, termtext.Clean(fmt.Sprintf(format, a...)))
}

// selfPath returns how to run this program again: argv[0] as invoked (resolved
// through PATH when it has no slash), so a binary reached through a symlink or
// a multi-call test binary runs as itself; os.Executable as a fallback.
func selfPath() string {
	if len(os.Args) > 0 && os.Args[0] != "" {
		a := os.Args[0]
		if strings.ContainsRune(a, os.PathSeparator) {
			if abs, err := filepath.Abs(a); err == nil {
				return abs
			}
		} else if p, err := exec.LookPath(a); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				return abs
			}
		}
	}
	exe, _ := os.Executable()
	return exe
}
