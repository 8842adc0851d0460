package tui

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

// Backend is everything the dashboard needs from the rest of mcplink. Every
// method except States and Events may do network or disk work; the model only
// calls them from tea.Cmds, never from Update or View.
type Backend interface {
	// States returns every configured server's state, sorted by name.
	States() []manager.State
	// Events delivers live state changes. It is closed when the backend closes.
	Events() <-chan manager.Event
	// Connect (re)connects one server and returns its resulting state.
	Connect(ctx context.Context, name string) (manager.State, error)
	// AuthStatus reports the stored OAuth state of a server; ok is false for
	// servers that do not use OAuth (local servers, "oauth": false).
	AuthStatus(ctx context.Context, name string) (st oauth.AuthStatus, ok bool, err error)
	// BeginAuth starts an interactive sign-in (and opens the browser when it
	// can). The flow must be closed.
	BeginAuth(ctx context.Context, name string) (AuthFlow, error)
	// BeginDeviceAuth starts a sign-in with the device authorization grant
	// (RFC 8628), for machines no browser redirect can reach. It returns
	// once the authorization server issued the device code (or failed); the
	// returned flow is a DeviceFlow and must be closed.
	BeginDeviceAuth(ctx context.Context, name string) (AuthFlow, error)
	// Logout revokes the server's stored tokens at the authorization server
	// (when it offers revocation) and deletes them locally; the client
	// registration is kept, so signing in again reuses it. The result says
	// what became of the revocation (a failed one is in the result, not the
	// error); the error is only about the local deletion.
	Logout(ctx context.Context, name string) (*oauth.LogoutResult, error)
	// SetEnabled writes "enabled" for the server into its config file (keeping
	// comments) and applies it: the server is replaced by the entry read back
	// from the configuration, its old connection (a local server's process
	// group included) ended first; an enabled server is then connected
	// (bounded by ctx and the entry's timeout). It returns the server's state
	// afterwards.
	SetEnabled(ctx context.Context, name string, enabled bool) (manager.State, error)
}

// AuthFlow is one interactive sign-in waiting for the browser redirect.
type AuthFlow interface {
	// URL is the authorization URL the user must open.
	URL() string
	// BrowserError is why the browser could not be opened: nil if it was,
	// if there is no browser to open, or while it is still being opened
	// (the browser opens concurrently; see BrowserDone).
	BrowserError() error
	// BrowserDone is closed once opening the browser ended (at once when no
	// browser is opened); BrowserError is final then.
	BrowserDone() <-chan struct{}
	// Wait blocks until the redirect arrived and tokens were stored, or ctx ends.
	Wait(ctx context.Context) error
	// Close abandons the flow and frees its callback port. It is idempotent.
	Close()
	// ListenError is why no callback listener runs for the flow (typically
	// a *callback.PortInUseError), or nil when one does. Without a listener
	// the flow completes only through Paste.
	ListenError() error
	// Paste completes the flow with what the user pasted: the URL the browser
	// was redirected to (or its query), or just the authorization code. The
	// state and iss are checked as for a real redirect; on an error the flow
	// stays pending so the user can paste again. It does no network work.
	Paste(input string) error
}

// DeviceFlow is an AuthFlow of the device authorization grant: the user
// opens URL (the verification URI, the one carrying the code when the AS
// offers it) on any device and enters the code. It has no callback listener
// and takes no paste.
type DeviceFlow interface {
	AuthFlow
	// DeviceCode is the code the authorization server issued.
	DeviceCode() oauth.DeviceCode
}

// Errors returned by ManagerBackend.
var (
	// ErrDevicePaste is what DeviceFlow.Paste returns.
	ErrDevicePaste = errors.New("a device sign-in takes no pasted redirect; enter the code on the verification page instead (or press a for the browser sign-in)")
	// ErrNoOAuth means the server does not use OAuth.
	ErrNoOAuth = errors.New("server does not use OAuth")
	// ErrBackendClosed means the backend was closed.
	ErrBackendClosed = errors.New("backend is closed")
)

