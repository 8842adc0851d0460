// Package clients reads the files other MCP clients keep — where they are
// on each OS (Files) and what is in them (Read, ReadFile: Claude Code,
// Claude Desktop, Cursor, Windsurf, Gemini CLI, VS Code, Codex; opencode's
// sign-ins) — so mcplink can use an existing setup (--config) or copy it
// (mcplink import); and, for `mcplink install`, where each client reads
// servers without asking (InstallTarget) and how to add or remove one
// entry there keeping the rest of the file (Target). Nothing else of
// another program's files is ever written.
package clients

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"path/filepath"
	"sort"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/internal/safefile"
)

// Opencode is the name under which credentials read from opencode are
// marked (authstore.Credentials.From).
const Opencode = "opencode"

// OpencodeDirs returns opencode's config and data directories:
// $XDG_CONFIG_HOME/opencode and $XDG_DATA_HOME/opencode, defaulting to
// ~/.config/opencode and ~/.local/share/opencode on every OS (opencode
// resolves them with the xdg-basedir package, which has no per-OS
// defaults). getenv reads the environment; home is the home directory.
func OpencodeDirs(getenv func(string) string, home string) (configDir, dataDir string) {
	base := func(env, def string) string {
		if d := getenv(env); d != "" {
			return d
		}
		if home == "" {
			return ""
		}
		return filepath.Join(home, def)
	}
	if d := base("XDG_CONFIG_HOME", ".config"); d != "" {
		configDir = filepath.Join(d, "opencode")
	}
	if d := base("XDG_DATA_HOME", filepath.Join(".local", "share")); d != "" {
		dataDir = filepath.Join(d, "opencode")
	}
	return configDir, dataDir
}

// OpencodeAuthFile is the file opencode keeps MCP OAuth state in:
// mcp-auth.json in its data directory ("" when dataDir is "").
func OpencodeAuthFile(dataDir string) string {
	if dataDir == "" {
		return ""
	}
	return filepath.Join(dataDir, "mcp-auth.json")
}

// OpencodeAuthEntry is one server's entry in opencode's mcp-auth.json, as
// opencode writes it (packages/opencode/src/mcp/auth.ts: McpAuth.Entry),
// keyed by the server's name in opencode's config. Times are Unix seconds,
// possibly fractional (opencode stores Date.now()/1000 + expires_in).
type OpencodeAuthEntry struct {
	Tokens       *OpencodeTokens     `json:"tokens,omitempty"`
	ClientInfo   *OpencodeClientInfo `json:"clientInfo,omitempty"`
	CodeVerifier string              `json:"codeVerifier,omitempty"`
	OAuthState   string              `json:"oauthState,omitempty"`
	// ServerURL is the MCP server URL the entry was obtained for. opencode
	// only uses an entry for that exact URL (McpAuth.getForUrl).
	ServerURL string `json:"serverUrl,omitempty"`
}

// OpencodeTokens are the tokens of an entry.
type OpencodeTokens struct {
	AccessToken  string   `json:"accessToken"`
	RefreshToken string   `json:"refreshToken,omitempty"`
	ExpiresAt    *float64 `json:"expiresAt,omitempty"`
	Scope        string   `json:"scope,omitempty"`
}

// OpencodeClientInfo is the client opencode registered dynamically.
type OpencodeClientInfo struct {
	ClientID              string   `json:"clientId"`
	ClientSecret          string   `json:"clientSecret,omitempty"`
	ClientIDIssuedAt      *float64 `json:"clientIdIssuedAt,omitempty"`
	ClientSecretExpiresAt *float64 `json:"clientSecretExpiresAt,omitempty"`
}

// maxAuthFile bounds what is read of mcp-auth.json: an entry is well under
// 16 KiB even with long JWTs.
const maxAuthFile = 8 << 20

// AuthFileError reports an mcp-auth.json that cannot be used as a whole.
type AuthFileError struct {
	File string
	Msg  string
	Err  error
}

func (e *AuthFileError) Error() string { return e.File + ": " + e.Msg }
func (e *AuthFileError) Unwrap() error { return e.Err }

