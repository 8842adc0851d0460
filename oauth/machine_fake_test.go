package oauth

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// machineAS is a loopback MCP resource server + authorization server +
// enterprise IdP for the machine grants and DPoP. It verifies DPoP proofs
// and client assertions with go-jose, as a real server would.
type machineAS struct {
	t   *testing.T
	srv *httptest.Server
	mcp string
	iss string

	// Behaviour.
	dpopAlgs       []string // advertised dpop_signing_alg_values_supported
	asNonce        string   // AS requires this nonce ("" none)
	asNonceAlways  bool     // AS answers use_dpop_nonce with a new nonce every time
	rsNonce        string   // RS requires this nonce
	rsNonceAlways  bool
	clientSecret   string // client_secret_basic secret of clientID
	clientID       string
	clientKey      crypto.PublicKey // private_key_jwt verification key
	failGrant      string           // error code for every token request
	expiresIn      int
	wantIDToken    string // IdP: expected subject_token
	wantAssertions []string
	now            func() time.Time // the clients' clock, for iat checks
	mcpHandler     http.Handler     // serves authorized MCP requests; nil: a fixed JSON answer

	mu          sync.Mutex
	tokenForms  []url.Values
	tokenJKTs   []string // jkt of each token request's proof ("" none)
	tokenNonces []string
	assertJTIs  []string
	mcpReqs     []*http.Request
	mcpJTIs     []string
	mcpNonces   []string
	access      map[string]string // token → jkt ("" bearer)
	refresh     map[string]string // refresh token → jkt
	idpForms    []url.Values
	n           int
	problems    []string
}

func newMachineAS(t *testing.T) *machineAS {
	m := &machineAS{t: t, access: map[string]string{}, refresh: map[string]string{}, expiresIn: 3600, now: time.Now}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	m.mcp = m.srv.URL + "/mcp"
	m.iss = m.srv.URL
	t.Cleanup(func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, p := range m.problems {
			t.Errorf("server saw: %s", p)
		}
	})
	return m
}

func (m *machineAS) problem(format string, args ...any) {
	m.problems = append(m.problems, fmt.Sprintf(format, args...))
}

// verifyProof checks a DPoP proof for method and target and returns its
// key thumbprint and claims.
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

func (m *machineAS) next(p string) string {
	m.n++
	return fmt.Sprintf("%s-%d", p, m.n)
}

func (m *machineAS) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/mcp" {
		m.mu.Lock()
		ok := m.checkMCP(w, r)
		h := m.mcpHandler
		m.mu.Unlock()
		switch {
		case !ok:
		case h != nil:
			h.ServeHTTP(w, r) // outside the lock: it may stream
		default:
			writeJSON(w, 200, map[string]any{"jsonrpc": "2.0", "id": 1, "result": map[string]any{}})
		}
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch r.URL.Path {
	case "/.well-known/oauth-protected-resource/mcp":
		writeJSON(w, 200, map[string]any{"resource": m.mcp, "authorization_servers": []string{m.iss}})
	case "/.well-known/oauth-authorization-server":
		md := map[string]any{
			"issuer": m.iss, "authorization_endpoint": m.iss + "/authorize", "token_endpoint": m.iss + "/token",
			"registration_endpoint": m.iss + "/register", "code_challenge_methods_supported": []string{"S256"},
			"grant_types_supported": []string{"authorization_code", "refresh_token", "client_credentials", GrantTypeJWTBearer},
		}
		if m.dpopAlgs != nil {
			md["dpop_signing_alg_values_supported"] = m.dpopAlgs
		}
		writeJSON(w, 200, md)
	case "/register":
		writeJSON(w, 201, map[string]any{"client_id": "dyn-client", "token_endpoint_auth_method": "none"})
	case "/authorize":
		q := r.URL.Query()
		ru, _ := url.Parse(q.Get("redirect_uri"))
		ru.RawQuery = url.Values{"code": {"CODE"}, "state": {q.Get("state")}, "iss": {m.iss}}.Encode()
		http.Redirect(w, r, ru.String(), http.StatusFound)
	case "/token":
		m.serveToken(w, r)
	case "/idp/token":
		r.ParseForm()
		m.idpForms = append(m.idpForms, r.PostForm)
		if r.PostForm.Get("subject_token") != m.wantIDToken {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
			return
		}
		writeJSON(w, 200, map[string]string{"access_token": "JAG-" + r.PostForm.Get("audience"), "issued_token_type": TokenTypeIDJAG, "token_type": "N_A"})
	default:
		http.NotFound(w, r)
	}
}

