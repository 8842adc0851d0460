package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
)

// Defaults.
const (
	DefaultFlowTimeout = 5 * time.Minute
	// RefreshMargin: tokens are refreshed this long before they expire.
	RefreshMargin = 60 * time.Second
	// MaxAttemptsPerWindow authorization attempts per server per
	// AttemptWindow (doubled per consecutive trip; see MaxBrakeWindow).
	MaxAttemptsPerWindow = 5
	AttemptWindow        = 30 * time.Second
	// MaxStepUpAttempts is the number of authorization attempts one request may cause.
	MaxStepUpAttempts = 3
)

// Options configures an Engine.
type Options struct {
	// Store persists client registrations and tokens. Required.
	Store authstore.Store
	// Fallback, when set, is read for a server that Store has no entry
	// for — credentials another program stored, such as opencode's
	// mcp-auth.json. It is never written (see fallback.go).
	Fallback authstore.Reader
	// Callbacks receives authorization redirects. Required for interactive flows.
	Callbacks *callback.Registry
	// HTTPClient is used for every request; default a client with a 30 s timeout.
	HTTPClient *http.Client
	// OpenURL opens the authorization URL in a browser; nil means we cannot,
	// and the URL is only reported through Notify. It runs while the flow
	// waits for the redirect and must return soon after ctx is done.
	OpenURL func(ctx context.Context, url string) error
	// Notify receives progress messages for a server (never secrets).
	Notify func(server, msg string)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// FlowTimeout bounds waiting for the browser redirect; default 5 minutes.
	FlowTimeout time.Duration
	// RetryBackoff is the first delay between token-endpoint retries after
	// network errors, 5xx or temporarily_unavailable; default 200 ms, doubled
	// each time, at most 3 tries.
	RetryBackoff time.Duration
}

// Engine runs OAuth for MCP servers. It is safe for concurrent use.
type Engine struct {
	opts   Options
	client *http.Client

	mu      sync.Mutex
	servers map[string]*serverState
	meta    map[string]cachedMeta // issuer → AS metadata
	dpop    dpopState             // DPoP nonces and bound keys (dpop.go)

	deviceSlowDown time.Duration // tests: replaces DeviceSlowDown when > 0
}

type cachedMeta struct {
	meta    *asMeta
	fetched time.Time
}

// serverState is the in-process state of one server (config entry name).
type serverState struct {
	// refresh serialises token acquisition (one refresh at a time in-process).
	refresh sync.Mutex

	mu  sync.Mutex
	url string
	tok *authstore.Token

	gate  flowGate  // one interactive flow at a time (gate.go)
	guard loopGuard // loop brakes (loop.go)
}

// New returns an Engine.
func New(opts Options) *Engine {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FlowTimeout <= 0 {
		opts.FlowTimeout = DefaultFlowTimeout
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 200 * time.Millisecond
	}
	opts.Store = withFallback(opts.Store, opts.Fallback)
	return &Engine{
		opts:    opts,
		client:  withRedirectPolicy(opts.HTTPClient),
		servers: map[string]*serverState{},
		meta:    map[string]cachedMeta{},
	}
}

func (e *Engine) state(name string) *serverState {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.servers[name]
	if s == nil {
		s = &serverState{}
		e.servers[name] = s
	}
	return s
}

func (e *Engine) notify(server, msg string) {
	if e.opts.Notify != nil {
		e.opts.Notify(server, msg)
	}
}

// checkEntry validates that entry is a remote entry with OAuth enabled.
func checkEntry(entry *config.Entry) error {
	if entry == nil {
		return errors.New("oauth: nil config entry")
	}
	if entry.OAuthDisabled {
		return fmt.Errorf("MCP server %q has \"oauth\": false in %s", entry.Name, entry.Source)
	}
	if entry.URL == "" {
		return fmt.Errorf("MCP server %q has no URL; OAuth applies to remote servers only", entry.Name)
	}
	u, err := url.Parse(entry.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("MCP server %q: URL %q is not an absolute http(s) URL", entry.Name, entry.URL)
	}
	return nil
}

func oauthOf(entry *config.Entry) config.OAuth {
	if entry.OAuth == nil {
		return config.OAuth{}
	}
	return *entry.OAuth
}

// RedirectURI returns the redirect URI used for entry: oauth.redirectUri if
// set, else http://127.0.0.1:<callbackPort or 19876>/mcp/oauth/callback.
// An invalid setting is returned as is; flows report it (see redirectURI).
func RedirectURI(entry *config.Entry) string {
	u, err := redirectURI(entry)
	if err != nil {
		return oauthOf(entry).RedirectURI
	}
	return u
}

// redirectURI is RedirectURI with validation.
func redirectURI(entry *config.Entry) (string, error) {
	o := oauthOf(entry)
	u, err := callback.RedirectURI(o.CallbackPort, o.RedirectURI)
	if err != nil {
		return "", settingError(entry, err)
	}
	return u, nil
}