// ReadOpencodeAuth reads opencode's mcp-auth.json. A missing file is an
// empty map. Entries are decoded one by one with tolerant types (unknown
// fields are ignored, as opencode's own schema may grow); an entry that does
// not decode is left out and named in skipped with the reason. The whole
// file failing (not a regular file, larger than 8 MiB, not a JSON object)
// is an *AuthFileError.
func ReadOpencodeAuth(path string) (entries map[string]OpencodeAuthEntry, skipped map[string]string, err error) {
	entries, skipped = map[string]OpencodeAuthEntry{}, map[string]string{}
	// Regular files only, bounded: a FIFO put in its place must not block.
	data, err := safefile.ReadRegular(path, maxAuthFile)
	if errors.Is(err, fs.ErrNotExist) {
		return entries, skipped, nil
	}
	if err != nil {
		return nil, nil, &AuthFileError{File: path, Msg: "cannot read: " + err.Error(), Err: err}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, &AuthFileError{File: path, Msg: "not a JSON object of entries: " + err.Error(), Err: err}
	}
	for name, msg := range raw {
		var e OpencodeAuthEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			skipped[name] = "the entry does not decode: " + err.Error()
			continue
		}
		entries[name] = e
	}
	return entries, skipped, nil
}

// unixSeconds converts opencode's (possibly fractional) Unix seconds.
func unixSeconds(v *float64) time.Time {
	if v == nil || *v <= 0 || math.IsNaN(*v) || *v > 1e12 {
		return time.Time{}
	}
	sec, frac := math.Modf(*v)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// Credentials converts the entry to mcplink's shape, marked From
// Opencode. ok is false when the entry holds nothing usable: no serverUrl
// (opencode itself never uses such an entry) or neither an access token nor
// a client. What opencode does not keep stays empty: the issuer and the
// resource (mcplink learns them by discovery before a refresh) and the
// client's redirect URI and token endpoint auth method.
func (e OpencodeAuthEntry) Credentials() (c *authstore.Credentials, ok bool) {
	if e.ServerURL == "" {
		return nil, false
	}
	c = &authstore.Credentials{ServerURL: e.ServerURL, From: Opencode}
	if ci := e.ClientInfo; ci != nil && ci.ClientID != "" {
		c.Client = &authstore.Client{
			ClientID:              ci.ClientID,
			ClientSecret:          ci.ClientSecret,
			ClientSecretExpiresAt: unixSeconds(ci.ClientSecretExpiresAt),
			RegisteredAt:          unixSeconds(ci.ClientIDIssuedAt),
			Dynamic:               true,
		}
	}
	if t := e.Tokens; t != nil && t.AccessToken != "" {
		c.Token = &authstore.Token{
			AccessToken:  t.AccessToken,
			RefreshToken: t.RefreshToken,
			TokenType:    "Bearer", // opencode's MCP client sends Bearer tokens only
			Scope:        t.Scope,
			Expiry:       unixSeconds(t.ExpiresAt),
		}
	}
	if c.Client == nil && c.Token == nil {
		return nil, false
	}
	return c, true
}

// OpencodeAuth is opencode's mcp-auth.json as a read-only
// authstore.Reader. The file is read again on every call (it is small), so
// a sign-in or refresh opencode does meanwhile is seen. A file that cannot
// be read counts as empty, as it does for opencode.
type OpencodeAuth struct {
	File string
}

// Load returns the credentials opencode stored under name, or
// authstore.ErrNotFound.
func (a OpencodeAuth) Load(ctx context.Context, name string) (*authstore.Credentials, error) {
	all, err := a.List(ctx)
	if err != nil {
		return nil, err
	}
	if c, ok := all[name]; ok {
		return c, nil
	}
	return nil, authstore.ErrNotFound
}

// List returns every usable entry by name.
func (a OpencodeAuth) List(ctx context.Context) (map[string]*authstore.Credentials, error) {
	out := map[string]*authstore.Credentials{}
	if a.File == "" {
		return out, nil
	}
	entries, _, err := ReadOpencodeAuth(a.File)
	if err != nil {
		return out, nil //nolint:nilerr // unreadable counts as empty, as in opencode
	}
	for name, e := range entries {
		if c, ok := e.Credentials(); ok {
			out[name] = c
		}
	}
	return out, nil
}

// SortedNames returns the keys of m in order.
func SortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