// BackendOptions configures a ManagerBackend.
type BackendOptions struct {
	// Config is the loaded configuration. Required.
	Config *config.Config
	// NewManager builds the manager of the configuration: one for every
	// server, called once. Required.
	NewManager func(cfg *config.Config) *manager.Manager
	// Engine runs OAuth. Required.
	Engine *oauth.Engine
	// Reload loads the configuration again after an edit. Required for SetEnabled.
	Reload func() (*config.Config, error)
	// OpenURL opens a URL in a browser; nil when none can be opened. It may
	// block (a $BROWSER that returns when closed): BeginAuth runs it
	// concurrently, and closing the flow cancels ctx, on which it must
	// return.
	OpenURL func(ctx context.Context, url string) error
	// EditOptions returns the options for editing a config file (such as
	// config.KeepTrusted, so a trusted project file stays trusted); nil: none.
	EditOptions func(file string) []config.EditOption
	// EditFile returns the file the enable toggle writes for entry; nil: the
	// file the entry came from. mcplink's CLI points entries from opencode's
	// files at mcplink's global file (a bare {"enabled": …} override there),
	// so opencode's files are never edited.
	EditFile func(entry *config.Entry) string
}

// ManagerBackend is the real Backend: one manager.Manager for every server
// (enabling or disabling one replaces it there with manager.Add, touching no
// other), an OAuth engine, and config edits through config.SetEnabled.
type ManagerBackend struct {
	opts   BackendOptions
	events chan manager.Event
	m      *manager.Manager
	fwd    chan struct{} // closed when the event forwarder returned

	mu     sync.Mutex
	closed bool
}

// NewBackend returns a ManagerBackend for opts.Config. It connects nothing.
func NewBackend(opts BackendOptions) (*ManagerBackend, error) {
	if opts.Config == nil || opts.NewManager == nil || opts.Engine == nil {
		return nil, errors.New("tui: NewBackend needs Config, NewManager and Engine")
	}
	m := opts.NewManager(opts.Config)
	if m == nil {
		return nil, errors.New("tui: BackendOptions.NewManager returned no manager")
	}
	b := &ManagerBackend{
		opts:   opts,
		events: make(chan manager.Event, 64),
		m:      m,
		fwd:    make(chan struct{}),
	}
	// The one subscription, forwarded to Events. Its channel is closed by
	// m.Close (in Close), which ends the forwarder.
	ch, _ := m.Subscribe(32)
	go func() {
		defer close(b.fwd)
		for ev := range ch {
			b.forward(ev)
		}
	}()
	return b, nil
}

// forward delivers ev without blocking forever: when the consumer lags, the
// oldest queued event is dropped (States always has the full picture).
func (b *ManagerBackend) forward(ev manager.Event) {
	for range 2 {
		select {
		case b.events <- ev:
			return
		default:
		}
		select {
		case <-b.events:
		default:
		}
	}
}

// lookup returns the entry server name runs with: the configured one, or
// the one SetEnabled read back.
func (b *ManagerBackend) lookup(name string) (*config.Entry, error) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return nil, ErrBackendClosed
	}
	e, ok := b.m.Entry(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", manager.ErrUnknownServer, name)
	}
	return e, nil
}

// States implements Backend.
func (b *ManagerBackend) States() []manager.State { return b.m.States() }

// Events implements Backend.
func (b *ManagerBackend) Events() <-chan manager.Event { return b.events }

// Connect implements Backend.
func (b *ManagerBackend) Connect(ctx context.Context, name string) (manager.State, error) {
	if _, err := b.lookup(name); err != nil {
		return manager.State{}, err
	}
	return b.m.Connect(ctx, name)
}

func usesOAuth(e *config.Entry) bool {
	return e.Type == config.TypeRemote && !e.OAuthDisabled
}

// AuthStatus implements Backend.
func (b *ManagerBackend) AuthStatus(ctx context.Context, name string) (oauth.AuthStatus, bool, error) {
	e, err := b.lookup(name)
	if err != nil {
		return oauth.AuthStatus{}, false, err
	}
	if !usesOAuth(e) || !e.Enabled {
		// A disabled server shows no auth state, as in `mcplink list`.
		return oauth.AuthStatus{}, false, nil
	}
	st, err := b.opts.Engine.Status(ctx, e)
	return st, err == nil, err
}

