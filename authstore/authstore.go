// Package authstore persists OAuth credentials (client registrations and tokens)
// per MCP server, either in a 0600 file written atomically under a file lock
// (FileStore) or in the system keyring under the same lock (KeyringStore).
// Open picks one from $MCPLINK_CREDENTIALS_STORE (auto, keyring or file).
package authstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrNotFound is returned when no credentials are stored for a server.
var ErrNotFound = errors.New("no stored credentials")

// Credentials is everything stored for one server, keyed by server name.
type Credentials struct {
	// ServerURL is the MCP server URL these credentials were obtained for.
	// Credentials are only ever used for this exact URL.
	ServerURL string  `json:"serverUrl"`
	Issuer    string  `json:"issuer,omitempty"`
	Resource  string  `json:"resource,omitempty"`
	Client    *Client `json:"client,omitempty"`
	Token     *Token  `json:"token,omitempty"`
	// DPoPKey is the private JWK (RFC 7517) of the key the tokens are bound
	// to with DPoP (RFC 9449); nil when DPoP is not in use.
	DPoPKey json.RawMessage `json:"dpopKey,omitempty"`
	// RequiredScopes are scopes the MCP server demanded (a 403
	// insufficient_scope, or a 401 naming scopes beyond the granted ones)
	// while the stored token lacked some of them. The next interactive
	// sign-in requests them too. They are kept across token refreshes and
	// dropped once a sign-in grants them, or by logout.
	RequiredScopes []string  `json:"requiredScopes,omitempty"`
	UpdatedAt      time.Time `json:"updatedAt,omitzero"`

	// From names the program whose store these credentials were read from
	// (for example "opencode", through a Reader) and that mcplink never
	// writes; empty for mcplink's own. It is not stored: once mcplink writes
	// the credentials (a refresh), they are its own.
	From string `json:"-"`
}

// Client is a client registration (dynamic or from a metadata document).
type Client struct {
	ClientID                string `json:"clientId"`
	ClientSecret            string `json:"clientSecret,omitempty"`
	TokenEndpointAuthMethod string `json:"tokenEndpointAuthMethod,omitempty"`
	RedirectURI             string `json:"redirectUri,omitempty"`
	// Issuer is the authorization server the client was registered at.
	Issuer                string    `json:"issuer,omitempty"`
	ClientSecretExpiresAt time.Time `json:"clientSecretExpiresAt,omitzero"`
	RegisteredAt          time.Time `json:"registeredAt,omitzero"`
	// Dynamic is true when the registration came from RFC 7591 registration.
	Dynamic bool `json:"dynamic,omitempty"`
	// RegistrationAccessToken and RegistrationClientURI are the RFC 7592
	// means of reading, updating or deleting a dynamic registration, when
	// the authorization server issued them (Ory Hydra does). The token is a
	// secret, like ClientSecret. Files written before they existed lack
	// them and stay readable.
	RegistrationAccessToken string `json:"registrationAccessToken,omitempty"`
	RegistrationClientURI   string `json:"registrationClientUri,omitempty"`
}

// Token is an OAuth token set.
type Token struct {
	AccessToken  string    `json:"accessToken"`
	RefreshToken string    `json:"refreshToken,omitempty"`
	TokenType    string    `json:"tokenType,omitempty"`
	Scope        string    `json:"scope,omitempty"`
	Expiry       time.Time `json:"expiresAt,omitzero"`
	// IssuedAt is when the token was obtained (for the refresh margin of
	// short-lived tokens); zero when unknown.
	IssuedAt time.Time `json:"issuedAt,omitzero"`
}

// ForURL reports whether c may be used for serverURL (the same-URL rule).
func (c *Credentials) ForURL(serverURL string) bool {
	return c != nil && c.ServerURL == serverURL
}

// Store is a credential store. Implementations are safe for concurrent use
// by several goroutines and several processes.
type Store interface {
	// Load returns the credentials stored under name, or ErrNotFound.
	Load(ctx context.Context, name string) (*Credentials, error)
	// Update performs a read-modify-write of name's entry under the store lock.
	// fn receives the current entry (nil when absent) — re-read from disk, so it
	// sees what other processes wrote — and returns the new entry, or nil to
	// delete it. An error from fn aborts the update and is returned.
	Update(ctx context.Context, name string, fn func(cur *Credentials) (*Credentials, error)) error
	// Delete removes name's entry; deleting an absent entry is not an error.
	Delete(ctx context.Context, name string) error
	// List returns every stored entry by name.
	List(ctx context.Context) (map[string]*Credentials, error)
}
