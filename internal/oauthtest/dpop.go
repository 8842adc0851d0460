package oauthtest

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// RFC 9449 DPoP (Options.DPoPAlgs): the AS binds a token to the key of the
// proof on the token request (token_type "DPoP"); a bound refresh token
// needs a proof of the same key; the MCP server takes a bound token only
// with the DPoP scheme and a valid proof of that key for the request, and
// its 401 challenges use the DPoP scheme. Either side can require a nonce
// (SetTokenNonce, SetMCPNonce). Proofs are verified as a real server
// does (signature, typ, jwk, htm, htu, jti, iat, ath); what fails is
// refused and recorded in Problems.

// Proof is a verified DPoP proof, as Proofs returns it.
type Proof struct {
	Endpoint string // "token" or "mcp"
	JKT      string // the key's RFC 7638 thumbprint
	JTI      string
	Nonce    string
}

// Proofs returns the DPoP proofs verified so far, in order.
func (s *Server) Proofs() []Proof {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.proofs)
}

// Problems returns what the servers refused as a protocol violation by the
// client (a bad DPoP proof, a bound token sent as Bearer, a bad client
// assertion, an unexpected JWT bearer assertion). A test fails on any.
func (s *Server) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.problems)
}

func (s *Server) problemLocked(format string, args ...any) {
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

// dpopNonce is a nonce requirement of one side.
type dpopNonce struct {
	value  string // "" none
	rotate bool   // a new one every time
}

// SetTokenNonce makes the token endpoint require nonce in DPoP proofs
// (use_dpop_nonce otherwise); with rotate, every request is answered with a
// new one, as a server whose nonces outrun its clients. "" stops.
func (s *Server) SetTokenNonce(nonce string, rotate bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenNonce = dpopNonce{nonce, rotate}
}

// SetMCPNonce is SetTokenNonce for the MCP server.
func (s *Server) SetMCPNonce(nonce string, rotate bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mcpNonce = dpopNonce{nonce, rotate}
}

// checkNonceLocked reports whether nonce satisfies n; if not it returns
// the nonce to send.
func checkNonceLocked(n *dpopNonce, nonce string) (string, bool) {
	if n.value == "" || (nonce == n.value && !n.rotate) {
		return "", true
	}
	if n.rotate {
		n.value = randomToken("nonce-")
	}
	return n.value, false
}

func (s *Server) clientNow() time.Time {
	if s.opts.ClientClock != nil {
		return s.opts.ClientClock()
	}
	return time.Now()
}

// accessTokenHash is RFC 9449's ath: base64url(SHA-256(token)).
func accessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// verifyProof checks a DPoP proof for method and target (and, when
// accessToken is set, its ath) and returns the key's thumbprint and the
// proof's claims.
func verifyProof(now time.Time, proof, method, target, accessToken string) (string, map[string]any, error) {
	sig, err := jose.ParseSignedCompact(proof, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return "", nil, err
	}
	h := sig.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return "", nil, fmt.Errorf("typ %q", typ)
	}
	if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() {
		return "", nil, fmt.Errorf("jwk missing or private")
	}
	payload, err := sig.Verify(h.JSONWebKey)
	if err != nil {
		return "", nil, err
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", nil, err
	}
	if c["htm"] != method || c["htu"] != target {
		return "", nil, fmt.Errorf("htm/htu %v %v, want %s %s", c["htm"], c["htu"], method, target)
	}
	if jti, _ := c["jti"].(string); len(jti) < 16 {
		return "", nil, fmt.Errorf("jti %q", jti)
	}
	if iat, _ := c["iat"].(float64); now.Sub(time.Unix(int64(iat), 0)).Abs() > time.Minute {
		return "", nil, fmt.Errorf("iat %v", c["iat"])
	}
	if accessToken != "" && c["ath"] != accessTokenHash(accessToken) {
		return "", nil, fmt.Errorf("ath %v", c["ath"])
	}
	tp, err := h.JSONWebKey.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", nil, err
	}
	return base64.RawURLEncoding.EncodeToString(tp), c, nil
}

// tokenProof verifies the DPoP proof of a token request, if there is one,
// and returns its key's thumbprint ("" without a proof).
func (s *Server) tokenProof(w http.ResponseWriter, r *http.Request) (string, *oauthError) {
	p := r.Header.Get("DPoP")
	if p == "" || len(s.opts.DPoPAlgs) == 0 {
		return "", nil
	}
	jkt, c, err := verifyProof(s.clientNow(), p, http.MethodPost, s.TokenEndpoint(), "")
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.problemLocked("token request proof: %v", err)
		return "", newError("invalid_dpop_proof", "the DPoP proof is invalid")
	}
	jti, _ := c["jti"].(string)
	nonce, _ := c["nonce"].(string)
	s.proofs = append(s.proofs, Proof{Endpoint: "token", JKT: jkt, JTI: jti, Nonce: nonce})
	if want, ok := checkNonceLocked(&s.tokenNonce, nonce); !ok {
		w.Header().Set("DPoP-Nonce", want)
		return "", newError("use_dpop_nonce", "the authorization server requires a DPoP nonce")
	}
	return jkt, nil
}

// mcpProof checks the DPoP side of an MCP request with token tok bound to
// jkt ("" unbound) sent with scheme ("bearer" or "dpop"). On refusal it
// returns the status and the WWW-Authenticate challenge to send.
func (s *Server) mcpProof(w http.ResponseWriter, r *http.Request, scheme, tok, jkt string) (int, string) {
	if jkt == "" {
		if scheme != "bearer" {
			s.mu.Lock()
			s.problemLocked("bearer token sent with scheme %q", scheme)
			s.mu.Unlock()
			return http.StatusUnauthorized, `Bearer error="invalid_token", error_description="the token is not DPoP-bound"`
		}
		return 0, ""
	}
	got, c, err := verifyProof(s.clientNow(), r.Header.Get("DPoP"), r.Method, s.MCPURL, tok)
	s.mu.Lock()
	defer s.mu.Unlock()
	if scheme != "dpop" || err != nil || got != jkt {
		s.problemLocked("MCP request with a DPoP-bound token: scheme %q, proof %v (key %q, token bound to %q)", scheme, err, got, jkt)
		return http.StatusUnauthorized, `DPoP error="invalid_token", error_description="the DPoP proof is missing or invalid"`
	}
	jti, _ := c["jti"].(string)
	nonce, _ := c["nonce"].(string)
	s.proofs = append(s.proofs, Proof{Endpoint: "mcp", JKT: got, JTI: jti, Nonce: nonce})
	if want, ok := checkNonceLocked(&s.mcpNonce, nonce); !ok {
		w.Header().Set("DPoP-Nonce", want)
		return http.StatusUnauthorized, `DPoP error="use_dpop_nonce", error_description="nonce required"`
	}
	return 0, ""
}
