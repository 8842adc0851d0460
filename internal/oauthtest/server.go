// Package oauthtest runs a real, strict OAuth 2.1 authorization server and an
// OAuth-protected MCP server on loopback sockets, for tests, benchmarks and
// `mcplink demo`.
//
// The authorization server (AS) implements RFC 8414 metadata, RFC 7591 dynamic
// client registration, the authorization code grant with mandatory PKCE S256,
// refresh tokens with rotation and reuse detection, RFC 8707 resource
// indicators, RFC 9207 iss in authorization responses and RFC 7009
// revocation. The MCP server (on a different port) publishes RFC 9728
// protected resource metadata and accepts only bearer tokens issued by the AS
// for its resource.
//
// It is the one fake authorization server of the tests: options reproduce
// other discovery layouts (layout.go), DPoP (dpop.go), the machine grants
// and an enterprise IdP (machine.go); Requests, Secrets, Proofs and
// Problems show a test what the client sent.
//
// Everything is in memory; nothing is logged, so tokens and secrets never
// reach any output.
package oauthtest

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client authentication methods at the token endpoint.
const (
	AuthMethodBasic = "client_secret_basic"
	AuthMethodPost  = "client_secret_post"
	AuthMethodNone  = "none"
)

// Grant types.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// ScopeOfflineAccess is the scope that asks for a refresh token.
const ScopeOfflineAccess = "offline_access"

// DefaultScopes are the scopes supported when Options.Scopes is empty.
var DefaultScopes = []string{"mcp:read", "mcp:write", ScopeOfflineAccess}

