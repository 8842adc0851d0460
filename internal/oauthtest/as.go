package oauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcplink/mcplink/internal/netutil"
)

const (
	codeLifetime    = 5 * time.Minute
	consentLifetime = 10 * time.Minute
	maxBodyBytes    = 64 << 10
)

// authRequest is a validated authorization request.
type authRequest struct {
	clientID    string
	redirectURI string
	state       string
	scopes      []string
	resource    string
	challenge   string
	expiry      time.Time
}

type authCode struct {
	authRequest
	used   bool
	family string // set once the code has been redeemed
}

type accessToken struct {
	jkt      string // DPoP key thumbprint; "" for a bearer token
	clientID string
	scopes   []string
	resource string
	expiry   time.Time
	revoked  bool
	family   string
}

type refreshToken struct {
	jkt      string // DPoP key thumbprint of a bound refresh token
	clientID string
	scopes   []string // the scopes of the original grant
	resource string
	family   string
	rotated  bool
	revoked  bool
}

// oauthError is an RFC 6749 §5.2 error response.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	status      int
	basicAuth   bool // add WWW-Authenticate: Basic to a 401
}

func newError(code, desc string) *oauthError {
	status := http.StatusBadRequest
	switch code {
	case "invalid_client":
		status = http.StatusUnauthorized
	case "server_error":
		status = http.StatusInternalServerError
	case "temporarily_unavailable":
		status = http.StatusServiceUnavailable
	}
	return &oauthError{Code: code, Description: desc, status: status}
}

