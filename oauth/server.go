package oauth

import "github.com/mcplink/mcplink/config"

// Server returns the entry of the remote MCP server name at serverURL, built
// in code for a program that has no config file: the engine's handlers,
// flows and credential store take it where mcplink passes a loaded entry.
// name keys the stored client registration and tokens (authstore), so keep
// it stable across runs; serverURL is the MCP endpoint, and tokens are
// obtained for it alone (a changed URL means a new sign-in).
//
// Its OAuth settings are the defaults of an entry with no "oauth" object:
// discovery, dynamic client registration, the redirect URI
// http://127.0.0.1:19876/mcp/oauth/callback. Set the fields of the
// returned entry's OAuth to change them, e.g.
//
//	s := oauth.Server("jira", "https://jira.example.com/mcp")
//	s.OAuth.ClientID = "pre-registered-id"
//	s.OAuth.CallbackPort = 8765
//	s.Headers = map[string]string{"X-Team": "core"}
func Server(name, serverURL string) *config.Entry {
	return &config.Entry{
		Name:    name,
		Type:    config.TypeRemote,
		Enabled: true,
		URL:     serverURL,
		OAuth:   &config.OAuth{},
	}
}
