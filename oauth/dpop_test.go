package oauth

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
)

func TestDPoPProofContents(t *testing.T) {
	k, err := newDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse("https://user:pw@mcp.example.com/api/mcp?tenant=1#frag")
	now := time.Unix(1_800_000_000, 0)
	p1, err := k.proof("POST", target, "tok-123", "n-1", now)
	if err != nil {
		t.Fatal(err)
	}
	jkt, c, err := verifyProofAt(p1, "POST", "https://mcp.example.com/api/mcp", "tok-123")
	if err != nil {
		t.Fatal(err)
	}
	if jkt != k.jkt {
		t.Errorf("proof key thumbprint %s, want %s", jkt, k.jkt)
	}
	if c["iat"] != float64(now.Unix()) || c["nonce"] != "n-1" || c["ath"] != accessTokenHash("tok-123") {
		t.Errorf("claims = %v", c)
	}
	// ath is base64url(SHA-256(token)) without padding (RFC 9449 §4.2).
	if got := accessTokenHash("tok-123"); strings.ContainsAny(got, "+/=") || len(got) != 43 {
		t.Errorf("ath %q", got)
	}
	// Fresh jti every time; no ath or nonce when not given.
	seen := map[string]bool{c["jti"].(string): true}
	for range 50 {
		p, err := k.proof("GET", target, "", "", now)
		if err != nil {
			t.Fatal(err)
		}
		_, c, err := verifyProofAt(p, "GET", "https://mcp.example.com/api/mcp", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c["ath"]; ok {
			t.Errorf("ath without a token: %v", c)
		}
		if _, ok := c["nonce"]; ok {
			t.Errorf("nonce without one: %v", c)
		}
		jti := c["jti"].(string)
		if seen[jti] {
			t.Fatalf("jti %s repeated", jti)
		}
		seen[jti] = true
	}
	// The stored key round-trips to the same thumbprint.
	raw, err := k.marshal()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := parseDPoPKey(raw)
	if err != nil || k2.jkt != k.jkt {
		t.Fatalf("parse: %v, jkt %v vs %v", err, k2, k.jkt)
	}
}

// verifyProofAt is verifyProof without the iat window (fixed test clock).
func verifyProofAt(proof, method, target, token string) (string, map[string]any, error) {
	sig, err := jose.ParseSignedCompact(proof, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return "", nil, err
	}
	h := sig.Signatures[0].Protected
	if typ := h.ExtraHeaders[jose.HeaderType]; typ != "dpop+jwt" || h.Algorithm != "ES256" || h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() {
		return "", nil, errors.New("bad header")
	}
	payload, err := sig.Verify(h.JSONWebKey)
	if err != nil {
		return "", nil, err
	}
	var c map[string]any
	json.Unmarshal(payload, &c)
	if c["htm"] != method || c["htu"] != target {
		return "", nil, errors.New("htm/htu " + c["htm"].(string) + " " + c["htu"].(string))
	}
	if token != "" && c["ath"] != accessTokenHash(token) {
		return "", nil, errors.New("ath")
	}
	tp, err := h.JSONWebKey.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", nil, err
	}
	return base64.RawURLEncoding.EncodeToString(tp), c, nil
}

func machineEntry(s *oauthtest.Server, o config.OAuth) *config.Entry {
	return &config.Entry{Name: "srv", Type: config.TypeRemote, Enabled: true, URL: s.MCPURL, OAuth: &o, Source: "/etc/mcplink.json"}
}

