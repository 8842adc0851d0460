package oauthtest

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Ory Hydra v2.3 (fosite v0.49) shapes, kept here so that the normal test
// suite exercises them without building Hydra (see e2e/hydra for the real
// one). Options.HydraQuirks switches them on:
//
//   - Registration answers with Hydra's whole client object: jwks {},
//     metadata {}, contacts null, audience [], the token lifespans null,
//     registration_access_token and registration_client_uri, and so on. A
//     client registered without "scope" gets Hydra's default client scope
//     (Options.HydraDefaultClientScope), and may request no other scope.
//   - Errors (registration, token, revocation, and authorization redirects)
//     carry fosite's generic error_description followed by the hint, with
//     double quotes turned into single ones, as Hydra writes them.
//   - Token responses have token_type "bearer" and expires_in one second
//     short of the lifetime; a refresh token is issued only when
//     offline_access or offline was granted.
//   - Metadata is served at /.well-known/openid-configuration only, with
//     Hydra's members (code_challenge_methods_supported plain and S256,
//     token_endpoint_auth_methods_supported including private_key_jwt, no
//     authorization_response_iss_parameter_supported), and authorization
//     responses carry no iss.
//   - DELETE on registration_client_uri with the registration access token
//     deletes the client (RFC 7592), answering 204.
//
// The discovery document models a Hydra whose
// webfinger.oidc_discovery.client_registration_url is set: Hydra lists
// registration_endpoint only then (without it, mcplink rightly reports "no
// registration_endpoint in its metadata"). Options.HydraDCRDisabled models
// such a Hydra with oidc.dynamic_client_registration.enabled false: the
// endpoint is advertised and answers 404 with Hydra's error body.

// HydraDefaultClientScope is Hydra's default
// oidc.dynamic_client_registration.default_scope.
var HydraDefaultClientScope = []string{"offline_access", "offline", "openid"}

// hydraDescriptions are fosite's error descriptions, which Hydra puts
// before the hint in error_description.
var hydraDescriptions = map[string]string{
	"invalid_request":           "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.",
	"unauthorized_client":       "The client is not authorized to request a token using this method.",
	"access_denied":             "The resource owner or authorization server denied the request.",
	"unsupported_response_type": "The authorization server does not support obtaining a token using this method.",
	"invalid_scope":             "The requested scope is invalid, unknown, or malformed.",
	"server_error":              "The authorization server encountered an unexpected condition that prevented it from fulfilling the request.",
	"temporarily_unavailable":   "The authorization server is currently unable to handle the request due to a temporary overloading or maintenance of the server.",
	"unsupported_grant_type":    "The authorization grant type is not supported by the authorization server.",
	"invalid_grant":             "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
	"invalid_client":            "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).",
	"invalid_client_metadata":   "The value of one of the Client Metadata fields is invalid and the server has rejected this request. Note that an Authorization Server MAY choose to substitute a valid value for any requested parameter of a Client's Metadata.",
	"invalid_redirect_uri":      "The value of one or more redirect_uris is invalid.",
}

// hydraError rewrites e the way Hydra words it: fosite's description, then
// our description as the hint, double quotes replaced (fosite's
// GetDescription does that).
func hydraError(e *oauthError) *oauthError {
	out := *e
	desc := hydraDescriptions[e.Code]
	switch {
	case desc == "":
		desc = e.Description
	case e.Description != "":
		desc += " " + hydraHint(e.Description)
	}
	out.Description = strings.ReplaceAll(desc, `"`, "'")
	return &out
}

