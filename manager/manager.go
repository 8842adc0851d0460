// Package manager connects to configured MCP servers and tracks each one's
// status: connected, disabled, failed, needs_auth, needs_client_registration or
// untrusted.
// The CLI, the HTTP API and the TUI drive servers through it; the proxy, which
// only forwards one client's messages to one server, does not.
package manager

import (
	"errors"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/config"
)

// Status is a server's connection status.
type Status string

// Statuses.
const (
	StatusConnected               Status = "connected"
	StatusDisabled                Status = "disabled"
	StatusFailed                  Status = "failed"
	StatusNeedsAuth               Status = "needs_auth"
	StatusNeedsClientRegistration Status = "needs_client_registration"
	// StatusConnecting is transient; it is reported in events, never as a final result.
	StatusConnecting Status = "connecting"
	// StatusDisconnected is the status of an enabled server that has not
	// been connected yet, or was disconnected with Disconnect.
	StatusDisconnected Status = "disconnected"
	// StatusUntrusted is the status of a server defined in a project file
	// the user has not trusted (config.Entry.Untrusted): it is never
	// started or contacted, and State.Error names the fix.
	StatusUntrusted Status = "untrusted"
)

// OAuthProvider supplies the OAuth handler for a remote entry whose oauth is
// not false. The handler's Authorize must not start an interactive flow unless
// the caller asked for one; it returns an error wrapping oauth.ErrNeedsAuth (or
// *oauth.ClientRegistrationError) instead.
type OAuthProvider interface {
	Handler(entry *config.Entry) (auth.OAuthHandler, error)
}

// Transports reported in State.Transport.
const (
	TransportStreamable = "streamable"
	TransportSSE        = "sse"
	TransportStdio      = "stdio"
)

// Errors returned by Manager methods (connection failures are reported in
// State, not as errors).
var (
	// ErrUnknownServer means no configured server has that name.
	ErrUnknownServer = errors.New("unknown server")
	// ErrDisabled means the server's entry has "enabled": false.
	ErrDisabled = errors.New("server is disabled")
	// ErrNotConnected means the server has no live session.
	ErrNotConnected = errors.New("server is not connected")
	// ErrClosed means the manager was closed.
	ErrClosed = errors.New("manager is closed")
)

// Options configures a Manager.
type Options struct {
	// Timeout, when > 0, overrides every entry's connect timeout.
	Timeout time.Duration
	// OAuth supplies OAuth handlers for remote entries; nil means no OAuth
	// (a 401 then yields needs_auth).
	OAuth OAuthProvider
	// HTTPClient is the base client for remote servers: its Transport (nil
	// means http.DefaultTransport), Jar and CheckRedirect are used, with the
	// Transport below an oauth.Transport per entry (the entry's headers,
	// token and DPoP proof for its origin only). Its Timeout is ignored
	// (event streams are long-lived; connects are bounded by the entry's
	// timeout).
	HTTPClient *http.Client
	// ClientInfo is the client name and version sent to servers; nil means
	// mcplink with version "dev".
	ClientInfo *mcp.Implementation
	// ProtocolVersion is the MCP protocol version offered to servers; empty
	// means DefaultProtocolVersion. A 2026-07-28 or later version makes the
	// SDK try server/discover first, which costs current servers an extra
	// round trip (and an extra 401) before it falls back to initialize.
	ProtocolVersion string
	// OneShot is for commands that connect, do one thing and exit (the
	// CLI's list, tools, call and auth): a remote Streamable HTTP server
	// gets no standalone GET stream, so server-initiated messages arrive
	// only on the answers to the manager's own requests, and closing sends
	// the session DELETE without waiting for its answer — Close returns
	// once the request is written, after one round trip at most (the
	// connection's fastest, capped at 2 s). Long-lived users (serve, the
	// TUI, the API) leave it false.
	OneShot bool
}

// DefaultProtocolVersion is the protocol version the manager offers: the
// latest released specification.
const DefaultProtocolVersion = "2025-11-25"

func (o Options) sessionOptions() *mcp.ClientSessionOptions {
	v := o.ProtocolVersion
	if v == "" {
		v = DefaultProtocolVersion
	}
	return &mcp.ClientSessionOptions{ProtocolVersion: v}
}

// State is a snapshot of one server. Tools are shared with the manager and
// must be treated as read-only.
type State struct {
	Name      string // the config entry's name
	Type      string // config.TypeLocal or config.TypeRemote
	Status    Status
	Error     string      // why the server is failed, needs_auth, needs_client_registration or untrusted
	Tools     []*mcp.Tool // its tools while connected
	URL       string      // remote servers
	Command   []string    // local servers
	Transport string      // TransportStreamable, TransportSSE or TransportStdio; empty while unknown
	// Err is the typed error behind Error when there is one, for surfaces
	// that word it themselves: *HeaderRefusedError (configured credentials
	// refused), *oauth.ClientRegistrationError, *oauth.NeedsAuthError
	// (every needs_auth state), *oauth.FreshTokenRefusedError and
	// *oauth.BrakeError (a loop brake stopped it), *limit.TooLargeError (a
	// message from a remote server crossed the entry's "maxMessageSize"), or
	// *CwdError (a local server's "cwd" is missing), *EnvFileError (its
	// "envFile" could not be read at start), *TimeoutError (no
	// answer within the connect's bound), or *config.UntrustedError (every
	// untrusted state). Nil otherwise.
	Err error
	// TaskSupport maps the name of each of Tools that declares
	// "execution.taskSupport" optional or required to that value; nil when
	// none does (go-sdk v1.8.0's mcp.Tool drops the member: the manager
	// reads it from the tools/list answers itself).
	TaskSupport map[string]TaskSupport
}

// EventKind says what an Event reports.
type EventKind string

// Event kinds.
const (
	// EventStatus reports a status change (including connecting).
	EventStatus EventKind = "status"
	// EventTools reports a refreshed tool list after tools/list_changed.
	EventTools EventKind = "tools"
)

// Event is a change to one server, with the server's state after the change.
type Event struct {
	Server string    // the server's name
	Kind   EventKind // what changed
	State  State     // the server's state after the change
}