// initialize POSTs an MCP initialize request with token through rt and
// returns the status.
func initialize(t *testing.T, rt http.RoundTripper, url, token string) int {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	req, _ := http.NewRequestWithContext(t.Context(), "POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// proofs are the DPoP proofs s verified at one endpoint ("token", "mcp").
func proofs(s *oauthtest.Server, endpoint string) []oauthtest.Proof {
	var out []oauthtest.Proof
	for _, p := range s.Proofs() {
		if p.Endpoint == endpoint {
			out = append(out, p)
		}
	}
	return out
}

// TestDPoPAuthorizationCodeRefreshKeepsKey signs in through the browser flow
// at an AS advertising DPoP, then refreshes after expiry: both token
// requests carry proofs of the same persisted key, and MCP requests through
// the handler's transport use the DPoP scheme.
func TestDPoPAuthorizationCodeRefreshKeepsKey(t *testing.T) {
	v := newEnv(t, "", nil)
	m := startAS(t, oauthtest.Options{DPoPAlgs: []string{"ES256"}, ClientClock: v.clock.Now})
	entry := machineEntry(m, config.OAuth{CallbackPort: testenv.FreePort(t)})
	creds, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	if creds.Token.TokenType != TokenTypeDPoP || len(creds.DPoPKey) == 0 {
		t.Fatalf("token type %q, key stored %t", creds.Token.TokenType, len(creds.DPoPKey) > 0)
	}
	v.clock.Advance(2 * time.Hour)
	tok, err := v.e.Token(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == creds.Token.AccessToken || tok.TokenType != TokenTypeDPoP {
		t.Fatalf("not refreshed: %+v", tok)
	}
	var jkts []string
	for _, p := range proofs(m, "token") {
		jkts = append(jkts, p.JKT)
	}
	forms := tokenForms(m)
	if len(jkts) != 2 || jkts[0] == "" || jkts[0] != jkts[1] || len(forms) != 2 || forms[1].Get("grant_type") != "refresh_token" {
		t.Fatalf("token request keys %q, %d token requests", jkts, len(forms))
	}
	after, _ := v.store.Load(ctxT(t), "srv")
	if string(after.DPoPKey) != string(creds.DPoPKey) {
		t.Error("the refresh replaced the stored DPoP key")
	}

	// MCP requests through the handler's transport.
	h, _ := v.e.Handler(entry)
	rt := h.(TransportWrapper).WrapTransport(http.DefaultTransport)
	for range 3 {
		if st := initialize(t, rt, m.MCPURL+"?x=1", tok.AccessToken); st != 200 {
			t.Fatalf("MCP status %d", st)
		}
	}
	if p := proofs(m, "mcp"); len(p) != 3 || p[0].JTI == p[1].JTI || p[1].JTI == p[2].JTI || p[0].JKT != jkts[0] {
		t.Errorf("MCP proofs %+v", p)
	}
}

func TestDPoPNonces(t *testing.T) {
	v := newEnv(t, "", nil)
	m := startAS(t, oauthtest.Options{DPoPAlgs: []string{"ES256"}, ClientClock: v.clock.Now, PreRegistered: []oauthtest.Client{{ClientID: "svc", ClientSecret: "SECRET-1", GrantTypes: cc}}})
	m.SetTokenNonce("as-n1", false)
	m.SetMCPNonce("rs-n1", false)
	entry := machineEntry(m, config.OAuth{Grant: config.GrantClientCredentials, ClientID: "svc", ClientSecret: "SECRET-1"})
	tok, err := v.e.Token(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	nonces := func(endpoint string) string {
		var n []string
		for _, p := range proofs(m, endpoint) {
			n = append(n, p.Nonce)
		}
		return strings.Join(n, ",")
	}
	if got := nonces("token"); got != ",as-n1" {
		t.Errorf("token request nonces %q, want one retry with the AS nonce", got)
	}

	h, _ := v.e.Handler(entry)
	rt := h.(TransportWrapper).WrapTransport(http.DefaultTransport)
	do := func() int { return initialize(t, rt, m.MCPURL, tok.AccessToken) }
	if s1, s2 := do(), do(); s1 != 200 || s2 != 200 {
		t.Fatalf("statuses %d %d", s1, s2)
	}
	// First request: no nonce, challenged, retried with it; second: the
	// latest nonce from the start.
	if got := nonces("mcp"); got != ",rs-n1,rs-n1" {
		t.Errorf("MCP nonces %q", got)
	}
	// A server that always wants a new nonce gets exactly one retry.
	m.SetMCPNonce("rs-n1", true)
	before := len(proofs(m, "mcp"))
	if s := do(); s != 401 {
		t.Errorf("status %d, want the second 401 passed up", s)
	}
	if n := len(proofs(m, "mcp")) - before; n != 2 {
		t.Errorf("%d MCP attempts, want 2 (one nonce retry)", n)
	}
	m.SetTokenNonce("as-n1", true)
	before = len(proofs(m, "token"))

	v.clock.Advance(2 * time.Hour)
	_, err = v.e.Token(ctxT(t), entry)
	var te *TokenError
	if !errors.As(err, &te) || te.Code != "use_dpop_nonce" {
		t.Fatalf("err = %v, want the AS's second use_dpop_nonce", err)
	}
	if n := len(proofs(m, "token")) - before; n != 2 {
		t.Errorf("%d token requests, want 2 (one nonce retry)", n)
	}
}

func TestDPoPConfig(t *testing.T) {
	yes, no := true, false
	adv := &asMeta{dpopAlgs: []string{"ES256", "RS256"}}
	rsaOnly := &asMeta{dpopAlgs: []string{"RS256"}}
	for _, c := range []struct {
		dpop       *bool
		m          *asMeta
		resourceOK bool // the MCP server takes DPoP-bound tokens
		want       bool
		err        bool
	}{
		{nil, &asMeta{}, true, false, false},
		{nil, adv, true, true, false},
		{nil, adv, false, false, false}, // Bearer-only MCP server: never bind automatically
		{nil, rsaOnly, true, false, false},
		{&no, adv, true, false, false},
		{&yes, &asMeta{}, false, true, false}, // forced by the user
		{&yes, adv, false, true, false},
		{&yes, rsaOnly, true, false, true},
	} {
		got, err := dpopWanted(&config.Entry{Name: "s", OAuth: &config.OAuth{DPoP: c.dpop}}, c.m, c.resourceOK)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("dpop=%v algs=%v resourceOK=%v: %v, %v", c.dpop, c.m.dpopAlgs, c.resourceOK, got, err)
		}
	}
}

func TestDPoPTransportPassesBearerTokens(t *testing.T) {
	v := newEnv(t, "", nil)
	m := startAS(t, oauthtest.Options{ClientClock: v.clock.Now, PreRegistered: []oauthtest.Client{{ClientID: "svc", ClientSecret: "SECRET-1", GrantTypes: cc}}})
	entry := machineEntry(m, config.OAuth{Grant: config.GrantClientCredentials, ClientID: "svc", ClientSecret: "SECRET-1"})
	tok, err := v.e.Token(ctxT(t), entry)
	if err != nil || tok.TokenType != "Bearer" {
		t.Fatalf("%v %+v", err, tok)
	}
	h, _ := v.e.Handler(entry)
	rt := h.(TransportWrapper).WrapTransport(nil)
	if st := initialize(t, rt, m.MCPURL, tok.AccessToken); st != 200 {
		t.Fatalf("status %d", st)
	}
	reqs := m.Requests()
	if last := reqs[len(reqs)-1]; last.Path != "/mcp" || last.Header.Get("DPoP") != "" {
		t.Errorf("a proof was sent with a bearer token (last request %s)", last)
	}
}

// TestDPoPWithSDKClient connects go-sdk's MCP client, as mcplink's manager
// does (handler + WrapTransport), to a go-sdk MCP server behind an AS that
// issues DPoP-bound tokens and an RS that demands nonces: the client
// obtains a token with the machine grant and every MCP request carries a
// valid proof.
func TestDPoPWithSDKClient(t *testing.T) {
	v := newEnv(t, "", nil)
	m := startAS(t, oauthtest.Options{DPoPAlgs: []string{"ES256"}, ClientClock: v.clock.Now, PreRegistered: []oauthtest.Client{{ClientID: "svc", ClientSecret: "SECRET-1", GrantTypes: cc}}})
	m.SetTokenNonce("as-n", false)
	m.SetMCPNonce("rs-n", false)
	entry := machineEntry(m, config.OAuth{Grant: config.GrantClientCredentials, ClientID: "svc", ClientSecret: "SECRET-1"})
	h, err := v.e.Handler(entry)
	if err != nil {
		t.Fatal(err)
	}
	transport := &mcp.StreamableClientTransport{Endpoint: m.MCPURL, OAuthHandler: h,
		HTTPClient: &http.Client{Transport: h.(TransportWrapper).WrapTransport(http.DefaultTransport)}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctxT(t), transport, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctxT(t), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "pong"}})
	if err != nil || res.IsError {
		t.Fatalf("call: %v %+v", err, res)
	}
	mcpProofs := proofs(m, "mcp")
	if len(mcpProofs) < 3 || len(tokenForms(m)) != 2 {
		t.Errorf("%d MCP proofs, %d token requests", len(mcpProofs), len(tokenForms(m)))
	}
	seen := map[string]bool{}
	for _, p := range mcpProofs {
		if seen[p.JTI] {
			t.Errorf("jti %s reused", p.JTI)
		}
		seen[p.JTI] = true
	}
}