// hydraHint turns a description into a sentence, as fosite's hints are.
func hydraHint(s string) string {
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// writeError writes an RFC 6749 error answer, in Hydra's words under
// HydraQuirks.
func (s *Server) writeError(w http.ResponseWriter, e *oauthError) {
	if s.opts.HydraQuirks {
		e = hydraError(e)
	}
	e.write(w)
}

// hydraClient is Hydra v2.3's client object (client/client.go), as its
// registration endpoint returns it. Members marked null are Hydra's
// NullDuration/NullBool types without a value.
type hydraClient struct {
	ClientID                  string          `json:"client_id"`
	ClientName                string          `json:"client_name"`
	ClientSecret              string          `json:"client_secret,omitempty"`
	RedirectURIs              []string        `json:"redirect_uris"`
	GrantTypes                []string        `json:"grant_types"`
	ResponseTypes             []string        `json:"response_types"`
	Scope                     string          `json:"scope"`
	Audience                  []string        `json:"audience"`
	Owner                     string          `json:"owner"`
	PolicyURI                 string          `json:"policy_uri"`
	AllowedCORSOrigins        []string        `json:"allowed_cors_origins"`
	TosURI                    string          `json:"tos_uri"`
	ClientURI                 string          `json:"client_uri"`
	LogoURI                   string          `json:"logo_uri"`
	Contacts                  []string        `json:"contacts"` // null
	ClientSecretExpiresAt     int             `json:"client_secret_expires_at"`
	SubjectType               string          `json:"subject_type"`
	JWKS                      json.RawMessage `json:"jwks"` // {}
	TokenEndpointAuthMethod   string          `json:"token_endpoint_auth_method"`
	UserinfoSignedResponseAlg string          `json:"userinfo_signed_response_alg"`
	CreatedAt                 time.Time       `json:"created_at"`
	UpdatedAt                 time.Time       `json:"updated_at"`
	Metadata                  json.RawMessage `json:"metadata"` // {}
	RegistrationAccessToken   string          `json:"registration_access_token"`
	RegistrationClientURI     string          `json:"registration_client_uri"`
	SkipConsent               bool            `json:"skip_consent"`
	SkipLogoutConsent         *bool           `json:"skip_logout_consent"`

	AuthorizationCodeGrantAccessTokenLifespan  *string `json:"authorization_code_grant_access_token_lifespan"`
	AuthorizationCodeGrantIDTokenLifespan      *string `json:"authorization_code_grant_id_token_lifespan"`
	AuthorizationCodeGrantRefreshTokenLifespan *string `json:"authorization_code_grant_refresh_token_lifespan"`
	ClientCredentialsGrantAccessTokenLifespan  *string `json:"client_credentials_grant_access_token_lifespan"`
	ImplicitGrantAccessTokenLifespan           *string `json:"implicit_grant_access_token_lifespan"`
	ImplicitGrantIDTokenLifespan               *string `json:"implicit_grant_id_token_lifespan"`
	JwtBearerGrantAccessTokenLifespan          *string `json:"jwt_bearer_grant_access_token_lifespan"`
	RefreshTokenGrantIDTokenLifespan           *string `json:"refresh_token_grant_id_token_lifespan"`
	RefreshTokenGrantAccessTokenLifespan       *string `json:"refresh_token_grant_access_token_lifespan"`
	RefreshTokenGrantRefreshTokenLifespan      *string `json:"refresh_token_grant_refresh_token_lifespan"`
}

// hydraRegistered answers a successful registration of c the way Hydra
// does and remembers its registration access token.
func (s *Server) hydraRegistered(w http.ResponseWriter, c *Client, reg *registration) {
	rat := s.newRegistrationToken(c.ClientID, "ory_at_")
	now := time.Now().UTC().Round(time.Second)
	hc := hydraClient{
		ClientID:                  c.ClientID,
		ClientName:                c.ClientName,
		ClientSecret:              c.ClientSecret,
		RedirectURIs:              c.RedirectURIs,
		GrantTypes:                c.GrantTypes,
		ResponseTypes:             reg.ResponseTypes,
		Scope:                     c.Scope,
		Audience:                  []string{},
		AllowedCORSOrigins:        []string{},
		ClientURI:                 reg.ClientURI,
		SubjectType:               "public",
		JWKS:                      json.RawMessage(`{}`),
		TokenEndpointAuthMethod:   c.TokenEndpointAuthMethod,
		UserinfoSignedResponseAlg: "none",
		CreatedAt:                 now,
		UpdatedAt:                 now,
		Metadata:                  json.RawMessage(`{}`),
		RegistrationAccessToken:   rat,
		RegistrationClientURI:     s.RegistrationEndpoint() + "/" + c.ClientID,
	}
	writeJSON(w, http.StatusCreated, hc)
}

// newRegistrationToken makes and remembers the RFC 7592 registration
// access token of a client.
func (s *Server) newRegistrationToken(clientID, prefix string) string {
	rat := randomToken(prefix)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.registrationTokens == nil {
		s.registrationTokens = map[string]string{}
	}
	s.registrationTokens[clientID] = s.secretLocked(rat)
	return rat
}

// handleRegistrationDelete is RFC 7592's DELETE on a client URI, which
// Hydra implements at /oauth2/register/{id} (and, with
// RegistrationManagement, in Hydra's words too).
func (s *Server) handleRegistrationDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	want, known := s.registrationTokens[id]
	s.mu.Unlock()
	if !ok || !known || subtle.ConstantTimeCompare([]byte(tok), []byte(want)) != 1 {
		// Hydra's herodot answer for a wrong token or an unknown client.
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error":             "The request could not be authorized",
			"error_description": "The requested OAuth 2.0 client does not exist or you provided incorrect credentials.",
		})
		return
	}
	s.DeleteClient(id)
	s.mu.Lock()
	delete(s.registrationTokens, id)
	s.stats.RegistrationDeletes++
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// hydraRegistrationDisabled is Hydra's answer to a registration when
// dynamic registration is off (the endpoint is advertised by the
// client_registration_url setting, independently).
func hydraRegistrationDisabled(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]string{
		"error":             "The requested resource could not be found",
		"error_description": "Dynamic registration is not enabled.",
	})
}

