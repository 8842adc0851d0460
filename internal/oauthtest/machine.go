package oauthtest

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Machine grants: client credentials (RFC 6749 §4.4) for confidential
// PreRegistered clients, authenticated with a secret or with
// private_key_jwt (RFC 7523 §2.2, Client.PublicKey); the JWT bearer grant
// (RFC 7523 §2.1), whose assertions are the ones ExpectAssertions names or
// identity assertion grants (ID-JAG) the IdP endpoint issued; and an
// enterprise IdP's token exchange (RFC 8693, Options.IdPIDToken). Machine
// grants issue no refresh token: the client asks again.

// Machine grant types, token types and the client assertion type.
const (
	GrantClientCredentials       = "client_credentials"
	GrantJWTBearer               = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantTokenExchange           = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeIDJAG               = "urn:ietf:params:oauth:token-type:id-jag"
	TokenTypeIDToken             = "urn:ietf:params:oauth:token-type:id_token"
	ClientAssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// AuthMethodPrivateKeyJWT authenticates a client with a JWT signed by
	// its key (Client.PublicKey verifies it).
	AuthMethodPrivateKeyJWT = "private_key_jwt"
)

// ExpectAssertions makes later JWT bearer grants present these assertions,
// in order; another one is refused with invalid_grant and recorded in
// Problems.
func (s *Server) ExpectAssertions(assertions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.assertions = append(s.assertions, assertions...)
}

// IdPTokenEndpoint is the enterprise IdP's token exchange endpoint
// (Options.IdPIDToken).
func (s *Server) IdPTokenEndpoint() string { return s.IssuerURL + "/idp/token" }

// verifyClientAssertion checks a private_key_jwt assertion of client c
// (RFC 7523 §3): signed by c's key, iss and sub the client, aud the
// issuer, short-lived, with a jti.
func (s *Server) verifyClientAssertion(c *Client, assertion string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.PublicKey == nil {
		s.problemLocked("client %q sent a client assertion but has no key", c.ClientID)
		return false
	}
	tok, err := jwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		s.problemLocked("client assertion: %v", err)
		return false
	}
	var cl jwt.Claims
	if err := tok.Claims(c.PublicKey, &cl); err != nil {
		s.problemLocked("client assertion signature: %v", err)
		return false
	}
	want := jwt.Expected{Issuer: c.ClientID, Subject: c.ClientID, AnyAudience: jwt.Audience{s.IssuerURL}, Time: s.clientNow()}
	if err := cl.ValidateWithLeeway(want, 0); err != nil {
		s.problemLocked("client assertion claims: %v", err)
		return false
	}
	if cl.Expiry == nil || cl.IssuedAt == nil || cl.Expiry.Time().Sub(cl.IssuedAt.Time()) > 2*time.Minute || cl.ID == "" {
		s.problemLocked("client assertion lifetime or jti: exp %v iat %v jti %q", cl.Expiry, cl.IssuedAt, cl.ID)
		return false
	}
	s.stats.ClientAssertionIDs = append(s.stats.ClientAssertionIDs, cl.ID)
	return true
}

func (s *Server) grantClientCredentials(c *Client, f map[string]string, jkt string) (*tokenResponse, *oauthError) {
	if c.TokenEndpointAuthMethod == AuthMethodNone || !slices.Contains(c.GrantTypes, GrantClientCredentials) {
		return nil, newError("unauthorized_client", "client is not registered for the client_credentials grant")
	}
	return s.machineToken(c, f, jkt)
}

func (s *Server) grantJWTBearer(c *Client, f map[string]string, jkt string) (*tokenResponse, *oauthError) {
	if c.ClientID != "" && !slices.Contains(c.GrantTypes, GrantJWTBearer) {
		return nil, newError("unauthorized_client", "client is not registered for the jwt-bearer grant")
	}
	a := f["assertion"]
	if a == "" {
		return nil, newError("invalid_request", "assertion is required")
	}
	s.mu.Lock()
	ok := false
	switch {
	case s.jags[a]:
		delete(s.jags, a) // single use
		ok = true
	case len(s.assertions) > 0:
		want := s.assertions[0]
		s.assertions = s.assertions[1:]
		if ok = a == want; !ok {
			s.problemLocked("JWT bearer assertion %q, want %q", a, want)
		}
	}
	s.mu.Unlock()
	if !ok {
		return nil, newError("invalid_grant", "unknown assertion")
	}
	return s.machineToken(c, f, jkt)
}

// machineToken issues a machine grant's access token.
func (s *Server) machineToken(c *Client, f map[string]string, jkt string) (*tokenResponse, *oauthError) {
	if e := s.checkResource(f["resource"]); e != nil {
		return nil, e
	}
	scopes, e := s.parseScope(f["scope"], s.opts.Scopes, s.opts.DefaultScopes)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked(c, scopes, scopes, f["resource"], randomToken("fam-"), false, jkt), nil
}

// handleIdPToken is an enterprise IdP's token exchange: the user's ID
// token for an identity assertion grant naming this AS as its audience.
func (s *Server) handleIdPToken(w http.ResponseWriter, r *http.Request) {
	f, e := parseTokenForm(w, r)
	switch {
	case e != nil:
	case f["grant_type"] != GrantTokenExchange:
		e = newError("unsupported_grant_type", "the IdP exchanges tokens only")
	case f["requested_token_type"] != TokenTypeIDJAG || f["subject_token_type"] != TokenTypeIDToken:
		e = newError("invalid_request", "requested_token_type must be "+TokenTypeIDJAG+" and subject_token_type "+TokenTypeIDToken)
	case f["subject_token"] != s.opts.IdPIDToken:
		e = newError("invalid_grant", "unknown ID token")
	case f["audience"] != s.IssuerURL:
		e = newError("invalid_target", "unknown audience "+f["audience"])
	}
	if e != nil {
		e.write(w)
		return
	}
	jag := randomToken("jag-")
	s.mu.Lock()
	if s.jags == nil {
		s.jags = map[string]bool{}
	}
	s.jags[s.secretLocked(jag)] = true
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"access_token": jag, "issued_token_type": TokenTypeIDJAG, "token_type": "N_A"})
}

// anonymous reports whether a token request identifies no client, which
// only the JWT bearer grant allows (RFC 7523 §3.1).
func anonymous(r *http.Request, f map[string]string) bool {
	_, _, basic := r.BasicAuth()
	return f["grant_type"] == GrantJWTBearer && !basic && strings.TrimSpace(f["client_id"]) == "" && f["client_assertion"] == ""
}