func (e *oauthError) write(w http.ResponseWriter) {
	if e.status == http.StatusUnauthorized && e.basicAuth {
		w.Header().Set("WWW-Authenticate", `Basic realm="oauthtest"`)
	}
	writeJSON(w, e.status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomToken(prefix string) string {
	return prefix + rand.Text()
}

func (s *Server) asHandler() http.Handler {
	p := s.opts.IssuerPath
	mux := http.NewServeMux()
	for _, mp := range s.metadataPaths() {
		mux.HandleFunc("GET "+mp, s.handleMetadata)
	}
	if !s.opts.DisableDCR {
		mux.HandleFunc("POST "+p+"/register", s.handleRegister)
		if s.opts.HydraQuirks || s.opts.RegistrationManagement {
			mux.HandleFunc("DELETE "+p+"/register/{id}", s.handleRegistrationDelete)
		}
	}
	mux.HandleFunc("GET "+p+"/authorize", s.handleAuthorize)
	mux.HandleFunc("POST "+p+"/authorize/decision", s.handleDecision)
	mux.HandleFunc("POST "+p+"/token", s.handleToken)
	if !s.opts.NoRevocation {
		mux.HandleFunc("POST "+p+"/revoke", s.handleRevoke)
	}
	if s.opts.IdPIDToken != "" {
		mux.HandleFunc("POST "+p+"/idp/token", s.handleIdPToken)
	}
	if s.opts.DeviceFlow {
		mux.HandleFunc("POST "+p+"/device_authorization", s.handleDeviceAuthorization)
		mux.HandleFunc("GET "+p+"/device", s.handleDeviceVerification)
		mux.HandleFunc("POST "+p+"/device", s.handleDeviceVerification)
	}
	return mux
}

// AuthorizationEndpoint, TokenEndpoint, RegistrationEndpoint and
// RevocationEndpoint return the AS endpoint URLs.
func (s *Server) AuthorizationEndpoint() string { return s.IssuerURL + "/authorize" }

// TokenEndpoint returns the token endpoint URL.
func (s *Server) TokenEndpoint() string { return s.IssuerURL + "/token" }

// RegistrationEndpoint returns the RFC 7591 registration endpoint URL, or ""
// when Options.DisableDCR is set.
func (s *Server) RegistrationEndpoint() string {
	if s.opts.DisableDCR {
		return ""
	}
	return s.IssuerURL + "/register"
}

// RevocationEndpoint returns the RFC 7009 revocation endpoint URL, or ""
// when Options.NoRevocation is set.
func (s *Server) RevocationEndpoint() string {
	if s.opts.NoRevocation {
		return ""
	}
	return s.IssuerURL + "/revoke"
}

// MetadataURL returns the RFC 8414 metadata URL of the AS.
func (s *Server) MetadataURL() string {
	u, _ := url.Parse(s.IssuerURL) // IssuerURL is built by Start
	return u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + s.opts.IssuerPath
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	grants := []string{GrantAuthorizationCode, GrantRefreshToken}
	m := map[string]any{
		"issuer":                                         s.IssuerURL,
		"authorization_endpoint":                         s.AuthorizationEndpoint(),
		"token_endpoint":                                 s.TokenEndpoint(),
		"revocation_endpoint":                            s.RevocationEndpoint(),
		"scopes_supported":                               s.opts.Scopes,
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          grants,
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          s.opts.TokenEndpointAuthMethods,
		"revocation_endpoint_auth_methods_supported":     s.opts.TokenEndpointAuthMethods,
		"authorization_response_iss_parameter_supported": !s.opts.NoIss,
	}
	if s.opts.ClientIDMetadataDocuments {
		m["client_id_metadata_document_supported"] = true
	}
	if s.opts.NoRevocation {
		delete(m, "revocation_endpoint")
		delete(m, "revocation_endpoint_auth_methods_supported")
	}
	if !s.opts.DisableDCR {
		m["registration_endpoint"] = s.RegistrationEndpoint()
	}
	if s.opts.DeviceFlow {
		grants = append(grants, GrantDeviceCode)
		m["device_authorization_endpoint"] = s.DeviceAuthorizationEndpoint()
	}
	for _, g := range []string{GrantClientCredentials, GrantJWTBearer} { // machine.go
		if s.opts.IdPIDToken != "" && g == GrantJWTBearer || slices.ContainsFunc(s.opts.PreRegistered, func(c Client) bool { return slices.Contains(c.GrantTypes, g) }) {
			grants = append(grants, g)
		}
	}
	m["grant_types_supported"] = grants
	if len(s.opts.DPoPAlgs) > 0 {
		m["dpop_signing_alg_values_supported"] = s.opts.DPoPAlgs
	}
	if s.opts.HydraQuirks {
		s.hydraMetadata(m)
	}
	if s.opts.EditMetadata != nil {
		s.opts.EditMetadata(m)
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, m)
}

// registration is the RFC 7591 client metadata we understand.
type registration struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	ApplicationType         string   `json:"application_type,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
}

type registrationResponse struct {
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	registration
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	if s.opts.HydraDCRDisabled {
		hydraRegistrationDisabled(w)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		s.writeError(w, newError("invalid_client_metadata", "registration requests must be application/json"))
		return
	}
	var reg registration
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&reg); err != nil {
		s.writeError(w, newError("invalid_client_metadata", "request body is not a JSON client metadata object"))
		return
	}
	if e := s.validateRegistration(&reg); e != nil {
		s.writeError(w, e)
		return
	}
	c := &Client{
		ClientID:                randomToken("client-"),
		ClientName:              reg.ClientName,
		RedirectURIs:            slices.Clone(reg.RedirectURIs),
		TokenEndpointAuthMethod: reg.TokenEndpointAuthMethod,
		GrantTypes:              slices.Clone(reg.GrantTypes),
		ApplicationType:         reg.ApplicationType,
	}
	if s.opts.HydraQuirks {
		c.Scope = reg.Scope
		if c.Scope == "" {
			c.Scope = strings.Join(s.opts.HydraDefaultClientScope, " ")
		}
	}
	resp := registrationResponse{
		ClientID:         c.ClientID,
		ClientIDIssuedAt: time.Now().Unix(),
		registration:     reg,
	}
	if c.TokenEndpointAuthMethod != AuthMethodNone {
		c.ClientSecret = randomToken("secret-")
		resp.ClientSecret = c.ClientSecret
		never := int64(0)
		resp.ClientSecretExpiresAt = &never
	}
	s.mu.Lock()
	if c.ClientSecret != "" {
		s.secretLocked(c.ClientSecret)
	}
	s.clients[c.ClientID] = c
	s.stats.Registrations++
	s.stats.LastRegistration = *c
	s.stats.LastRegistration.ClientSecret = ""
	s.mu.Unlock()
	if s.opts.HydraQuirks {
		s.hydraRegistered(w, c, &reg)
		return
	}
	doc, _ := json.Marshal(resp)
	var m map[string]any
	_ = json.Unmarshal(doc, &m)
	if s.opts.RegistrationManagement {
		m["registration_access_token"] = s.newRegistrationToken(c.ClientID, "rat-")
		m["registration_client_uri"] = s.RegistrationEndpoint() + "/" + c.ClientID
	}
	if s.opts.EditRegistration != nil {
		s.opts.EditRegistration(m)
	}
	writeJSON(w, http.StatusCreated, m)
}

func (s *Server) validateRegistration(reg *registration) *oauthError {
	if len(reg.RedirectURIs) == 0 {
		return newError("invalid_redirect_uri", "redirect_uris is required")
	}
	for _, u := range reg.RedirectURIs {
		if !isLoopbackHTTP(u) {
			return newError("invalid_redirect_uri", "redirect URIs must be http loopback URLs (http://127.0.0.1:PORT/..., http://[::1]:PORT/... or http://localhost:PORT/...) without a fragment: "+u)
		}
	}
	switch reg.ApplicationType {
	case "":
		reg.ApplicationType = "native"
	case "native":
	case "web":
		return newError("invalid_client_metadata", `application_type "web" may not use http loopback redirect URIs; register as "native"`)
	default:
		return newError("invalid_client_metadata", "unknown application_type "+reg.ApplicationType)
	}
	if len(reg.GrantTypes) == 0 {
		reg.GrantTypes = []string{GrantAuthorizationCode} // RFC 7591 §2 default
	}
	for _, g := range reg.GrantTypes {
		if g != GrantAuthorizationCode && g != GrantRefreshToken && !(g == GrantDeviceCode && s.opts.DeviceFlow) {
			return newError("invalid_client_metadata", "unsupported grant type "+g)
		}
	}
	if !slices.Contains(reg.GrantTypes, GrantAuthorizationCode) {
		return newError("invalid_client_metadata", "grant_types must include authorization_code")
	}
	if len(reg.ResponseTypes) == 0 {
		reg.ResponseTypes = []string{"code"}
	}
	if len(reg.ResponseTypes) != 1 || reg.ResponseTypes[0] != "code" {
		return newError("invalid_client_metadata", `response_types must be ["code"]`)
	}
	if reg.TokenEndpointAuthMethod == "" {
		reg.TokenEndpointAuthMethod = AuthMethodBasic // RFC 7591 §2 default
	}
	if !slices.Contains(s.opts.TokenEndpointAuthMethods, reg.TokenEndpointAuthMethod) {
		return newError("invalid_client_metadata", "unsupported token_endpoint_auth_method "+reg.TokenEndpointAuthMethod)
	}
	for _, sc := range strings.Fields(reg.Scope) {
		if !slices.Contains(s.opts.Scopes, sc) {
			return newError("invalid_client_metadata", "unknown scope "+sc)
		}
	}
	return nil
}

func isLoopbackHTTP(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	return netutil.IsLoopbackHost(u.Hostname())
}

// singleParams returns the query parameters, rejecting repeated ones
// (RFC 6749 §3.1).
func singleParams(v url.Values) (map[string]string, string) {
	out := make(map[string]string, len(v))
	for k, vs := range v {
		if len(vs) != 1 {
			return nil, k
		}
		out[k] = vs[0]
	}
	return out, ""
}

// errorPage is shown instead of redirecting when the client or redirect URI
// cannot be trusted (RFC 6749 §4.1.2.1).
func errorPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte("authorization error: " + msg + "\n"))
}

func (s *Server) redirectWith(w http.ResponseWriter, r *http.Request, redirectURI string, status int, params map[string]string) {
	u, err := url.Parse(redirectURI) // validated at registration
	if err != nil {
		errorPage(w, http.StatusInternalServerError, "bad redirect URI")
		return
	}
	q := u.Query()
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	switch {
	case s.opts.AuthorizationResponseIss != nil:
		if iss := s.opts.AuthorizationResponseIss(s.IssuerURL); iss != "" {
			q.Set("iss", iss)
		}
	case !s.opts.NoIss:
		q.Set("iss", s.IssuerURL)
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), status)
}

func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state string, e *oauthError) {
	if s.opts.HydraQuirks {
		e = hydraError(e)
	}
	s.redirectWith(w, r, redirectURI, http.StatusFound, map[string]string{
		"error": e.Code, "error_description": e.Description, "state": state,
	})
}

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query()
	s.mu.Lock()
	s.stats.AuthorizeRequests++
	s.stats.LastAuthorizeResource = raw.Get("resource")
	s.stats.LastAuthorizeScope = raw.Get("scope")
	s.stats.LastCodeChallengeMethod = raw.Get("code_challenge_method")
	s.stats.LastRedirectURI = raw.Get("redirect_uri")
	s.mu.Unlock()

	c, err := s.lookupClient(r.Context(), raw.Get("client_id"))
	if errors.Is(err, errNoClient) {
		errorPage(w, http.StatusBadRequest, "unknown client_id; register the client first")
		return
	}
	if err != nil {
		errorPage(w, http.StatusBadRequest, err.Error())
		return
	}
	redirectURI := raw.Get("redirect_uri")
	if len(raw["redirect_uri"]) != 1 || !slices.Contains(c.RedirectURIs, redirectURI) {
		errorPage(w, http.StatusBadRequest, "redirect_uri must exactly match a registered redirect URI (including the port)")
		return
	}
	q, dup := singleParams(raw)
	if dup != "" {
		s.redirectError(w, r, redirectURI, raw.Get("state"), newError("invalid_request", "parameter "+dup+" repeated"))
		return
	}
	req, e := s.validateAuthorize(&c, q)
	if e != nil {
		s.redirectError(w, r, redirectURI, q["state"], e)
		return
	}
	if !s.opts.ConsentPage {
		s.approve(w, r, req, http.StatusFound)
		return
	}
	id := randomToken("req-")
	s.mu.Lock()
	s.pending[id] = req
	s.mu.Unlock()
	name := c.ClientName
	if name == "" {
		name = c.ClientID
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	_ = consentTmpl.Execute(w, consentData{
		ClientName: name, Scopes: req.scopes, Resource: req.resource,
		Action: s.opts.IssuerPath + "/authorize/decision", RequestID: id,
	})
}

func (s *Server) validateAuthorize(c *Client, q map[string]string) (*authRequest, *oauthError) {
	if q["response_type"] != "code" {
		return nil, newError("unsupported_response_type", `response_type must be "code"`)
	}
	if !slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
		return nil, newError("unauthorized_client", "client is not registered for the authorization_code grant")
	}
	if q["code_challenge"] == "" {
		return nil, newError("invalid_request", "code_challenge is required (PKCE)")
	}
	if q["code_challenge_method"] != "S256" {
		return nil, newError("invalid_request", `code_challenge_method must be "S256"`)
	}
	if !validPKCEString(q["code_challenge"]) || len(q["code_challenge"]) != 43 {
		return nil, newError("invalid_request", "code_challenge must be the 43-character base64url SHA-256 of the verifier")
	}
	if e := s.checkResource(q["resource"]); e != nil {
		return nil, e
	}
	scopes, e := s.parseScope(q["scope"], s.opts.Scopes, s.opts.DefaultScopes)
	if e != nil {
		return nil, e
	}
	if sc, ok := hydraClientScopeAllows(c, scopes); !ok {
		return nil, newError("invalid_scope", `The OAuth 2.0 Client is not allowed to request scope "`+sc+`".`)
	}
	return &authRequest{
		clientID:    c.ClientID,
		redirectURI: q["redirect_uri"],
		state:       q["state"],
		scopes:      scopes,
		resource:    q["resource"],
		challenge:   q["code_challenge"],
		expiry:      time.Now().Add(codeLifetime),
	}, nil
}

// checkResource validates an RFC 8707 resource parameter.
func (s *Server) checkResource(resource string) *oauthError {
	if resource == "" {
		if s.opts.ResourceOptional {
			return nil
		}
		return newError("invalid_target", "resource is required and must be "+s.resourceID())
	}
	if resource != s.resourceID() {
		return newError("invalid_target", "unknown resource "+resource+"; this server protects "+s.resourceID())
	}
	return nil
}

// parseScope splits a scope parameter and checks every scope is allowed.
func (s *Server) parseScope(scope string, allowed, def []string) ([]string, *oauthError) {
	scopes := strings.Fields(scope)
	if len(scopes) == 0 {
		return slices.Clone(def), nil
	}
	var out []string
	for _, sc := range scopes {
		if !slices.Contains(allowed, sc) {
			return nil, newError("invalid_scope", "scope "+sc+" is not allowed")
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// approve issues a code for req and redirects to the client.
func (s *Server) approve(w http.ResponseWriter, r *http.Request, req *authRequest, status int) {
	code := randomToken("code-")
	if s.opts.PaddedCodes {
		code += "=="
	}
	s.mu.Lock()
	s.secretLocked(code)
	s.pruneLocked()
	s.codes[code] = &authCode{authRequest: *req}
	s.stats.CodesIssued++
	s.mu.Unlock()
	s.redirectWith(w, r, req.redirectURI, status, map[string]string{"code": code, "state": req.state})
}

// pruneLocked forgets expired, never-redeemed codes and abandoned consent
// requests so long-running demos do not grow without bound. Redeemed codes
// are kept: replay detection needs them.
func (s *Server) pruneLocked() {
	now := time.Now()
	for k, c := range s.codes {
		if !c.used && now.After(c.expiry) {
			delete(s.codes, k)
		}
	}
	for k, p := range s.pending {
		if now.After(p.expiry) {
			delete(s.pending, k)
		}
	}
}

func (s *Server) handleDecision(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		errorPage(w, http.StatusBadRequest, "malformed form")
		return
	}
	id := r.PostForm.Get("request_id")
	s.mu.Lock()
	req, ok := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	if !ok || time.Now().After(req.expiry) {
		errorPage(w, http.StatusBadRequest, "unknown or expired authorization request; start the login again")
		return
	}
	switch r.PostForm.Get("action") {
	case "approve":
		s.mu.Lock()
		s.stats.ConsentApprovals++
		s.mu.Unlock()
		s.approve(w, r, req, http.StatusSeeOther)
	case "deny":
		s.mu.Lock()
		s.stats.ConsentDenials++
		s.mu.Unlock()
		s.redirectWith(w, r, req.redirectURI, http.StatusSeeOther, map[string]string{
			"error": "access_denied", "error_description": "the user denied the request", "state": req.state,
		})
	default:
		errorPage(w, http.StatusBadRequest, `action must be "approve" or "deny"`)
	}
}

type consentData struct {
	ClientName string
	Scopes     []string
	Resource   string
	Action     string
	RequestID  string
}

var consentTmpl = template.Must(template.New("consent").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Authorize {{.ClientName}}</title></head>
<body>
<h1>Authorize {{.ClientName}}</h1>
<p>{{.ClientName}} wants to access {{if .Resource}}<code>{{.Resource}}</code>{{else}}the MCP server{{end}} with these scopes:</p>
<ul>{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>
<form method="post" action="{{.Action}}">
<input type="hidden" name="request_id" value="{{.RequestID}}">
<button type="submit" id="approve" name="action" value="approve">Approve</button>
<button type="submit" id="deny" name="action" value="deny">Deny</button>
</form>
</body></html>
`))

