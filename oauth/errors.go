// Package oauth is mcplink's OAuth 2.1 flow engine for MCP servers: discovery
// (RFC 9728, RFC 8414, OpenID Connect), client identity (metadata documents,
// pre-registration, RFC 7591 registration, persisted), PKCE, RFC 8707 resource
// indicators, RFC 9207 issuer checks, step-up and refresh.
package oauth

import (
	"errors"
	"fmt"
)

// ErrNeedsAuth means the server requires a user authorization (no usable
// token, or the refresh token was rejected). Surfaces map it to needs_auth.
var ErrNeedsAuth = errors.New("authentication required")

// ClientRegistrationError means no OAuth client could be obtained for the
// server: no client metadata document support, no pre-registered client and no
// dynamic registration. Surfaces map it to needs_client_registration.
type ClientRegistrationError struct {
	Server     string // config entry name
	ConfigFile string
	Issuer     string
	Reason     string
}

func (e *ClientRegistrationError) Error() string {
	return fmt.Sprintf("authorization server %s does not support dynamic client registration (%s). Register a client with the provider and add it to the MCP server entry %q in %s:\n  \"oauth\": {\"clientId\": \"<client id>\", \"clientSecret\": \"<client secret, if any>\"}",
		e.Issuer, e.Reason, e.Server, e.ConfigFile)
}
