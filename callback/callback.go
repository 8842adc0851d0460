// Package callback runs the loopback OAuth redirect listener and the registry
// of pending authorization flows.
//
// A listener is started by the first pending flow on its address and closed as
// soon as the last pending flow on it ends. Binding is atomic: a busy port is
// reported at once, before any browser opens.
package callback

import (
	"context"
	"errors"
	"fmt"
	"net/url"
)

// DefaultPort and DefaultPath make up the default redirect URI
// http://127.0.0.1:19876/mcp/oauth/callback.
const (
	DefaultPort = 19876
	DefaultPath = "/mcp/oauth/callback"
)

// ErrUnknownState is returned by Deliver for a state that matches no pending flow.
var ErrUnknownState = errors.New("unknown or already finished authorization request")

// Request describes one pending flow.
type Request struct {
	// RedirectURI is the full redirect URI; its host must be loopback.
	RedirectURI string
	// State is the flow's OAuth state value.
	State string
	// Server and ConfigFile name the config entry, for pages and error messages.
	Server     string
	ConfigFile string
	// Notify, when set, receives visible progress messages (for example while
	// waiting for another mcplink process to free the port).
	Notify func(msg string)
}

// Options configures a Registry.
type Options struct{}

// Registry owns the listeners and the pending flows of one process.
type Registry struct{}

// New returns an empty registry; no listener runs until Begin.
func New(opts Options) *Registry { return &Registry{} }

// Flow is one pending authorization flow.
type Flow struct{}

// Begin registers a pending flow, starting the listener for its redirect URI
// if needed. A port held by another process yields *PortInUseError at once;
// one held by another mcplink process is waited for until ctx ends.
func (r *Registry) Begin(ctx context.Context, req Request) (*Flow, error) {
	return nil, errors.New("callback: not implemented")
}

// Deliver completes the pending flow with the given state using params (the
// redirect's query parameters), as from a pasted redirect URL or an API call.
func (r *Registry) Deliver(state string, params url.Values) error {
	return ErrUnknownState
}

// Close ends every pending flow and stops every listener.
func (r *Registry) Close() error { return nil }

// Wait returns the redirect's query parameters (code, state, iss, ...).
// An error= redirect yields *AuthorizationError.
func (f *Flow) Wait(ctx context.Context) (url.Values, error) {
	return nil, errors.New("callback: not implemented")
}

// Close ends the flow; it is idempotent. The listener stops once no flow is pending.
func (f *Flow) Close() {}

// PortInUseError reports a callback port that another process holds.
type PortInUseError struct {
	Port       int
	Addr       string
	Server     string
	ConfigFile string
	// OtherMcplink is true when the holder answered our probe.
	OtherMcplink bool
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("OAuth callback port %d is already in use by another process. Set \"oauth.callbackPort\" (or \"oauth.redirectUri\") on the MCP server entry %q in %s to use a different port.", e.Port, e.Server, e.ConfigFile)
}

// AuthorizationError is an error= redirect from the authorization server.
type AuthorizationError struct {
	Code        string
	Description string
	URI         string
}

func (e *AuthorizationError) Error() string {
	if e.Description != "" {
		return fmt.Sprintf("authorization server returned %s: %s", e.Code, e.Description)
	}
	return "authorization server returned " + e.Code
}
