package api

import (
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ServerStatus is the JSON status object of one configured server.
type ServerStatus struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"`              // "local" or "remote"
	Status    string   `json:"status"`            // manager.Status values
	Error     string   `json:"error,omitempty"`   // why failed / needs_auth / needs_client_registration
	Tools     []string `json:"tools"`             // tool names, empty unless connected
	URL       string   `json:"url,omitempty"`     // remote servers
	Command   []string `json:"command,omitempty"` // local servers
	Transport string   `json:"transport,omitempty"`
	// Auth is the OAuth state of a remote server with OAuth enabled; nil otherwise.
	Auth *AuthStatus `json:"auth,omitempty"`
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
}

// ErrorBody is the error envelope every failed request answers with.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

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