// settingError names, in err, the config field of entry that a
// *callback.SettingError's value came from: the callback package sees a
// port, a URI or a host; the engine made them from the entry's "oauth"
// object, so it knows which field to name.
func settingError(entry *config.Entry, err error) error {
	var se *callback.SettingError
	if !errors.As(err, &se) {
		return fmt.Errorf("MCP server %q in %s: %w", entry.Name, entry.Source, err)
	}
	se.Server, se.ConfigFile = entry.Name, entry.Source
	field := map[callback.Setting]string{callback.SettingPort: "callbackPort", callback.SettingRedirectURI: "redirectUri", callback.SettingHost: "callbackHost"}[se.Setting]
	return fmt.Errorf("MCP server %q in %s, \"oauth.%s\": %w", entry.Name, entry.Source, field, err)
}

// load returns the stored credentials for entry if they were obtained for
// its exact URL (the same-URL rule), else nil.
func (e *Engine) load(ctx context.Context, entry *config.Entry) (*authstore.Credentials, error) {
	c, err := e.opts.Store.Load(ctx, entry.Name)
	if errors.Is(err, authstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading credentials for %q: %w", entry.Name, err)
	}
	if !c.ForURL(entry.URL) {
		return nil, nil
	}
	return c, nil
}

// usable reports whether t can be sent now: not within the refresh margin of
// its expiry. The margin is RefreshMargin, or half the token's lifetime when
// that is shorter, so a token that lives 60 s or less is not refreshed before
// every request.
func (e *Engine) usable(t *authstore.Token) bool {
	if t == nil || t.AccessToken == "" {
		return false
	}
	return t.Expiry.IsZero() || e.opts.Now().Add(refreshMargin(t)).Before(t.Expiry)
}

func refreshMargin(t *authstore.Token) time.Duration {
	m := RefreshMargin
	if !t.IssuedAt.IsZero() {
		if half := t.Expiry.Sub(t.IssuedAt) / 2; half >= 0 && half < m {
			m = half
		}
	}
	return m
}

// AuthState is a server's authentication state.
type AuthState string

// Authentication states.
const (
	StateAuthenticated    AuthState = "authenticated"
	StateExpired          AuthState = "expired"
	StateNotAuthenticated AuthState = "not_authenticated"
)

// AuthStatus describes the stored credentials of one server.
type AuthStatus struct {
	State       AuthState
	Issuer      string    // the authorization server that issued the tokens
	Resource    string    // the RFC 8707 resource they were issued for
	ClientID    string    // the stored client registration's
	Expiry      time.Time // zero when unknown
	Scopes      []string  // granted
	Refreshable bool      // a refresh token is stored
	// RequiredScopes are scopes the server demanded that the token lacks
	// (Credentials.RequiredScopes): the next sign-in requests them.
	RequiredScopes []string
}

// Status reports entry's stored authentication state. Credentials stored for
// a different URL than entry.URL count as not authenticated.
func (e *Engine) Status(ctx context.Context, entry *config.Entry) (AuthStatus, error) {
	if err := checkEntry(entry); err != nil {
		return AuthStatus{}, err
	}
	c, err := e.load(ctx, entry)
	if err != nil {
		return AuthStatus{}, err
	}
	return e.status(c), nil
}

// Statuses is Status for several entries, reading the store once. Entries
// that are not remote OAuth entries are left out of the result.
func (e *Engine) Statuses(ctx context.Context, entries []*config.Entry) (map[string]AuthStatus, error) {
	all, err := e.opts.Store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading credentials: %w", err)
	}
	out := make(map[string]AuthStatus, len(entries))
	for _, entry := range entries {
		if checkEntry(entry) != nil {
			continue
		}
		c := all[entry.Name]
		if c != nil && !c.ForURL(entry.URL) {
			c = nil
		}
		out[entry.Name] = e.status(c)
	}
	return out, nil
}

// status describes stored credentials c (nil: none usable).
func (e *Engine) status(c *authstore.Credentials) AuthStatus {
	st := AuthStatus{State: StateNotAuthenticated}
	if c == nil {
		return st
	}
	st.Issuer, st.Resource, st.RequiredScopes = c.Issuer, c.Resource, c.RequiredScopes
	if c.Client != nil {
		st.ClientID = c.Client.ClientID
	}
	if c.Token == nil || c.Token.AccessToken == "" {
		return st
	}
	st.Expiry = c.Token.Expiry
	st.Scopes = strings.Fields(c.Token.Scope)
	st.Refreshable = c.Token.RefreshToken != ""
	if c.Token.Expiry.IsZero() || e.opts.Now().Before(c.Token.Expiry) {
		st.State = StateAuthenticated
	} else {
		st.State = StateExpired
	}
	return st
}
