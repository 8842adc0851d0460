// Package config loads, merges, validates and edits mcplink's JSONC configuration.
//
// The format is opencode-compatible: a top-level "mcp" object maps server names to
// entries. Other top-level keys are ignored, so an opencode.json works unchanged.
package config

import "time"

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
}

// Position is a place in a config file, 1-based.
type Position struct {
	File string
	Line int
	Col  int
}

// Entry is one MCP server entry after substitution and merging.
type Entry struct {
	Name    string
	Type    string // TypeLocal or TypeRemote
	Enabled bool
	// Timeout is the connect timeout; zero means DefaultTimeout.
	Timeout time.Duration

	// Local servers.
	Command     []string
	Environment map[string]string
	Cwd         string // absolute after load (relative paths resolve against the config file's directory)

	// Remote servers.
	URL     string
	Headers map[string]string
	// OAuth holds the "oauth" object. It is non-nil for every remote entry unless
	// OAuthDisabled is set (an absent "oauth" key yields a zero OAuth).
	OAuth *OAuth
	// OAuthDisabled is true for `"oauth": false`.
	OAuthDisabled bool

	// Source is the file the entry (its highest-precedence definition) came from,
	// and Pos the position of its key there.
	Source string
	Pos    Position
}

// OAuth is the "oauth" object of a remote entry.
type OAuth struct {
	ClientID          string `json:"clientId,omitempty"`
	ClientSecret      string `json:"clientSecret,omitempty"`
	Scope             string `json:"scope,omitempty"`
	CallbackPort      int    `json:"callbackPort,omitempty"`
	RedirectURI       string `json:"redirectUri,omitempty"`
	ClientMetadataURL string `json:"clientMetadataUrl,omitempty"`
}

// EffectiveTimeout returns the entry's timeout or DefaultTimeout.
func (e *Entry) EffectiveTimeout() time.Duration {
	if e.Timeout > 0 {
		return e.Timeout
	}
	return DefaultTimeout
}