// Options configures a Server. The zero value is a strict, fully featured AS.
type Options struct {
	// Scopes is the AS scopes_supported list. Default DefaultScopes.
	// The MCP server's protected resource metadata advertises the same list
	// minus offline_access.
	Scopes []string
	// DefaultScopes are granted when an authorization request carries no
	// scope. Default: Scopes minus offline_access.
	DefaultScopes []string
	// RequiredScope is a space-separated list of scopes every MCP request's
	// token must carry; tokens lacking one get 403 insufficient_scope.
	// Empty means any valid token is accepted. The 401/403 challenges
	// advertise these scopes (or, when empty, the resource's scopes).
	// Server.SetRequiredScope changes it at run time.
	RequiredScope string
	// ChallengeScope, when set, is the scope the 401 challenges advertise
	// instead (403 challenges still name the required scopes), like a
	// server whose sign-in scope is narrower than what its tools need.
	// Server.SetChallengeScope changes it at run time.
	ChallengeScope string
	// TokenLifetime is the access token lifetime (expires_in), rounded to
	// whole seconds, at least 1s. Default 1h.
	TokenLifetime time.Duration
	// TokenEndpointAuthMethods is token_endpoint_auth_methods_supported.
	// Default client_secret_basic, client_secret_post, none.
	TokenEndpointAuthMethods []string
	// DisableDCR removes the registration endpoint (clients must be in
	// PreRegistered).
	DisableDCR bool
	// PreRegistered clients are known without dynamic registration.
	PreRegistered []Client
	// NoIss disables the iss parameter in authorization responses and sets
	// authorization_response_iss_parameter_supported to false.
	NoIss bool
	// ConsentPage makes GET /authorize render an HTML page with Approve and
	// Deny buttons instead of redirecting immediately.
	ConsentPage bool
	// RefreshRequiresOfflineAccess issues refresh tokens only when the
	// offline_access scope was granted. By default (false) a refresh token is
	// always issued to clients registered for the refresh_token grant.
	RefreshRequiresOfflineAccess bool
	// NoRefreshRotation keeps refresh tokens valid after use. By default each
	// refresh returns a new refresh token, and reusing a rotated one fails with
	// invalid_grant and revokes the whole token family.
	NoRefreshRotation bool
	// ResourceOptional accepts authorization and token requests without the
	// RFC 8707 resource parameter (a present one must still match).
	ResourceOptional bool
	// IssuerPath gives the issuer a path component, e.g. "/tenant1", so the
	// metadata lives at /.well-known/oauth-authorization-server/tenant1.
	IssuerPath string
	// ServerName is the MCP server implementation name. Default "oauthtest".
	ServerName string
	// ClientIDMetadataDocuments enables client ID metadata documents
	// (draft-ietf-oauth-client-id-metadata-document, MCP 2025-11-25): a
	// client_id that is an https URL with a path (or, for tests, an http URL
	// on a loopback host) is fetched at /authorize; the document must name
	// itself as client_id, be a public client (auth method none) and list
	// loopback redirect URIs. Metadata gains
	// client_id_metadata_document_supported: true.
	ClientIDMetadataDocuments bool
	// SSEOnly serves the MCP endpoint with the 2024-11-05 SSE transport
	// (GET opens the event stream, messages are POSTed to ?sessionid=…)
	// behind the same token check: an authorized POST without a sessionid,
	// which is a Streamable HTTP attempt, is answered 405.
	SSEOnly bool
	// DeviceFlow enables the device authorization grant (RFC 8628): metadata
	// gains device_authorization_endpoint, clients may register the
	// GrantDeviceCode grant, and GET /device?user_code=X (the verification
	// URI) approves the request, or shows a page with Approve/Deny when
	// ConsentPage is set. See also ApproveDevice and DenyDevice.
	DeviceFlow bool
	// DeviceInterval is the polling interval announced (default 1 s; whole seconds).
	DeviceInterval time.Duration
	// DeviceCodeLifetime bounds device codes (default 5 minutes).
	DeviceCodeLifetime time.Duration
	// HydraQuirks makes the AS answer with Ory Hydra v2.3's shapes: its
	// registration response (jwks {}, metadata {}, contacts null,
	// registration_access_token, …), its error bodies, its token responses
	// (token_type "bearer", refresh tokens only with offline_access or
	// offline), its discovery document (OpenID discovery only, no iss),
	// client scopes and RFC 7592 deletion. See hydra.go.
	HydraQuirks bool
	// HydraDefaultClientScope is, under HydraQuirks, the scope a client
	// registered without one may request (Hydra's
	// oidc.dynamic_client_registration.default_scope). Default
	// HydraDefaultClientScope.
	HydraDefaultClientScope []string
	// HydraDCRDisabled makes registration answer 404 as Hydra does with
	// dynamic registration off, while registration_endpoint stays in the
	// metadata (Hydra advertises it whenever client_registration_url is
	// set, whether registration is enabled or not).
	HydraDCRDisabled bool

	// The discovery layout (see layout.go): where the documents are, what
	// the challenges and the documents say. The Edit hooks and
	// AuthorizationResponseIss are called at every request, with a fresh
	// document, outside the server's lock (they may call its methods).

	// OneOrigin serves the authorization server on the MCP server's origin
	// (one listener), as servers of the 2025-03-26 revision do: IssuerURL is
	// that origin plus IssuerPath.
	OneOrigin bool
	// ResourceMetadataPath, when set, is the one path on the MCP origin
	// where the protected resource metadata is served (and that
	// ResourceMetadataURL names); by default it is served at
	// /.well-known/oauth-protected-resource/mcp and at the root,
	// /.well-known/oauth-protected-resource.
	ResourceMetadataPath string
	// NoResourceMetadata serves no protected resource metadata and leaves
	// resource_metadata out of the challenges, as a 2025-03-26 server does.
	NoResourceMetadata bool
	// ChallengeOmitsResourceMetadata leaves resource_metadata out of the
	// challenges while the metadata is still served at its well-known path.
	ChallengeOmitsResourceMetadata bool
	// ChallengeOmitsScope leaves scope out of the 401 challenges.
	ChallengeOmitsScope bool
	// MetadataPath, when set, is the one path on the AS origin where the
	// AS metadata is served; by default it is served where RFC 8414 and
	// OpenID discovery put it (path-inserted, and OpenID's path-appended
	// form when IssuerPath is set).
	MetadataPath string
	// NoMetadata serves no AS metadata: clients fall back to the
	// 2025-03-26 default endpoints (/authorize, /token, /register at the
	// issuer's origin), which is where this AS has them with OneOrigin.
	NoMetadata bool
	// EditMetadata edits the AS metadata document before each answer
	// (e.g. a wrong issuer, no code_challenge_methods_supported).
	EditMetadata func(m map[string]any)
	// EditResourceMetadata edits the protected resource metadata before
	// each answer (e.g. another resource, other scopes_supported).
	EditResourceMetadata func(m map[string]any)
	// EditRegistration edits each successful registration answer before it
	// is sent (the client is registered as requested, whatever the answer
	// says).
	EditRegistration func(resp map[string]any)
	// AuthorizationResponseIss, when set, returns the iss value sent in
	// authorization responses instead of the issuer ("" sends none), while
	// the metadata still advertises RFC 9207 unless NoIss is set.
	AuthorizationResponseIss func(issuer string) string
	// PaddedCodes issues authorization codes that end in base64 padding
	// ("=="), as some servers do: a client that takes text with "=" for
	// a redirect URL misreads them.
	PaddedCodes bool
	// GrantScope, when set, decides the scopes granted for the requested
	// ones at the authorization code grant (default: as requested), like an
	// AS that grants less than asked. It runs under the server's lock and
	// must not call the Server's methods.
	GrantScope func(requested []string) []string
	// NoRevocation serves no RFC 7009 revocation endpoint and advertises
	// none (RevocationEndpoint is then "").
	NoRevocation bool
	// RegistrationManagement answers registrations with an RFC 7592
	// registration_access_token and registration_client_uri, and serves
	// DELETE on that URI (HydraQuirks implies it).
	RegistrationManagement bool

	// DPoPAlgs enables RFC 9449 DPoP (see dpop.go): the AS metadata lists
	// them as dpop_signing_alg_values_supported (proofs are verified as
	// ES256), tokens requested with a proof are bound to its key, and the
	// MCP server's 401 challenges use the DPoP scheme.
	DPoPAlgs []string
	// ClientClock is the clock that timestamps made by the client (DPoP
	// proofs' iat, client assertions' iat and exp) are checked against;
	// default time.Now. A test whose client runs on a settable clock sets
	// the same one here.
	ClientClock func() time.Time
	// IdPIDToken, when set, serves an enterprise IdP's token exchange at
	// IdPTokenEndpoint (see machine.go): this ID token, with this AS as
	// audience, is exchanged for an identity assertion grant (ID-JAG) that
	// the AS's JWT bearer grant accepts once.
	IdPIDToken string
}

