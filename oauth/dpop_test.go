package oauth

import (
	"context"
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

func machineEntry(m *machineAS, o config.OAuth) *config.Entry {
	return &config.Entry{Name: "srv", Type: config.TypeRemote, Enabled: true, URL: m.mcp, OAuth: &o, Source: "/etc/mcplink.json"}
}

// TestDPoPAuthorizationCodeRefreshKeepsKey signs in through the browser flow
// at an AS advertising DPoP, then refreshes after expiry: both token
// requests carry proofs of the same persisted key, and MCP requests through
// the handler's transport use the DPoP scheme.
func TestDPoPAuthorizationCodeRefreshKeepsKey(t *testing.T) {
	m := newMachineAS(t)
	m.dpopAlgs = []string{"ES256"}
	v := newEnv(t, "", nil)
	m.now = v.clock.Now
	entry := machineEntry(m, config.OAuth{CallbackPort: freePort(t)})
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
	m.mu.Lock()
	jkts := append([]string(nil), m.tokenJKTs...)
	grants := []string{m.tokenForms[0].Get("grant_type"), m.tokenForms[1].Get("grant_type")}
	m.mu.Unlock()
	if len(jkts) != 2 || jkts[0] == "" || jkts[0] != jkts[1] || grants[1] != "refresh_token" {
		t.Fatalf("token request keys %q, grants %q", jkts, grants)
	}
	after, _ := v.store.Load(ctxT(t), "srv")
	if string(after.DPoPKey) != string(creds.DPoPKey) {
		t.Error("the refresh replaced the stored DPoP key")
	}

	// MCP requests through the handler's transport.
	h, _ := v.e.Handler(entry)
	rt := h.(TransportWrapper).WrapTransport(http.DefaultTransport)
	for range 3 {
		req, _ := http.NewRequest("POST", m.mcp+"?x=1", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("MCP status %d", resp.StatusCode)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.mcpJTIs) != 3 || m.mcpJTIs[0] == m.mcpJTIs[1] || m.mcpJTIs[1] == m.mcpJTIs[2] {
		t.Errorf("MCP proof jtis %q", m.mcpJTIs)
	}
}

func TestDPoPNonces(t *testing.T) {
	m := newMachineAS(t)
	m.dpopAlgs = []string{"ES256"}
	m.asNonce, m.rsNonce = "as-n1", "rs-n1"
	m.clientID, m.clientSecret = "svc", "SECRET-1"
	v := newEnv(t, "", nil)
	m.now = v.clock.Now
	entry := machineEntry(m, config.OAuth{Grant: config.GrantClientCredentials, ClientID: "svc", ClientSecret: "SECRET-1"})
	tok, err := v.e.Token(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	if got := strings.Join(m.tokenNonces, ","); got != ",as-n1" {
		t.Errorf("token request nonces %q, want one retry with the AS nonce", got)
	}
	m.mu.Unlock()

	h, _ := v.e.Handler(entry)
	rt := h.(TransportWrapper).WrapTransport(http.DefaultTransport)
	do := func() int {
		req, _ := http.NewRequest("POST", m.mcp, strings.NewReader(`{"a":1}`))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s1, s2 := do(), do(); s1 != 200 || s2 != 200 {
		t.Fatalf("statuses %d %d", s1, s2)
	}
	m.mu.Lock()
	// First request: no nonce, challenged, retried with it; second: the
	// latest nonce from the start.
	if got := strings.Join(m.mcpNonces, ","); got != ",rs-n1,rs-n1" {
		t.Errorf("MCP nonces %q", got)
	}
	// A server that always wants a new nonce gets exactly one retry.
	m.rsNonceAlways = true
	m.mcpNonces = nil
	m.mu.Unlock()
	if s := do(); s != 401 {
		t.Errorf("status %d, want the second 401 passed up", s)
	}
	m.mu.Lock()
	if len(m.mcpNonces) != 2 {
		t.Errorf("%d MCP attempts, want 2 (one nonce retry)", len(m.mcpNonces))
	}
	m.asNonceAlways = true
	m.tokenNonces = nil
	m.mu.Unlock()

	v.clock.Advance(2 * time.Hour)
	_, err = v.e.Token(ctxT(t), entry)
	var te *TokenError
	if !errors.As(err, &te) || te.Code != "use_dpop_nonce" {
		t.Fatalf("err = %v, want the AS's second use_dpop_nonce", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.tokenNonces) != 2 {
		t.Errorf("%d token requests, want 2 (one nonce retry)", len(m.tokenNonces))
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
	m := newMachineAS(t)
	m.clientID, m.clientSecret = "svc", "SECRET-1"
	v := newEnv(t, "", nil)
	m.now = v.clock.Now
	entry := machineEntry(m, config.OAuth{Grant: config.GrantClientCredentials, ClientID: "svc", ClientSecret: "SECRET-1"})
	tok, err := v.e.Token(ctxT(t), entry)
	if err != nil || tok.TokenType != "Bearer" {
		t.Fatalf("%v %+v", err, tok)
	}
	h, _ := v.e.Handler(entry)
	rt := h.(TransportWrapper).WrapTransport(nil)
	req, _ := http.NewRequestWithContext(context.Background(), "POST", m.mcp, strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := rt.RoundTrip(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", err, resp)
	}
	resp.Body.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	if last := m.mcpReqs[len(m.mcpReqs)-1]; last.Header.Get("DPoP") != "" {
		t.Error("a proof was sent with a bearer token")
	}
}

// TestDPoPWithSDKClient connects go-sdk's MCP client, as mcplink's manager
// does (handler + WrapTransport), to a go-sdk MCP server behind an AS that
// issues DPoP-bound tokens and an RS that demands nonces: the client
// obtains a token with the machine grant and every MCP request carries a
// valid proof.
func TestDPoPWithSDKClient(t *testing.T) {
	m := newMachineAS(t)
	m.dpopAlgs = []string{"ES256"}
	m.asNonce, m.rsNonce = "as-n", "rs-n"
	m.clientID, m.clientSecret = "svc", "SECRET-1"
	server := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "ping"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "pong"}}}, nil, nil
	})
	m.mcpHandler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	v := newEnv(t, "", nil)
	m.now = v.clock.Now
	entry := machineEntry(m, config.OAuth{Grant: config.GrantClientCredentials, ClientID: "svc", ClientSecret: "SECRET-1"})
	h, err := v.e.Handler(entry)
	if err != nil {
		t.Fatal(err)
	}
	transport := &mcp.StreamableClientTransport{Endpoint: m.mcp, OAuthHandler: h,
		HTTPClient: &http.Client{Transport: h.(TransportWrapper).WrapTransport(http.DefaultTransport)}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctxT(t), transport, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctxT(t), &mcp.CallToolParams{Name: "ping"})
	if err != nil || res.IsError {
		t.Fatalf("call: %v %+v", err, res)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.mcpJTIs) < 3 || len(m.tokenForms) != 2 {
		t.Errorf("%d MCP proofs, %d token requests", len(m.mcpJTIs), len(m.tokenForms))
	}
	seen := map[string]bool{}
	for _, j := range m.mcpJTIs {
		if seen[j] {
			t.Errorf("jti %s reused", j)
		}
		seen[j] = true
	}
}
