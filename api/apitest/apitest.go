// Package apitest starts a real mcplink API server on loopback with real
// backends — unprotected MCP servers (mcptest), an OAuth authorization server
// with protected MCP servers (oauthtest), optionally a local stdio server —
// for the api tests, the api/client tests and the bench/api benchmarks.
package apitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/mcplink/mcplink/api"
	"github.com/mcplink/mcplink/api/client"
	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// Options configures Start.
type Options struct {
	// Plain is the number of unprotected MCP servers, named plain0, plain1, ...
	Plain int
	// Secure is the number of OAuth-protected servers, named secure0, ...;
	// they share one authorization server and protected MCP endpoint.
	Secure int
	// ConsentPage makes the authorization server show Approve/Deny.
	ConsentPage bool
	// DeviceFlow makes the authorization server offer the device
	// authorization grant (approve codes with AS.ApproveDevice).
	DeviceFlow bool
	// LocalCommand, when set, adds a local server "local" running it, with
	// LocalEnv as its environment.
	LocalCommand []string
	LocalEnv     map[string]string
	// Disabled adds a disabled remote server "off" and a remote server
	// "nooauth" with "oauth": false.
	Disabled bool
	// CallbackPort is the OAuth callback port of every secure server; 0
	// picks a free one.
	CallbackPort int
	// StoreDir is the credential store directory; "" uses a fresh temporary one.
	StoreDir string
	// AS reuses an authorization server instead of starting one.
	AS *oauthtest.Server

	Token      string
	FlowTTL    time.Duration
	MaxPending int
	OpenURL    func(ctx context.Context, url string) error
	// UnbrakedClock gives the OAuth engine a clock that jumps a minute at
	// every reading, so its per-server attempt brake (5 per 30 s) never
	// trips: needed to hold many pending flows per server.
	UnbrakedClock bool
	// NoConnect skips connecting the servers at start.
	NoConnect bool
	// Add enables POST /mcp, writing new servers to the config file
	// (Env.ConfigFile).
	Add bool
}