// hydraMetadata adjusts the AS metadata m to Hydra's discovery document.
func (s *Server) hydraMetadata(m map[string]any) {
	delete(m, "authorization_response_iss_parameter_supported")
	delete(m, "revocation_endpoint_auth_methods_supported")
	m["code_challenge_methods_supported"] = []string{"plain", "S256"}
	m["token_endpoint_auth_methods_supported"] = []string{"client_secret_post", "client_secret_basic", "private_key_jwt", "none"}
	m["response_types_supported"] = []string{"code", "code id_token", "id_token", "token id_token", "token", "token id_token code"}
	m["response_modes_supported"] = []string{"query", "fragment", "form_post"}
	m["grant_types_supported"] = []string{"authorization_code", "implicit", "client_credentials", "refresh_token"}
	m["subject_types_supported"] = []string{"public"}
	m["jwks_uri"] = s.IssuerURL + "/.well-known/jwks.json"
	m["userinfo_endpoint"] = s.IssuerURL + "/userinfo"
	m["end_session_endpoint"] = s.IssuerURL + "/oauth2/sessions/logout"
	m["id_token_signing_alg_values_supported"] = []string{"RS256"}
	m["request_parameter_supported"] = true
	m["request_uri_parameter_supported"] = true
	m["require_request_uri_registration"] = true
	m["claims_parameter_supported"] = false
	m["backchannel_logout_supported"] = true
	m["frontchannel_logout_supported"] = true
	m["registration_endpoint"] = s.IssuerURL + "/register"
}

// hydraClientScopeAllows reports whether client c may request every scope
// in scopes (Hydra refuses scopes outside the client's "scope").
func hydraClientScopeAllows(c *Client, scopes []string) (string, bool) {
	if c.Scope == "" {
		return "", true
	}
	allowed := strings.Fields(c.Scope)
	for _, sc := range scopes {
		if !slices.Contains(allowed, sc) {
			return sc, false
		}
	}
	return "", true
}
