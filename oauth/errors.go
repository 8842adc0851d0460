package oauth

import (
	"errors"
	"fmt"
)

// ErrNeedsAuth means the server requires a user authorization (no usable
// token, or the refresh token was rejected). Surfaces map it to needs_auth.
var ErrNeedsAuth = errors.New("authentication required")

// ClientRegistrationError means no OAuth client could be obtained for the
// server: no client metadata document support, no pre-registered client, and
// dynamic registration unavailable or failed. Surfaces map it to
// needs_client_registration.
type ClientRegistrationError struct {
	Server string // config entry name
	// ConfigFile is the file that defines the entry (Entry.Source); empty
	// for an entry built in code (Server).
	ConfigFile string
	// Issuer is the authorization server's issuer.
	Issuer string
	Reason string // why no client could be obtained, without secrets
	// Endpoint is the registration endpoint when a registration was
	// attempted; empty when the authorization server offers none.
	Endpoint string
	// Status is the HTTP status of the registration response (0: none), and
	// Code and Description its RFC 7591 error and error_description (or an
	// excerpt of a text answer), sanitized and size-bounded.
	Status      int
	Code        string
	Description string
}

// Problem says what went wrong, without the fix: that the server offers no
// registration, or what the registration endpoint answered.
func (e *ClientRegistrationError) Problem() string {
	if e.Endpoint == "" {
		return fmt.Sprintf("authorization server %s does not support dynamic client registration (%s)", e.Issuer, e.Reason)
	}
	s := fmt.Sprintf("client registration at %s failed: %s", e.Endpoint, e.Reason)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d", e.Status)
		switch {
		case e.Code != "" && e.Description != "":
			s += ": " + e.Code + ": " + e.Description
		case e.Code != "":
			s += ": " + e.Code
		case e.Description != "":
			s += ": " + e.Description
		}
		s += ")"
	}
	return s
}

// Error is Problem. The fix — a pre-registered client in the entry (Server,
// ConfigFile) — is the surface's to word (internal/fix).
func (e *ClientRegistrationError) Error() string { return e.Problem() }

// ErrTooManyAttempts is the loop brake: too many authorization attempts for
// one server in a short time.
var ErrTooManyAttempts = errors.New("too many authorization attempts")

// ErrNotProtected means the server did not ask for authorization and
// publishes no protected resource metadata, so there is nothing to sign in to.
var ErrNotProtected = errors.New("server does not require OAuth authorization")

// ErrInsufficientScope means the server kept answering 403 insufficient_scope
// after step-up authorization.
var ErrInsufficientScope = errors.New("insufficient scope")

// NeedsAuthError is returned by non-interactive paths when a user must sign
// in. It matches ErrNeedsAuth with errors.Is. How to sign in (a command, a
// button) is the surface's to word.
type NeedsAuthError struct {
	Server     string   // config entry name
	ConfigFile string   // the file that defines the entry; empty for one built in code
	Reason     string   // why, without any secret
	Scopes     []string // scopes a step-up would request, if known
}

func (e *NeedsAuthError) Error() string {
	return fmt.Sprintf("MCP server %q needs authorization (%s)", e.Server, e.Reason)
}

// Is makes errors.Is(err, ErrNeedsAuth) true.
func (e *NeedsAuthError) Is(target error) bool { return target == ErrNeedsAuth }

// MetadataMismatchError is discovery metadata that does not belong to what it
// was fetched for: authorization server metadata whose issuer differs from the
// issuer, or protected resource metadata whose resource is not the server.
type MetadataMismatchError struct {
	MetadataURL string // the metadata document that was refused
	Field       string // "issuer" or "resource"
	Got         string // the value the document holds
	Want        string // the expected issuer, or the MCP server URL
}

func (e *MetadataMismatchError) Error() string {
	if e.Field == "resource" {
		return fmt.Sprintf("protected resource metadata at %s names resource %q, which does not belong to the MCP server URL %q (refusing it)", e.MetadataURL, e.Got, e.Want)
	}
	return fmt.Sprintf("authorization server metadata at %s has issuer %q, want exactly %q (refusing it)", e.MetadataURL, e.Got, e.Want)
}

// IssuerResponseError is an RFC 9207 check failure on the authorization
// response: the iss parameter is missing (while advertised) or wrong.
type IssuerResponseError struct {
	Got  string // empty when missing
	Want string // the issuer of the authorization server the flow started at
}

func (e *IssuerResponseError) Error() string {
	if e.Got == "" {
		return fmt.Sprintf("authorization response lacks the iss parameter although issuer %q advertises it (RFC 9207); refusing the response", e.Want)
	}
	return fmt.Sprintf("authorization response came from issuer %q, want %q (RFC 9207 mix-up protection); refusing the response", e.Got, e.Want)
}

// EndpointKind names the authorization server endpoint an error came from.
type EndpointKind string

// Endpoint kinds of a TokenError.
const (
	EndpointToken               EndpointKind = "token"
	EndpointDeviceAuthorization EndpointKind = "device authorization" // RFC 8628 §3.1
	EndpointRevocation          EndpointKind = "revocation"           // RFC 7009
)

// TokenError is an error answer from a token endpoint (RFC 6749 §5.2), or
// from another endpoint that answers the same way (Kind), or an unusable
// response. It never contains tokens, codes or secrets.
type TokenError struct {
	Endpoint    string       // the endpoint's URL
	Kind        EndpointKind // which endpoint; empty means EndpointToken
	Status      int          // HTTP status; 0 for transport errors
	Code        string       // error, e.g. invalid_grant
	Description string       // error_description, sanitized
	Err         error        // transport or decoding error, if any
}

func (e *TokenError) Error() string {
	kind := e.Kind
	if kind == "" {
		kind = EndpointToken
	}
	switch {
	case e.Err != nil:
		return fmt.Sprintf("%s request to %s failed: %v", kind, e.Endpoint, e.Err)
	case e.Code != "" && e.Description != "":
		return fmt.Sprintf("%s endpoint %s returned %s: %s", kind, e.Endpoint, e.Code, e.Description)
	case e.Code != "":
		return fmt.Sprintf("%s endpoint %s returned %s", kind, e.Endpoint, e.Code)
	default:
		return fmt.Sprintf("%s endpoint %s answered HTTP %d", kind, e.Endpoint, e.Status)
	}
}

func (e *TokenError) Unwrap() error { return e.Err }

// temporary reports whether the request may succeed if retried: transport
// errors, 5xx and temporarily_unavailable.
func (e *TokenError) temporary() bool {
	if e.Code == "temporarily_unavailable" || e.Code == "server_error" {
		return true
	}
	if e.Code != "" {
		return false
	}
	return e.Err != nil || e.Status >= 500 || e.Status == 429
}