func validPKCEString(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// parseTokenForm reads an application/x-www-form-urlencoded body, rejecting
// repeated parameters.
func parseTokenForm(w http.ResponseWriter, r *http.Request) (map[string]string, *oauthError) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil, newError("invalid_request", "requests must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		return nil, newError("invalid_request", "malformed form body")
	}
	f, dup := singleParams(r.PostForm)
	if dup != "" {
		return nil, newError("invalid_request", "parameter "+dup+" repeated")
	}
	return f, nil
}

// authenticateClient applies the client's registered token endpoint auth
// method. Exactly one method may be used (RFC 6749 §2.3).
func (s *Server) authenticateClient(r *http.Request, f map[string]string) (*Client, string, *oauthError) {
	id, secret, hasBasic := r.BasicAuth()
	method := AuthMethodNone
	switch {
	case hasBasic:
		if f["client_secret"] != "" {
			return nil, "", newError("invalid_request", "use one client authentication method, not Basic and client_secret together")
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			e := newError("invalid_client", "malformed Basic credentials")
			e.basicAuth = true
			return nil, "", e
		}
		if f["client_id"] != "" && f["client_id"] != id {
			return nil, "", newError("invalid_request", "client_id does not match the Basic credentials")
		}
		method = AuthMethodBasic
	case f["client_secret"] != "":
		id, secret = f["client_id"], f["client_secret"]
		method = AuthMethodPost
	case f["client_assertion_type"] != "" || f["client_assertion"] != "":
		if f["client_assertion_type"] != ClientAssertionTypeJWTBearer {
			return nil, "", newError("invalid_client", "unsupported client_assertion_type")
		}
		id = f["client_id"]
		method = AuthMethodPrivateKeyJWT
	default:
		id = f["client_id"]
	}
	s.mu.Lock()
	s.stats.LastClientAuthMethod = method
	client, ok := s.clients[id]
	var c Client
	if ok {
		c = *client
	}
	s.mu.Unlock()

	fail := func(desc string) (*Client, string, *oauthError) {
		e := newError("invalid_client", desc)
		e.basicAuth = hasBasic
		return nil, "", e
	}
	if id == "" {
		return fail("client authentication required")
	}
	if !ok {
		return fail("unknown client")
	}
	if c.TokenEndpointAuthMethod != method {
		return fail("client is registered for " + c.TokenEndpointAuthMethod + " but authenticated with " + method)
	}
	if method == AuthMethodPrivateKeyJWT {
		if !s.verifyClientAssertion(&c, f["client_assertion"]) {
			return fail("invalid client assertion")
		}
	} else if method != AuthMethodNone && subtle.ConstantTimeCompare([]byte(secret), []byte(c.ClientSecret)) != 1 {
		return fail("wrong client secret")
	}
	return &c, method, nil
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	resp, e := s.token(w, r)
	if e != nil {
		s.mu.Lock()
		s.stats.TokenErrors++
		s.mu.Unlock()
		s.writeError(w, e)
		return
	}
	if s.opts.HydraQuirks {
		resp.TokenType = "bearer"
		resp.ExpiresIn = max(resp.ExpiresIn-1, 1)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) (*tokenResponse, *oauthError) {
	f, e := parseTokenForm(w, r)
	grant := ""
	if f != nil {
		grant = f["grant_type"]
	}
	s.mu.Lock()
	s.stats.TokenRequests[grant]++
	injected := s.nextTokenError
	s.nextTokenError = ""
	delay := s.tokenDelay
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return nil, newError("temporarily_unavailable", "request cancelled")
		}
	}
	s.mu.Lock()
	if injected == "" {
		injected = s.failGrantLocked(grant)
	}
	s.mu.Unlock()
	if injected != "" {
		return nil, newError(injected, "error injected by the test")
	}
	if e != nil {
		return nil, e
	}
	jkt, e := s.tokenProof(w, r)
	if e != nil {
		return nil, e
	}
	c := &Client{} // an anonymous JWT bearer grant
	if !anonymous(r, f) {
		if c, _, e = s.authenticateClient(r, f); e != nil {
			return nil, e
		}
	}
	switch grant {
	case GrantAuthorizationCode:
		return s.grantCode(c, f, jkt)
	case GrantRefreshToken:
		return s.grantRefresh(c, f, jkt)
	case GrantClientCredentials:
		return s.grantClientCredentials(c, f, jkt)
	case GrantJWTBearer:
		return s.grantJWTBearer(c, f, jkt)
	case GrantDeviceCode:
		if s.opts.DeviceFlow {
			return s.grantDevice(c, f, jkt)
		}
		return nil, newError("unsupported_grant_type", "unsupported grant_type "+grant)
	case "":
		return nil, newError("invalid_request", "grant_type is required")
	default:
		return nil, newError("unsupported_grant_type", "unsupported grant_type "+grant)
	}
}