// Client is a registered OAuth client.
type Client struct {
	ClientID     string
	ClientSecret string // empty for public clients (AuthMethodNone)
	ClientName   string
	RedirectURIs []string
	// TokenEndpointAuthMethod is one of AuthMethodBasic, AuthMethodPost,
	// AuthMethodNone. Default AuthMethodBasic for PreRegistered clients with a
	// secret, AuthMethodNone without.
	TokenEndpointAuthMethod string
	// GrantTypes default to authorization_code and refresh_token for
	// PreRegistered clients (RFC 7591's default for DCR is authorization_code).
	GrantTypes []string
	// ApplicationType is "native" or "web"; default "native".
	ApplicationType string
	// Scope, when not empty, is the space-separated list of scopes the
	// client may request (set for clients registered under HydraQuirks).
	Scope string
	// PublicKey verifies the client assertions of a PreRegistered client
	// with TokenEndpointAuthMethod AuthMethodPrivateKeyJWT.
	PublicKey crypto.PublicKey
}

// Stats are counters and the last parameters the servers received.
type Stats struct {
	Registrations int
	// RegistrationDeletes counts RFC 7592 deletions (HydraQuirks).
	RegistrationDeletes int
	AuthorizeRequests   int // every GET /authorize, valid or not
	ConsentApprovals    int
	ConsentDenials      int
	CodesIssued         int
	// TokenRequests counts /token requests by grant_type (as sent).
	TokenRequests map[string]int
	TokenErrors   int // /token requests answered with an error
	Refreshes     int // successful refresh_token grants
	Revocations   int // successful /revoke requests
	MCPRequests   int // requests to the MCP endpoint that passed auth
	MCPRejected   int // requests to the MCP endpoint rejected with 401/403

	LastAuthorizeResource   string
	LastAuthorizeScope      string
	LastCodeChallengeMethod string
	LastRedirectURI         string
	LastTokenResource       string // on the authorization_code grant
	LastRefreshResource     string
	LastRefreshScope        string
	LastClientAuthMethod    string // method used at /token or /revoke
	LastRegistration        Client // without the secret

	MetadataDocumentFetches int // client ID metadata documents fetched

	DeviceAuthorizations int // successful device authorization requests
	DevicePolls          int // device_code grant requests
	DeviceSlowDowns      int // polls answered slow_down for polling too fast

	// ClientAssertionIDs are the jti of every valid private_key_jwt client
	// assertion.
	ClientAssertionIDs []string
}