// Env is a running API server and its backends.
type Env struct {
	URL          string // http://127.0.0.1:port
	Addr         string
	Server       *api.Server
	Client       *client.Client
	Manager      *manager.Manager
	Engine       *oauth.Engine
	Callbacks    *callback.Registry
	Config       *config.Config
	ConfigFile   string
	StoreDir     string
	CallbackPort int
	AS           *oauthtest.Server
	Plain        []*mcptest.HTTPServer

	ownAS  bool
	tmp    string
	cancel context.CancelFunc
	served chan error
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// WriteConfig writes the config for opts' servers into dir and returns its path.
func WriteConfig(dir string, plain []string, secureURL string, secure int, callbackPort int, opts Options) (string, error) {
	servers := map[string]any{}
	for i, u := range plain {
		servers[fmt.Sprintf("plain%d", i)] = map[string]any{"type": "remote", "url": u, "oauth": false, "timeout": 5000}
	}
	for i := range secure {
		servers[fmt.Sprintf("secure%d", i)] = map[string]any{"type": "remote", "url": secureURL, "oauth": map[string]any{"callbackPort": callbackPort}, "timeout": 5000}
	}
	if len(opts.LocalCommand) > 0 {
		servers["local"] = map[string]any{"type": "local", "command": opts.LocalCommand, "environment": opts.LocalEnv, "timeout": 10000}
	}
	if opts.Disabled {
		u := "http://127.0.0.1:9/mcp"
		if len(plain) > 0 {
			u = plain[0]
		}
		servers["off"] = map[string]any{"type": "remote", "url": u, "enabled": false}
		servers["nooauth"] = map[string]any{"type": "remote", "url": u, "oauth": false, "timeout": 5000}
	}
	data, err := json.MarshalIndent(map[string]any{"mcp": servers}, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "mcplink.json")
	return path, os.WriteFile(path, data, 0o600)
}

// Start starts everything; Close stops it.
func Start(opts Options) (_ *Env, err error) {
	e := &Env{}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	e.tmp, err = os.MkdirTemp("", "mcplink-apitest-")
	if err != nil {
		return nil, err
	}
	var plainURLs []string
	for range opts.Plain {
		s, err := mcptest.StartHTTP(mcptest.HTTPOptions{})
		if err != nil {
			return nil, err
		}
		e.Plain = append(e.Plain, s)
		plainURLs = append(plainURLs, s.URL)
	}
	secureURL := ""
	if opts.Secure > 0 {
		e.AS = opts.AS
		if e.AS == nil {
			e.AS, err = oauthtest.Start(oauthtest.Options{ConsentPage: opts.ConsentPage, DeviceFlow: opts.DeviceFlow})
			if err != nil {
				return nil, err
			}
			e.ownAS = true
		}
		secureURL = e.AS.MCPURL
	}
	e.CallbackPort = opts.CallbackPort
	if e.CallbackPort == 0 {
		if e.CallbackPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	e.ConfigFile, err = WriteConfig(e.tmp, plainURLs, secureURL, opts.Secure, e.CallbackPort, opts)
	if err != nil {
		return nil, err
	}
	e.Config, err = config.Load(config.LoadOptions{File: e.ConfigFile, WorkDir: e.tmp, ConfigHome: e.tmp, HomeDir: e.tmp,
		Getenv: func(string) (string, bool) { return "", false }})
	if err != nil {
		return nil, err
	}
	e.StoreDir = opts.StoreDir
	if e.StoreDir == "" {
		e.StoreDir = filepath.Join(e.tmp, "data")
	}
	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: e.StoreDir})
	if err != nil {
		return nil, err
	}
	events := api.NewEvents()
	e.Callbacks = callback.New(callback.Options{})
	eo := oauth.Options{Store: store, Callbacks: e.Callbacks, Notify: events.Notify, FlowTimeout: opts.FlowTTL}
	if opts.UnbrakedClock {
		var ticks atomic.Int64
		eo.Now = func() time.Time { return time.Now().Add(time.Duration(ticks.Add(1)) * time.Minute) }
	}
	e.Engine = oauth.New(eo)
	e.Manager = manager.New(e.Config, manager.Options{OAuth: e.Engine})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.Addr = ln.Addr().String()
	e.URL = "http://" + e.Addr
	var add *api.AddOptions
	if opts.Add {
		add = &api.AddOptions{
			Target:  func() (string, []config.EditOption, error) { return e.ConfigFile, nil, nil },
			HomeDir: e.tmp,
			Getenv:  func(string) (string, bool) { return "", false },
		}
	}
	e.Server, err = api.New(api.Options{
		Addr: e.Addr, Token: opts.Token, Config: e.Config, Manager: e.Manager, Engine: e.Engine,
		Callbacks: e.Callbacks, Events: events, OpenURL: opts.OpenURL, FlowTTL: opts.FlowTTL, MaxPendingPerServer: opts.MaxPending,
		Add: add,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.served = make(chan error, 1)
	go func() { e.served <- e.Server.Serve(ctx, ln) }()
	e.Client = client.New(e.URL, client.Options{Token: opts.Token})
	if !opts.NoConnect {
		cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
		e.Manager.ConnectAll(cctx)
		ccancel()
	}
	return e, nil
}

// Close stops the API server, the manager, the callback registry and the backends.
func (e *Env) Close() error {
	var errs []error
	if e.cancel != nil {
		e.cancel()
		select {
		case err := <-e.served:
			errs = append(errs, err)
		case <-time.After(10 * time.Second):
			errs = append(errs, errors.New("apitest: the API server did not stop within 10s"))
		}
	}
	if e.Manager != nil {
		e.Manager.Close()
	}
	if e.Callbacks != nil {
		e.Callbacks.Close()
	}
	for _, s := range e.Plain {
		s.Close()
	}
	if e.AS != nil && e.ownAS {
		errs = append(errs, e.AS.Close())
	}
	if e.tmp != "" {
		errs = append(errs, os.RemoveAll(e.tmp))
	}
	return errors.Join(errs...)
}
