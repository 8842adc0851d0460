// Package manager connects to configured MCP servers and tracks each one's
// status: connected, disabled, failed, needs_auth or needs_client_registration.
// Every surface (CLI, HTTP API, TUI, proxy) drives servers through it.
package manager

import (
	"github.com/modelcontextprotocol/go-sdk/auth"

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
)

// OAuthProvider supplies the OAuth handler for a remote entry whose oauth is
// not false. The handler's Authorize must not start an interactive flow unless
// the caller asked for one; it returns an error wrapping oauth.ErrNeedsAuth (or
// *oauth.ClientRegistrationError) instead.
type OAuthProvider interface {
	Handler(entry *config.Entry) (auth.OAuthHandler, error)
}