// oauthEntry returns the entry of a server that uses OAuth.
func (b *ManagerBackend) oauthEntry(name string) (*config.Entry, error) {
	e, err := b.lookup(name)
	if err != nil {
		return nil, err
	}
	if e.Untrusted != nil {
		return nil, untrusted(name, e)
	}
	if !usesOAuth(e) {
		if e.Type != config.TypeRemote {
			return nil, fmt.Errorf("%q is a local server; OAuth is only for remote servers: %w", name, ErrNoOAuth)
		}
		return nil, fmt.Errorf("%q has \"oauth\": false in %s; remove it to use OAuth: %w", name, e.Source, ErrNoOAuth)
	}
	return e, nil
}

// BeginAuth implements Backend.
func (b *ManagerBackend) BeginAuth(ctx context.Context, name string) (AuthFlow, error) {
	e, err := b.oauthEntry(name)
	if err != nil {
		return nil, err
	}
	// A callback port held by another program does not stop the sign-in: the
	// flow goes on without a listener and completes through Paste.
	p, err := b.opts.Engine.BeginWith(ctx, e, oauth.BeginOptions{ListenFallback: true})
	if err != nil {
		return nil, err
	}
	f := &engineFlow{p: p, opened: make(chan struct{})}
	if b.opts.OpenURL == nil {
		close(f.opened)
		return f, nil
	}
	// The browser opens while the flow is shown: an opener that returns
	// only when the browser closes (cli/browser waits for its launcher; a
	// $BROWSER like lynx runs until quit) must not keep the URL and the
	// paste input from the user. The goroutine is the flow's: Close
	// cancels it and waits for it.
	octx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.stopOpen = cancel
	open := b.opts.OpenURL
	go func() {
		defer close(f.opened)
		if err := open(octx, p.AuthorizationURL); err != nil && octx.Err() == nil {
			f.openErr = err
		}
	}()
	return f, nil
}

// openerWait bounds how long closing a flow waits for its browser opener to
// return after cancelling it (an opener that ignores its context is left
// to end by itself).
const openerWait = 2 * time.Second

// engineFlow is the AuthFlow of ManagerBackend: an oauth.Pending and the
// goroutine opening the browser.
type engineFlow struct {
	p        *oauth.Pending
	stopOpen context.CancelFunc // cancels the opener; nil without one
	opened   chan struct{}      // closed when the opener returned
	openErr  error              // set before opened is closed
	once     sync.Once
}

func (f *engineFlow) URL() string                  { return f.p.AuthorizationURL }
func (f *engineFlow) BrowserDone() <-chan struct{} { return f.opened }
func (f *engineFlow) ListenError() error           { return f.p.ListenError() }
func (f *engineFlow) Paste(input string) error     { return f.p.Paste(input) }

func (f *engineFlow) BrowserError() error {
	select {
	case <-f.opened:
		return f.openErr
	default:
		return nil
	}
}

func (f *engineFlow) Close() {
	f.once.Do(func() {
		f.p.Close()
		if f.stopOpen == nil {
			return
		}
		f.stopOpen()
		t := time.NewTimer(openerWait)
		defer t.Stop()
		select {
		case <-f.opened:
		case <-t.C:
		}
	})
}

func (f *engineFlow) Wait(ctx context.Context) error {
	_, err := f.p.Wait(ctx)
	return err
}

// BeginDeviceAuth implements Backend. The grant runs in a goroutine owned by
// the returned flow: ctx bounds only the wait for the device code; after
// that the flow lives until it completes or is closed (and the engine's
// flow timeout and the code's expiry bound it).
func (b *ManagerBackend) BeginDeviceAuth(ctx context.Context, name string) (AuthFlow, error) {
	e, err := b.oauthEntry(name)
	if err != nil {
		return nil, err
	}
	codes := make(chan oauth.DeviceCode, 1)
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &deviceFlow{cancel: cancel, done: make(chan struct{}), noBrowser: make(chan struct{})}
	close(f.noBrowser)
	eng := b.opts.Engine
	go func() {
		defer close(f.done)
		_, f.err = eng.AuthenticateWith(fctx, e, oauth.AuthOptions{Device: true, OnDeviceCode: func(c oauth.DeviceCode) {
			select {
			case codes <- c:
			default:
			}
		}})
	}()
	select {
	case c := <-codes:
		f.code = c
		return f, nil
	case <-f.done:
		select {
		case c := <-codes:
			f.code = c
			return f, nil // already finished; Wait reports how
		default:
		}
		cancel()
		if f.err != nil {
			return nil, f.err
		}
		return f, nil // signed in without a device code (a machine grant)
	case <-ctx.Done():
		f.Close()
		return nil, ctx.Err()
	}
}