// Server is a running authorization server plus protected MCP server.
type Server struct {
	// IssuerURL is the AS issuer, e.g. http://127.0.0.1:P (plus IssuerPath).
	IssuerURL string
	// MCPURL is the protected MCP endpoint, e.g. http://127.0.0.1:Q/mcp.
	MCPURL string
	// ResourceMetadataURL is the RFC 9728 metadata URL advertised in
	// WWW-Authenticate challenges.
	ResourceMetadataURL string

	opts   Options
	asSrv  *http.Server
	mcpSrv *http.Server
	wg     sync.WaitGroup

	mu             sync.Mutex
	clients        map[string]*Client
	codes          map[string]*authCode
	pending        map[string]*authRequest // consent page requests
	access         map[string]*accessToken
	refresh        map[string]*refreshToken
	stats          Stats
	nextTokenError string
	requiredScope  []string
	challengeScope string
	refuse         refusal
	tokenDelay     time.Duration
	closed         bool
	devices        map[string]*deviceRequest // by device_code (device.go)
	// registrationTokens are the RFC 7592 registration access tokens by
	// client ID (HydraQuirks, RegistrationManagement).
	registrationTokens map[string]string
	requests           []Request
	failGrants         map[string]string      // grant type ("" every one) → error code
	secrets            []string               // every secret handed out (Secrets)
	resource           atomic.Pointer[string] // SetResource; nil is MCPURL
	answered           chan struct{}          // closed and replaced when a request was answered (WaitStats)
	tokenNonce         dpopNonce              // DPoP (dpop.go)
	mcpNonce           dpopNonce
	proofs             []Proof
	problems           []string
	assertions         []string        // ExpectAssertions (machine.go)
	jags               map[string]bool // ID-JAGs the IdP issued, not yet used

	// newTransport builds the MCP transport handler; transport is the
	// current one (ForgetSessions replaces it).
	newTransport func() http.Handler
	transport    atomic.Pointer[http.Handler]
}

// Start starts both servers on 127.0.0.1 with ephemeral ports.
func Start(opts Options) (*Server, error) {
	opts, err := normalize(opts)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:    opts,
		clients: make(map[string]*Client),
		codes:   make(map[string]*authCode),
		pending: make(map[string]*authRequest),
		access:  make(map[string]*accessToken),
		refresh: make(map[string]*refreshToken),
		devices: make(map[string]*deviceRequest),

		answered: make(chan struct{}),
	}
	s.stats.TokenRequests = make(map[string]int)
	s.requiredScope = strings.Fields(opts.RequiredScope)
	s.challengeScope = strings.Join(strings.Fields(opts.ChallengeScope), " ")
	for _, c := range opts.PreRegistered {
		c.RedirectURIs = slices.Clone(c.RedirectURIs)
		c.GrantTypes = slices.Clone(c.GrantTypes)
		s.clients[c.ClientID] = &c
	}

	mcpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("oauthtest: listen for MCP server: %w", err)
	}
	asLn := mcpLn
	if !opts.OneOrigin {
		if asLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			mcpLn.Close()
			return nil, fmt.Errorf("oauthtest: listen for authorization server: %w", err)
		}
	}
	s.IssuerURL = "http://" + asLn.Addr().String() + opts.IssuerPath
	s.MCPURL = "http://" + mcpLn.Addr().String() + mcpPath
	s.ResourceMetadataURL = "http://" + mcpLn.Addr().String() + s.resourceMetadataPath()

	mcp := s.mcpHandler()
	if opts.OneOrigin {
		mcp.Handle("/", s.asHandler())
	} else {
		s.asSrv = &http.Server{Handler: s.record(s.asHandler()), ReadHeaderTimeout: 10 * time.Second}
		s.serve(s.asSrv, asLn)
	}
	s.mcpSrv = &http.Server{Handler: s.record(mcp), ReadHeaderTimeout: 10 * time.Second}
	s.serve(s.mcpSrv, mcpLn)
	return s, nil
}