// checkMCP authorizes an MCP request, answering it when it fails.
func (m *machineAS) checkMCP(w http.ResponseWriter, r *http.Request) bool {
	m.mcpReqs = append(m.mcpReqs, r)
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	jkt, ok := m.access[tok]
	if !ok {
		scheme := "Bearer"
		if m.dpopAlgs != nil {
			scheme = "DPoP"
		}
		w.Header().Set("WWW-Authenticate", scheme+` resource_metadata="`+m.srv.URL+`/.well-known/oauth-protected-resource/mcp"`)
		w.WriteHeader(401)
		return false
	}
	if jkt == "" {
		if scheme != "Bearer" {
			m.problem("bearer token sent with scheme %q", scheme)
		}
		return true
	}
	if scheme != "DPoP" {
		m.problem("DPoP-bound token sent with scheme %q", scheme)
	}
	got, c, err := verifyProof(m.now(), r.Header.Get("DPoP"), r.Method, m.mcp, tok)
	if err != nil || got != jkt {
		m.problem("MCP proof: %v (jkt %q, token bound to %q)", err, got, jkt)
		w.WriteHeader(401)
		return false
	}
	jti, _ := c["jti"].(string)
	nonce, _ := c["nonce"].(string)
	m.mcpJTIs = append(m.mcpJTIs, jti)
	m.mcpNonces = append(m.mcpNonces, nonce)
	if m.rsNonce != "" && (nonce != m.rsNonce || m.rsNonceAlways) {
		if m.rsNonceAlways {
			m.rsNonce = m.next("rs-nonce")
		}
		w.Header().Set("DPoP-Nonce", m.rsNonce)
		w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="nonce required"`)
		w.WriteHeader(401)
		return false
	}
	return true
}

func (m *machineAS) serveToken(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	form := r.PostForm
	m.tokenForms = append(m.tokenForms, form)
	jkt, nonce := "", ""
	if p := r.Header.Get("DPoP"); p != "" {
		var c map[string]any
		var err error
		jkt, c, err = verifyProof(m.now(), p, "POST", m.iss+"/token", "")
		if err != nil {
			m.problem("token proof: %v", err)
			writeJSON(w, 400, map[string]string{"error": "invalid_dpop_proof"})
			return
		}
		nonce, _ = c["nonce"].(string)
	}
	m.tokenJKTs = append(m.tokenJKTs, jkt)
	m.tokenNonces = append(m.tokenNonces, nonce)
	if jkt != "" && m.asNonce != "" && (nonce != m.asNonce || m.asNonceAlways) {
		if m.asNonceAlways {
			m.asNonce = m.next("as-nonce")
		}
		w.Header().Set("DPoP-Nonce", m.asNonce)
		writeJSON(w, 400, map[string]string{"error": "use_dpop_nonce"})
		return
	}
	if m.failGrant != "" {
		writeJSON(w, 400, map[string]string{"error": m.failGrant, "error_description": "rejected by test"})
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
	case "refresh_token":
		bound, ok := m.refresh[form.Get("refresh_token")]
		if !ok || bound != jkt {
			m.problem("refresh with key %q, token bound to %q (known %v)", jkt, bound, ok)
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
			return
		}
	case "client_credentials":
		if !m.clientAuthOK(r, form) {
			writeJSON(w, 401, map[string]string{"error": "invalid_client"})
			return
		}
	case GrantTypeJWTBearer:
		if m.wantAssertions != nil {
			want := m.wantAssertions[0]
			m.wantAssertions = m.wantAssertions[1:]
			if form.Get("assertion") != want {
				m.problem("assertion %q, want %q", form.Get("assertion"), want)
			}
		}
		if m.clientID != "" && !m.clientAuthOK(r, form) {
			writeJSON(w, 401, map[string]string{"error": "invalid_client"})
			return
		}
	default:
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	at, rt := m.next("AT"), m.next("RT")
	m.access[at], m.refresh[rt] = jkt, jkt
	tt := "Bearer"
	if jkt != "" {
		tt = "DPoP"
	}
	writeJSON(w, 200, map[string]any{"access_token": at, "refresh_token": rt, "token_type": tt, "expires_in": m.expiresIn})
}

func (m *machineAS) clientAuthOK(r *http.Request, form url.Values) bool {
	if id, secret, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		return id == m.clientID && secret == m.clientSecret && m.clientSecret != ""
	}
	if form.Get("client_assertion_type") != ClientAssertionTypeJWTBearer || m.clientKey == nil {
		return false
	}
	tok, err := jwt.ParseSigned(form.Get("client_assertion"), []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		m.problem("assertion: %v", err)
		return false
	}
	var c jwt.Claims
	if err := tok.Claims(m.clientKey, &c); err != nil {
		m.problem("assertion signature: %v", err)
		return false
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: m.clientID, Subject: m.clientID, AnyAudience: jwt.Audience{m.iss}, Time: m.now()}, 0); err != nil {
		m.problem("assertion claims: %v", err)
		return false
	}
	if c.Expiry.Time().Sub(c.IssuedAt.Time()) > 2*time.Minute || c.ID == "" {
		m.problem("assertion lifetime %v, jti %q", c.Expiry.Time().Sub(c.IssuedAt.Time()), c.ID)
	}
	m.assertJTIs = append(m.assertJTIs, c.ID)
	return form.Get("client_id") == m.clientID
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