func (s *Server) grantCode(c *Client, f map[string]string, jkt string) (*tokenResponse, *oauthError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.LastTokenResource = f["resource"]
	if !slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
		return nil, newError("unauthorized_client", "client is not registered for the authorization_code grant")
	}
	code, ok := s.codes[f["code"]]
	if f["code"] == "" {
		return nil, newError("invalid_request", "code is required")
	}
	if !ok || code.clientID != c.ClientID || time.Now().After(code.expiry) {
		return nil, newError("invalid_grant", "unknown or expired authorization code")
	}
	if code.used {
		// RFC 6749 §4.1.2: revoke what was issued from a replayed code.
		s.revokeFamilyLocked(code.family)
		return nil, newError("invalid_grant", "authorization code already used")
	}
	code.used = true // single use, even if the rest of the request fails
	if f["redirect_uri"] != code.redirectURI {
		return nil, newError("invalid_grant", "redirect_uri does not match the authorization request")
	}
	verifier := f["code_verifier"]
	if verifier == "" {
		return nil, newError("invalid_request", "code_verifier is required (PKCE)")
	}
	if !validPKCEString(verifier) || subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(code.challenge)) != 1 {
		return nil, newError("invalid_grant", "code_verifier does not match code_challenge")
	}
	if e := s.checkResource(f["resource"]); e != nil {
		return nil, e
	}
	if f["resource"] != "" && code.resource != "" && f["resource"] != code.resource {
		return nil, newError("invalid_target", "resource differs from the authorization request")
	}
	resource := code.resource
	if resource == "" {
		resource = f["resource"]
	}
	code.family = randomToken("fam-")
	scopes := code.scopes
	if s.opts.GrantScope != nil {
		scopes = s.opts.GrantScope(slices.Clone(scopes))
	}
	return s.issueLocked(c, scopes, scopes, resource, code.family, true, jkt), nil
}