func (s *Server) serve(srv *http.Server, ln net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(ln) // returns http.ErrServerClosed on Close
	}()
}

// Close stops both servers, closing open connections (including MCP SSE
// streams), and waits for the serving goroutines to exit.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.mcpSrv.Close()
	if s.asSrv != nil {
		err = errors.Join(s.asSrv.Close(), err)
	}
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("oauthtest: close: %w", err)
	}
	return nil
}

func normalize(o Options) (Options, error) {
	if len(o.Scopes) == 0 {
		o.Scopes = slices.Clone(DefaultScopes)
	}
	if o.DefaultScopes == nil {
		o.DefaultScopes = withoutOffline(o.Scopes)
	}
	for _, sc := range o.DefaultScopes {
		if !slices.Contains(o.Scopes, sc) {
			return o, fmt.Errorf("oauthtest: default scope %q is not in Options.Scopes", sc)
		}
	}
	if o.HydraQuirks {
		o.NoIss = true // Hydra v2.3 sends no iss and does not advertise it
		o.RefreshRequiresOfflineAccess = true
		if o.HydraDefaultClientScope == nil {
			o.HydraDefaultClientScope = slices.Clone(HydraDefaultClientScope)
		}
	}
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = time.Hour
	}
	o.TokenLifetime = o.TokenLifetime.Round(time.Second) // expires_in is whole seconds
	if o.TokenLifetime < time.Second {
		o.TokenLifetime = time.Second
	}
	if len(o.TokenEndpointAuthMethods) == 0 {
		o.TokenEndpointAuthMethods = []string{AuthMethodBasic, AuthMethodPost, AuthMethodNone}
	}
	for _, m := range o.TokenEndpointAuthMethods {
		if m != AuthMethodBasic && m != AuthMethodPost && m != AuthMethodNone {
			return o, fmt.Errorf("oauthtest: unsupported token endpoint auth method %q", m)
		}
	}
	if o.IssuerPath != "" {
		o.IssuerPath = "/" + strings.Trim(o.IssuerPath, "/")
	}
	if o.ServerName == "" {
		o.ServerName = "oauthtest"
	}
	seen := make(map[string]bool)
	for i := range o.PreRegistered {
		c := &o.PreRegistered[i]
		if c.ClientID == "" || seen[c.ClientID] {
			return o, fmt.Errorf("oauthtest: pre-registered client %d needs a unique non-empty ClientID", i)
		}
		seen[c.ClientID] = true
		if len(c.GrantTypes) == 0 {
			c.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
		}
		if len(c.RedirectURIs) == 0 && slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
			return o, fmt.Errorf("oauthtest: pre-registered client %q has no RedirectURIs", c.ClientID)
		}
		if c.TokenEndpointAuthMethod == "" {
			c.TokenEndpointAuthMethod = AuthMethodNone
			switch {
			case c.ClientSecret != "":
				c.TokenEndpointAuthMethod = AuthMethodBasic
			case c.PublicKey != nil:
				c.TokenEndpointAuthMethod = AuthMethodPrivateKeyJWT
			}
		}
		if c.TokenEndpointAuthMethod == AuthMethodPrivateKeyJWT {
			if c.PublicKey == nil || c.ClientSecret != "" {
				return o, fmt.Errorf("oauthtest: pre-registered client %q: %s needs a PublicKey and no secret", c.ClientID, AuthMethodPrivateKeyJWT)
			}
		} else if (c.TokenEndpointAuthMethod == AuthMethodNone) != (c.ClientSecret == "") {
			return o, fmt.Errorf("oauthtest: pre-registered client %q: a secret is required exactly when the auth method is not %q", c.ClientID, AuthMethodNone)
		}
		if c.ApplicationType == "" {
			c.ApplicationType = "native"
		}
	}
	return o, nil
}

