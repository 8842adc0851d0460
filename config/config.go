// Package config loads, merges, validates and edits mcplink's JSONC configuration.
//
// The format is opencode-compatible: a top-level "mcp" object maps server names to
// entries. Other top-level keys are ignored, so an opencode.json works unchanged;
// a file without "mcp" defines no servers. Comments and trailing commas (JWCC, via
// github.com/tailscale/hujson) are allowed.
//
//	{
//	  "mcp": {
//	    // a local server: a subprocess speaking MCP over stdio
//	    "files": {"type": "local", "command": ["npx", "-y", "some-server"],
//	              "environment": {"TOKEN": "{env:FILES_TOKEN}"}, "cwd": "tools",
//	              "envFile": ".env"},
//	    // a remote server: Streamable HTTP (SSE fallback), OAuth when needed
//	    "jira": {"type": "remote", "url": "https://jira.example.com/mcp",
//	             "headers": {"X-Team": "core"}, "oauth": {"clientId": "abc"},
//	             "timeout": 10000},
//	    "noisy": {"enabled": false}, // switch off an entry inherited from the global file
//	  },
//	}
//
// # Files
//
// Load merges opencode's files (when LoadOptions.Opencode is set; see
// OpencodeOptions for which, in opencode's order), the global file
// ($XDG_CONFIG_HOME/mcplink/mcplink.json or .jsonc; see GlobalFile) and the
// nearest project file found from the working directory upwards (see
// ProjectFile), later files winning by server name. A project entry replaces the global entry of the
// same name as a whole; an entry holding only "enabled" toggles the inherited
// entry and keeps its settings. An explicit file (LoadOptions.File) is used
// alone. Relative "cwd" and "envFile" values resolve against the directory
// of the file that defines them.
//
// A project file is used only once the user trusted its exact content (see
// TrustStore and LoadOptions.Trust); until then its servers are placeholders
// with Entry.Untrusted set, and nothing in it is substituted.
//
// # Substitution
//
// Every string value (command arguments, environment and header values, cwd, envFile, url,
// oauth fields) may contain {env:VAR} (an environment variable, which must be set)
// and {file:path} (a file's content with surrounding whitespace trimmed; relative
// paths are relative to the config file's directory and "~/" is the home
// directory). Failures are reported only for entries that end up enabled.
//
// # Errors
//
// Every problem is reported as an *Error that prints as "file:line:col: message"
// and wraps ErrInvalid; Load reports all problems at once (an ErrorList, one per
// line) rather than stopping at the first. Error messages never contain values
// that came from a substitution.
//
// # Edits
//
// AddEntry, RemoveEntry and SetEnabled change one entry while keeping the rest of
// the file — comments, formatting, unrelated keys — byte for byte, and replace
// the file atomically (temporary file, fsync, rename) keeping its mode.
package config

import (
	"time"

	"github.com/mcplink/mcplink/limit"
)

// Entry types.
const (
	TypeLocal  = "local"
	TypeRemote = "remote"
)

// DefaultTimeout is the per-server connect timeout when an entry sets none.
const DefaultTimeout = 30 * time.Second

// Config is the merged result of every file that was loaded.
type Config struct {
	// Servers maps a server name to its merged entry. Disabled entries are
	// included (with Enabled false) so surfaces can show them.
	Servers map[string]*Entry
	// Files lists the files that were read, lowest precedence first.
	Files []string
	// Sources describes each file in Files: its kind, whether it is a
	// trusted project file, and the servers it defines.
	Sources []Source
	// Warnings are problems that did not stop the load: unknown fields in
	// opencode's files, which are ignored (opencode's schema grows on its
	// own schedule; a typo in mcplink's own files is an error).
	Warnings ErrorList
}

// Position is a place in a config file, 1-based.
type Position struct {
	File string // the config file's path
	Line int    // 1-based; 0 when the problem is the file as a whole
	Col  int    // 1-based, in bytes
}