func (s *Server) grantRefresh(c *Client, f map[string]string, jkt string) (*tokenResponse, *oauthError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.LastRefreshResource = f["resource"]
	s.stats.LastRefreshScope = f["scope"]
	if !slices.Contains(c.GrantTypes, GrantRefreshToken) {
		return nil, newError("unauthorized_client", "client is not registered for the refresh_token grant")
	}
	if f["refresh_token"] == "" {
		return nil, newError("invalid_request", "refresh_token is required")
	}
	rt, ok := s.refresh[f["refresh_token"]]
	if !ok || rt.revoked || rt.clientID != c.ClientID {
		return nil, newError("invalid_grant", "unknown or revoked refresh token")
	}
	if rt.rotated {
		// Reuse of a rotated refresh token: assume theft, kill the family.
		s.revokeFamilyLocked(rt.family)
		return nil, newError("invalid_grant", "refresh token already used; it was rotated")
	}
	if rt.jkt != "" && rt.jkt != jkt {
		s.problemLocked("refresh with DPoP key %q, refresh token bound to %q", jkt, rt.jkt)
		return nil, newError("invalid_grant", "the refresh token is bound to another DPoP key")
	}
	if e := s.checkResource(f["resource"]); e != nil {
		return nil, e
	}
	if f["resource"] != "" && rt.resource != "" && f["resource"] != rt.resource {
		return nil, newError("invalid_target", "resource differs from the original grant")
	}
	scopes, e := s.parseScope(f["scope"], rt.scopes, rt.scopes)
	if e != nil {
		return nil, e
	}
	rotate := !s.opts.NoRefreshRotation
	if rotate {
		rt.rotated = true
	}
	s.stats.Refreshes++
	return s.issueLocked(c, scopes, rt.scopes, rt.resource, rt.family, rotate, jkt), nil
}

