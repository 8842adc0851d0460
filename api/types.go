package api

import (
	"encoding/json"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// opencode's five statuses (McpStatus of @opencode-ai/sdk): ServerStatus.Status
// is always one of them.
const (
	StatusConnected               = "connected"
	StatusDisabled                = "disabled"
	StatusFailed                  = "failed"
	StatusNeedsAuth               = "needs_auth"
	StatusNeedsClientRegistration = "needs_client_registration"
)

// ServerStatus is the JSON status object of one configured server. It is
// opencode's McpStatus ({status, error?}, status one of its five) with
// mcplink's detail as extra fields; State is mcplink's finer status.
type ServerStatus struct {
	Name string `json:"name"`
	Type string `json:"type"` // "local" or "remote"; "" when untrusted
	// Status is opencode's status: connected, disabled, failed, needs_auth
	// or needs_client_registration (see OpencodeStatus).
	Status string `json:"status"`
	// State is mcplink's own status (manager.Status values): the five plus
	// connecting, disconnected and untrusted.
	State     string   `json:"state"`
	Error     string   `json:"error,omitempty"`   // why failed / needs_auth / needs_client_registration / untrusted (names the fix); always set when Status is failed or needs_client_registration
	Tools     []string `json:"tools"`             // tool names, empty unless connected
	URL       string   `json:"url,omitempty"`     // remote servers
	Command   []string `json:"command,omitempty"` // local servers
	Transport string   `json:"transport,omitempty"`
	// Auth is the OAuth state of an enabled remote server with OAuth
	// enabled; nil otherwise (also for a disabled server).
	Auth *AuthStatus `json:"auth,omitempty"`
	// Logout is what became of the stored tokens; set only in the answer
	// of DELETE /mcp/{name}/auth.
	Logout *LogoutResult `json:"logout,omitempty"`
}

// AuthStatus is the OAuth part of a server's status.
type AuthStatus struct {
	// State is "authenticated", "expired" or "not_authenticated" (stored
	// credentials), or "unknown" when the store could not be read.
	State       string     `json:"state"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
	Scopes      []string   `json:"scopes,omitempty"`
	Refreshable bool       `json:"refreshable,omitempty"`
	// PendingFlows is the number of authorization flows waiting for the user
	// (browser flows and device authorizations).
	PendingFlows int `json:"pendingFlows"`
}

// LogoutResult says what a logout did to the stored tokens. They are always
// deleted locally and the client registration is always kept (signing in
// again reuses it); revocation at the authorization server (RFC 7009) is
// best effort and reported here.
type LogoutResult struct {
	// HadTokens is true when tokens were stored (they are now deleted).
	HadTokens bool `json:"hadTokens"`
	// Revoked is true when the authorization server revoked the tokens: at
	// least one was revoked and no revocation failed.
	Revoked bool `json:"revoked"`
	// RevokedTokens lists the token types revoked: "refresh_token", "access_token".
	RevokedTokens []string `json:"revokedTokens,omitempty"`
	// NotRevocable lists token types the authorization server answered
	// unsupported_token_type for (typically self-contained JWT access
	// tokens): they stay valid until they expire.
	NotRevocable []string `json:"notRevocable,omitempty"`
	// RevocationSupported is true when the authorization server advertises a
	// revocation endpoint and was asked to revoke. It is false when it
	// advertises none, when nothing was stored, or when whether it can was
	// not learned (RevocationSkipped or RevocationError says why).
	RevocationSupported bool `json:"revocationSupported"`
	// RevocationSkipped says why nothing was revoked (no revocation
	// endpoint, no issuer stored, the client is no longer configured).
	RevocationSkipped string `json:"revocationSkipped,omitempty"`
	// RevocationError is why revoking failed; the tokens were deleted
	// locally anyway, and the authorization server may still accept them
	// until they expire.
	RevocationError string `json:"revocationError,omitempty"`
	// Message says all of the above in one sentence, for people.
	Message string `json:"message"`
}

// LogoutResponse is the answer of DELETE /mcp/{name}/auth: opencode's
// {"success": true} with the server's status and what became of the tokens.
type LogoutResponse struct {
	Success bool `json:"success"`
	ServerStatus
}

// AddRequest is the body of POST /mcp (opencode's mcp.add): a server name and
// its entry in the config file's shape (opencode's McpLocalConfig or
// McpRemoteConfig, plus mcplink's "cwd" and OAuth fields).
type AddRequest struct {
	Name   string          `json:"name"`
	Config json.RawMessage `json:"config"`
}

// AuthStart is the answer of POST /mcp/{name}/auth.
type AuthStart struct {
	AuthorizationURL string    `json:"authorizationUrl"`
	State            string    `json:"state"`
	ExpiresAt        time.Time `json:"expiresAt"`
	Scopes           []string  `json:"scopes,omitempty"`
}

// DeviceAuthStart is the answer of POST /mcp/{name}/auth/device: the user
// opens VerificationURI on any device and enters UserCode (or opens
// VerificationURIComplete, which carries the code, when the authorization
// server offers it). The API polls until the sign-in completes, ExpiresAt
// passes or the flow is cancelled.
type DeviceAuthStart struct {
	VerificationURI         string    `json:"verificationUri"`
	VerificationURIComplete string    `json:"verificationUriComplete,omitempty"`
	UserCode                string    `json:"userCode"`
	ExpiresAt               time.Time `json:"expiresAt"`
}

// CallbackRequest is the body of POST /mcp/{name}/auth/callback: either Code
// and State (plus Iss when the authorization server sent one), or URL, the
// full redirect URL from the browser's address bar.
type CallbackRequest struct {
	Code  string `json:"code,omitempty"`
	State string `json:"state,omitempty"`
	Iss   string `json:"iss,omitempty"`
	URL   string `json:"url,omitempty"`
}

// ToolList is the answer of GET /mcp/{name}/tools.
type ToolList struct {
	Tools []*mcp.Tool `json:"tools"`
	// TaskSupport maps each tool that declares "execution.taskSupport"
	// optional or required to that value (MCP 2025-11-25; go-sdk's
	// mcp.Tool has no such member, so it is given beside the tools).
	// Tools not in it are forbidden: the spec's default. A required one
	// cannot be called through the API (409 task_required).
	TaskSupport map[string]string `json:"taskSupport,omitempty"`
}

// ErrorBody is the error envelope every failed request answers with. It is
// opencode's error shape ({"name", "data": {"message"}}: NotFoundError for
// 404, BadRequest for 400, UnknownError otherwise) and mcplink's
// ({"error": {"code", "message"}}) in one object.
type ErrorBody struct {
	Name  string      `json:"name"`
	Data  ErrorData   `json:"data"`
	Error ErrorDetail `json:"error"`
}

// ErrorData is the "data" member of opencode's error shape.
type ErrorData struct {
	Message string `json:"message"`
}

// Names of opencode's error shapes.
const (
	ErrorNameNotFound   = "NotFoundError"
	ErrorNameBadRequest = "BadRequest"
	ErrorNameUnknown    = "UnknownError"
)

// ErrorDetail is the content of the error envelope.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Event types sent on GET /events (the SSE "event:" field equals Type).
const (
	EventStatus = "status" // a server's status changed
	EventTools  = "tools"  // a server's tool list changed
	EventFlow   = "flow"   // authorization flow progress
)

// Flow phases in flow events.
const (
	FlowStarted       = "started"        // a flow is pending; AuthorizationURL is set (UserCode and VerificationURI for a device flow)
	FlowBrowserFailed = "browser_failed" // the browser could not be opened; open AuthorizationURL yourself
	FlowProgress      = "progress"       // a progress message from the OAuth engine
	FlowSucceeded     = "succeeded"      // tokens stored; the server is being connected
	FlowFailed        = "failed"         // Message says why
	FlowExpired       = "expired"        // nobody completed it in time
	FlowCancelled     = "cancelled"      // DELETE /mcp/{name}/auth or shutdown
)

// Event is one Server-Sent Event on GET /events (the JSON "data:" field).
type Event struct {
	Type   string        `json:"type"`
	Server string        `json:"server"`
	Status *ServerStatus `json:"status,omitempty"` // status and tools events
	Flow   *FlowEvent    `json:"flow,omitempty"`   // flow events
}

// FlowEvent reports authorization flow progress. Events of a browser flow
// carry its State; events of a device flow carry its UserCode instead.
type FlowEvent struct {
	Phase            string `json:"phase"`
	State            string `json:"state,omitempty"`
	AuthorizationURL string `json:"authorizationUrl,omitempty"`
	// UserCode, VerificationURI and VerificationURIComplete describe a device
	// flow (POST /mcp/{name}/auth/device); the URIs are set when it starts.
	UserCode                string `json:"userCode,omitempty"`
	VerificationURI         string `json:"verificationUri,omitempty"`
	VerificationURIComplete string `json:"verificationUriComplete,omitempty"`
	Message                 string `json:"message,omitempty"`
}