// Entry is one MCP server entry after substitution and merging.
type Entry struct {
	Name    string // the key under "mcp"; credentials are stored under it
	Type    string // TypeLocal or TypeRemote
	Enabled bool   // false: listed, never connected
	// Timeout is the connect timeout; zero means DefaultTimeout.
	Timeout time.Duration
	// MaxMessageSize bounds one message read from the server (a JSON body,
	// one SSE event, one stdio line), in bytes; zero means
	// limit.DefaultMessageSize. See EffectiveMaxMessageSize.
	MaxMessageSize int64

	// Local servers: the command line, and the variables set on top of
	// mcplink's environment.
	Command     []string
	Environment map[string]string
	Cwd         string // after load: relative paths resolved against the config file's directory ("~/" expanded)
	// EnvFile is a file of KEY=VALUE lines (VS Code's dotenv rules, see
	// internal/envfile) whose variables the server gets under
	// Environment, which wins. Resolved like Cwd; read by the manager each
	// time the server starts, never at load, so its values are never part
	// of the config (and a changed file applies on the next start).
	EnvFile string

	// Remote servers: the MCP endpoint, and headers sent on every request to
	// its origin (never to another; see oauth.Transport).
	URL     string
	Headers map[string]string
	// OAuth holds the "oauth" object. It is non-nil for every remote entry unless
	// OAuthDisabled is set (an absent "oauth" key yields a zero OAuth).
	OAuth *OAuth
	// OAuthDisabled is true for `"oauth": false`.
	OAuthDisabled bool

	// Source is the file the entry (its highest-precedence definition) came from,
	// and Pos the position of its key there. For an entry switched on or off by
	// a bare {"enabled": ...} override, that is the override; the settings
	// then come from the lower-precedence file.
	Source string
	Pos    Position

	// Untrusted is set on a placeholder for a server defined in a project
	// file the user has not trusted (see TrustStore): only Name, Enabled,
	// Source, Pos and Untrusted are set — Type is empty and nothing else was
	// read from the file, so no code path can run or contact it. Surfaces
	// show it with its error, which names the fix.
	Untrusted *UntrustedError
}

// OAuth is the "oauth" object of a remote entry.
type OAuth struct {
	// ClientID and ClientSecret are a pre-registered client; empty: a
	// client metadata document or dynamic registration.
	ClientID     string `json:"clientId,omitempty"`
	ClientSecret string `json:"clientSecret,omitempty"`
	// Scope is the space-separated scopes to request; empty: from the
	// server's metadata and challenges.
	Scope string `json:"scope,omitempty"`
	// CallbackPort is the loopback redirect's port (default 19876), or
	// RedirectURI the whole redirect URI (a loopback http URL).
	CallbackPort int    `json:"callbackPort,omitempty"`
	RedirectURI  string `json:"redirectUri,omitempty"`
	// ClientMetadataURL is the https URL of a client ID metadata document
	// to use as the client ID where the authorization server supports them.
	ClientMetadataURL string `json:"clientMetadataUrl,omitempty"`
	// CallbackHost is the address the callback listener binds to (an IP
	// literal or "localhost"), for WSL, containers and forwarded ports; the
	// redirect URI keeps its loopback host. Empty: the redirect URI's host.
	CallbackHost string `json:"callbackHost,omitempty"`
	// Resource overrides the RFC 8707 resource indicator sent to the
	// authorization server ("oauth.resource": "..."); empty: discovered.
	Resource string `json:"resource,omitempty"`
	// OmitResource is "oauth.resource": false: send no resource indicator
	// (for providers such as Microsoft Entra that reject it).
	OmitResource bool `json:"-"`

	// Grant is how tokens are obtained: GrantAuthorizationCode (default),
	// GrantClientCredentials or GrantJWTBearer; see EffectiveGrant.
	Grant string `json:"grant,omitempty"`
	// PrivateKeyFile is a PEM private key (EC P-256/384/521 or RSA) that
	// authenticates the client with private_key_jwt instead of a secret;
	// PrivateKeyID is its "kid", when the authorization server needs one.
	PrivateKeyFile string `json:"privateKeyFile,omitempty"`
	PrivateKeyID   string `json:"privateKeyId,omitempty"`
	// AssertionFile (re-read on every token request) or AssertionCommand
	// (stdout) supply the JWT of the jwt_bearer grant, e.g. a Kubernetes
	// projected service account token or a CI OIDC token.
	AssertionFile    string   `json:"assertionFile,omitempty"`
	AssertionCommand []string `json:"assertionCommand,omitempty"`
	// DPoP forces (true) or disables (false) DPoP-bound tokens (RFC 9449);
	// nil: used when the authorization server advertises DPoP support.
	DPoP *bool `json:"dpop,omitempty"`
	// IdP enables enterprise-managed authorization (ID-JAG).
	IdP *IdP `json:"idp,omitempty"`
}

// EffectiveMaxMessageSize returns the entry's message size bound or
// limit.DefaultMessageSize.
func (e *Entry) EffectiveMaxMessageSize() int64 {
	if e.MaxMessageSize > 0 {
		return e.MaxMessageSize
	}
	return limit.DefaultMessageSize
}

// EffectiveTimeout returns the entry's timeout or DefaultTimeout.
func (e *Entry) EffectiveTimeout() time.Duration {
	if e.Timeout > 0 {
		return e.Timeout
	}
	return DefaultTimeout
}