// deviceFlow is the DeviceFlow of ManagerBackend: one goroutine running
// Engine.AuthenticateWith, which Close cancels and waits for.
type deviceFlow struct {
	code   oauth.DeviceCode
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done is closed
	once   sync.Once
	// noBrowser is closed: a device sign-in opens no browser (BrowserDone).
	noBrowser chan struct{}
}

func (f *deviceFlow) DeviceCode() oauth.DeviceCode { return f.code }
func (f *deviceFlow) BrowserError() error          { return nil }
func (f *deviceFlow) BrowserDone() <-chan struct{} { return f.noBrowser }
func (f *deviceFlow) ListenError() error           { return nil }
func (f *deviceFlow) Paste(string) error           { return ErrDevicePaste }

func (f *deviceFlow) URL() string {
	if f.code.VerificationURIComplete != "" {
		return f.code.VerificationURIComplete
	}
	return f.code.VerificationURI
}

func (f *deviceFlow) Wait(ctx context.Context) error {
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *deviceFlow) Close() {
	f.once.Do(func() {
		f.cancel()
		<-f.done
	})
}

// Logout implements Backend. The entry is passed along so that a
// pre-registered client's credentials authenticate the revocation.
func (b *ManagerBackend) Logout(ctx context.Context, name string) (*oauth.LogoutResult, error) {
	e, err := b.lookup(name)
	if err != nil {
		return nil, err
	}
	if !usesOAuth(e) {
		return nil, fmt.Errorf("%q stores no OAuth credentials: %w", name, ErrNoOAuth)
	}
	if e.Untrusted != nil {
		e = nil // an untrusted project file's client settings are not used
	}
	return b.opts.Engine.LogoutServer(ctx, name, oauth.LogoutOptions{Entry: e})
}

// SetEnabled implements Backend. The entry is edited in the file it came
// from (or the one EditFile names); the configuration is then reloaded and
// the server replaced with its new entry (manager.Add), which ends the old
// connection and process group before an enabled server connects again.
func (b *ManagerBackend) SetEnabled(ctx context.Context, name string, enabled bool) (manager.State, error) {
	e, err := b.lookup(name)
	if err != nil {
		return manager.State{}, err
	}
	if b.opts.Reload == nil {
		return manager.State{}, errors.New("tui: enabling servers needs BackendOptions.Reload")
	}
	if e.Untrusted != nil {
		return manager.State{}, untrusted(name, e)
	}
	file := e.Source
	if b.opts.EditFile != nil {
		file = b.opts.EditFile(e)
	}
	if file == "" {
		return manager.State{}, fmt.Errorf("server %q has no config file to edit", name)
	}
	var editOpts []config.EditOption
	if b.opts.EditOptions != nil {
		editOpts = b.opts.EditOptions(file)
	}
	if err := config.SetEnabled(file, name, enabled, editOpts...); err != nil {
		return manager.State{}, fmt.Errorf("editing %s: %w", file, err)
	}
	cfg, err := b.opts.Reload()
	if err != nil {
		return manager.State{}, fmt.Errorf("reloading the config after editing %s: %w", file, err)
	}
	ne, ok := cfg.Servers[name]
	if !ok || ne == nil {
		return manager.State{}, fmt.Errorf("server %q vanished from the config after editing %s", name, file)
	}
	st, err := b.m.Add(ctx, name, ne)
	if errors.Is(err, manager.ErrClosed) {
		return manager.State{}, ErrBackendClosed
	}
	if err != nil {
		return manager.State{}, err
	}
	if enabled && !ne.Enabled {
		return st, fmt.Errorf("%q is still disabled: a higher-precedence config file sets \"enabled\": false", name)
	}
	return st, nil
}

// Close closes the manager (stopping local servers' processes), waits for
// the event forwarder and closes the Events channel.
func (b *ManagerBackend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	_ = b.m.Close() // closes the subscription: the forwarder returns
	<-b.fwd
	close(b.events)
	return nil
}

// untrusted is the error for a server of an untrusted project file; it
// names the file and the fix (errors.Is(err, config.ErrUntrusted) holds).
func untrusted(name string, e *config.Entry) error {
	ue := *e.Untrusted
	ue.Server = name
	return &ue
}