// issueLocked mints an access token and, if newRefresh and the client may
// refresh, a refresh token carrying grantScopes; both are bound to the DPoP
// key jkt when it is set.
func (s *Server) issueLocked(c *Client, scopes, grantScopes []string, resource, family string, newRefresh bool, jkt string) *tokenResponse {
	at := s.secretLocked(randomToken("at-"))
	s.access[at] = &accessToken{
		jkt:      jkt,
		clientID: c.ClientID,
		scopes:   slices.Clone(scopes),
		resource: resource,
		expiry:   time.Now().Add(s.opts.TokenLifetime),
		family:   family,
	}
	resp := &tokenResponse{
		AccessToken: at,
		TokenType:   "Bearer",
		ExpiresIn:   int64(s.opts.TokenLifetime / time.Second),
		Scope:       strings.Join(scopes, " "),
	}
	if jkt != "" {
		resp.TokenType = "DPoP"
	}
	canRefresh := slices.Contains(c.GrantTypes, GrantRefreshToken) &&
		(!s.opts.RefreshRequiresOfflineAccess || slices.Contains(grantScopes, ScopeOfflineAccess) ||
			(s.opts.HydraQuirks && slices.Contains(grantScopes, "offline")))
	if newRefresh && canRefresh {
		rt := s.secretLocked(randomToken("rt-"))
		s.refresh[rt] = &refreshToken{
			jkt:      jkt,
			clientID: c.ClientID,
			scopes:   slices.Clone(grantScopes),
			resource: resource,
			family:   family,
		}
		resp.RefreshToken = rt
	}
	return resp
}

func (s *Server) revokeFamilyLocked(family string) {
	if family == "" {
		return
	}
	for _, t := range s.access {
		if t.family == family {
			t.revoked = true
		}
	}
	for _, t := range s.refresh {
		if t.family == family {
			t.revoked = true
		}
	}
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	f, e := parseTokenForm(w, r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	c, _, e := s.authenticateClient(r, f)
	if e != nil {
		s.writeError(w, e)
		return
	}
	tok := f["token"]
	if tok == "" {
		s.writeError(w, newError("invalid_request", "token is required"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.access[tok]; ok {
		if at.clientID != c.ClientID {
			s.writeError(w, newError("unauthorized_client", "token was issued to another client"))
			return
		}
		at.revoked = true
	} else if rt, ok := s.refresh[tok]; ok {
		if rt.clientID != c.ClientID {
			s.writeError(w, newError("unauthorized_client", "token was issued to another client"))
			return
		}
		s.revokeFamilyLocked(rt.family) // RFC 7009 §2.1: also revoke its access tokens
	}
	// Unknown tokens are not an error (RFC 7009 §2.2).
	s.stats.Revocations++
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