func withoutOffline(scopes []string) []string {
	out := []string{}
	for _, sc := range scopes {
		if sc != ScopeOfflineAccess {
			out = append(out, sc)
		}
	}
	return out
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statsLocked()
}

// WaitStats waits until cond holds for the counters, checking again each
// time a request has been answered, or until ctx ends.
func (s *Server) WaitStats(ctx context.Context, cond func(Stats) bool) error {
	for {
		s.mu.Lock()
		st, answered := s.statsLocked(), s.answered
		s.mu.Unlock()
		if cond(st) {
			return nil
		}
		select {
		case <-answered:
		case <-ctx.Done():
			return fmt.Errorf("oauthtest: the counters did not reach the condition: %w", ctx.Err())
		}
	}
}

func (s *Server) statsLocked() Stats {
	st := s.stats
	st.TokenRequests = maps.Clone(s.stats.TokenRequests)
	st.LastRegistration.RedirectURIs = slices.Clone(st.LastRegistration.RedirectURIs)
	st.LastRegistration.GrantTypes = slices.Clone(st.LastRegistration.GrantTypes)
	st.ClientAssertionIDs = slices.Clone(st.ClientAssertionIDs)
	return st
}

// Client returns a registered client (dynamic or pre-registered).
func (s *Server) Client(clientID string) (Client, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if !ok {
		return Client{}, false
	}
	out := *c
	out.RedirectURIs = slices.Clone(c.RedirectURIs)
	out.GrantTypes = slices.Clone(c.GrantTypes)
	return out, true
}

// DeleteClient forgets a client, as an AS does when a registration expires;
// its tokens are revoked. It reports whether the client existed.
func (s *Server) DeleteClient(clientID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[clientID]; !ok {
		return false
	}
	delete(s.clients, clientID)
	for _, t := range s.access {
		if t.clientID == clientID {
			t.revoked = true
		}
	}
	for _, t := range s.refresh {
		if t.clientID == clientID {
			t.revoked = true
		}
	}
	return true
}

// ExpireAccessTokens makes every access token issued so far expired; the MCP
// server then answers 401 invalid_token. Refresh tokens stay valid.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := time.Now().Add(-time.Minute)
	for _, t := range s.access {
		t.expiry = past
	}
}

// RevokeAll revokes every access and refresh token issued so far.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.access {
		t.revoked = true
	}
	for _, t := range s.refresh {
		t.revoked = true
	}
}

// SetNextTokenError makes the next /token request fail with the given RFC 6749
// error code (e.g. "invalid_grant", "temporarily_unavailable"), before any
// other processing. invalid_client is answered with 401, server_error with
// 500, temporarily_unavailable with 503, all others with 400. An empty code
// clears a pending error.
func (s *Server) SetNextTokenError(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextTokenError = code
}

// SetTokenDelay makes every later /token request wait d before it is
// processed (0 disables), e.g. to widen races between concurrent refreshes.
func (s *Server) SetTokenDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenDelay = d
}

// ActiveAccessTokens counts access tokens that are neither expired nor revoked.
func (s *Server) ActiveAccessTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	now := time.Now()
	for _, t := range s.access {
		if !t.revoked && now.Before(t.expiry) {
			n++
		}
	}
	return n
}
