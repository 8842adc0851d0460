package oauthtest

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// status sends a request with the body "{}" to u and returns the status
// and the WWW-Authenticate header.
func status(t *testing.T, method, u string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// TestOneOriginWithoutMetadata is a 2025-03-26 server: the AS on the MCP
// server's origin, no metadata of either kind, a bare challenge.
func TestOneOriginWithoutMetadata(t *testing.T) {
	srv := start(t, Options{OneOrigin: true, NoMetadata: true, NoResourceMetadata: true, ChallengeOmitsScope: true})
	origin := strings.TrimSuffix(srv.MCPURL, "/mcp")
	if srv.IssuerURL != origin {
		t.Fatalf("issuer %s, want the MCP origin %s", srv.IssuerURL, origin)
	}
	for _, p := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration", "/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"} {
		if st, _ := status(t, http.MethodGet, origin+p); st != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, st)
		}
	}
	if st, ch := status(t, http.MethodPost, srv.MCPURL); st != http.StatusUnauthorized || ch != "Bearer" {
		t.Errorf("challenge %d %q, want 401 %q", st, ch, "Bearer")
	}
	// The default endpoints are where a 2025-03-26 client looks for them.
	code, reg := postJSON(t, origin+"/register", map[string]any{"redirect_uris": []string{"http://127.0.0.1:9/cb"}})
	if code != http.StatusCreated || reg["client_id"] == "" {
		t.Fatalf("registration at the origin: %d %v", code, reg)
	}
	got := make([]string, 0, 8)
	for _, r := range srv.Requests() {
		got = append(got, r.String())
	}
	if want := []string{"GET /.well-known/oauth-authorization-server", "POST /mcp", "POST /register"}; !isSubsequence(want, got) {
		t.Errorf("requests %q lack %q in order", got, want)
	}
}

func isSubsequence(want, got []string) bool {
	for _, g := range got {
		if len(want) > 0 && g == want[0] {
			want = want[1:]
		}
	}
	return len(want) == 0
}

// TestDocumentsWhereAndWhat: one path each for the documents, hooks that
// edit them, a challenge without resource_metadata, another resource, no
// revocation.
func TestDocumentsWhereAndWhat(t *testing.T) {
	srv := start(t, Options{
		MetadataPath: "/meta", ResourceMetadataPath: "/custom/prm", ChallengeOmitsResourceMetadata: true, NoRevocation: true,
		EditMetadata:         func(m map[string]any) { m["issuer"] = "https://other.example" },
		EditResourceMetadata: func(m map[string]any) { m["scopes_supported"] = []string{"x"} },
	})
	asOrigin := strings.TrimSuffix(srv.IssuerURL, "/")
	if st, _ := status(t, http.MethodGet, asOrigin+"/.well-known/oauth-authorization-server"); st != http.StatusNotFound {
		t.Errorf("metadata at the RFC 8414 path too: %d", st)
	}
	m := getJSON(t, asOrigin+"/meta")
	if m["issuer"] != "https://other.example" {
		t.Errorf("EditMetadata not applied: issuer %v", m["issuer"])
	}
	if _, ok := m["revocation_endpoint"]; ok || srv.RevocationEndpoint() != "" {
		t.Errorf("revocation advertised with NoRevocation: %v %q", m["revocation_endpoint"], srv.RevocationEndpoint())
	}
	if st, _ := status(t, http.MethodPost, asOrigin+"/revoke"); st != http.StatusNotFound && st != http.StatusMethodNotAllowed {
		t.Errorf("POST /revoke with NoRevocation: %d", st)
	}
	if !strings.HasSuffix(srv.ResourceMetadataURL, "/custom/prm") {
		t.Errorf("ResourceMetadataURL %s", srv.ResourceMetadataURL)
	}
	prm := getJSON(t, srv.ResourceMetadataURL)
	if prm["resource"] != srv.MCPURL || !slices.Equal(strs(prm["scopes_supported"]), []string{"x"}) {
		t.Errorf("PRM %v", prm)
	}
	if st, _ := status(t, http.MethodGet, strings.TrimSuffix(srv.MCPURL, "/mcp")+"/.well-known/oauth-protected-resource/mcp"); st != http.StatusNotFound {
		t.Errorf("PRM at the well-known path too: %d", st)
	}
	if _, ch := status(t, http.MethodPost, srv.MCPURL); strings.Contains(ch, "resource_metadata") || !strings.Contains(ch, "scope=") {
		t.Errorf("challenge %q, want a scope and no resource_metadata", ch)
	}
	srv.SetResource("http://127.0.0.1:1/")
	if prm := getJSON(t, srv.ResourceMetadataURL); prm["resource"] != "http://127.0.0.1:1/" {
		t.Errorf("PRM resource after SetResource: %v", prm["resource"])
	}
}

// TestRequestsSecretsFailGrant: the request log keeps forms, Secrets has
// what the AS handed out, FailGrant fails a grant until it is lifted, and
// WaitStats wakes when a request is answered.
func TestRequestsSecretsFailGrant(t *testing.T) {
	srv := start(t, Options{})
	_, reg := postJSON(t, srv.RegistrationEndpoint(), map[string]any{"redirect_uris": []string{"http://127.0.0.1:9/cb"}, "grant_types": []string{"authorization_code", "refresh_token"}})
	id, secret := reg["client_id"].(string), reg["client_secret"].(string)
	if !slices.Contains(srv.Secrets(), secret) {
		t.Errorf("Secrets lacks the client secret")
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}
	srv.FailGrant(GrantRefreshToken, "temporarily_unavailable")
	if resp, body := postForm(t, srv.TokenEndpoint(), form, id, secret); resp.StatusCode != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" {
		t.Errorf("failed grant: %d %v", resp.StatusCode, body)
	}
	if resp, body := postForm(t, srv.TokenEndpoint(), url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, id, secret); body["error"] != "invalid_grant" {
		t.Errorf("another grant failed too: %d %v", resp.StatusCode, body)
	}
	srv.FailGrant(GrantRefreshToken, "")
	if _, body := postForm(t, srv.TokenEndpoint(), form, id, secret); body["error"] != "invalid_grant" {
		t.Errorf("after FailGrant(grant, \"\"): %v", body)
	}
	if !srv.SetClientSecret(id, "rotated") {
		t.Fatal("SetClientSecret: no such client")
	}
	if resp, _ := postForm(t, srv.TokenEndpoint(), form, id, secret); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old secret after SetClientSecret: %d", resp.StatusCode)
	}
	var forms []url.Values
	for _, r := range srv.Requests() {
		if r.Path == "/token" {
			forms = append(forms, r.Form)
		}
	}
	if len(forms) != 4 || forms[0].Get("refresh_token") != "nope" || forms[1].Get("code") != "x" {
		t.Errorf("recorded token forms %v", forms)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.WaitStats(ctx, func(st Stats) bool { return st.Revocations > 0 }); err == nil {
		t.Error("WaitStats returned for a condition that never held")
	}
	done := make(chan error, 1)
	go func() {
		done <- srv.WaitStats(testCtx(t), func(st Stats) bool { return st.TokenRequests[GrantRefreshToken] >= 4 })
	}()
	postForm(t, srv.TokenEndpoint(), form, id, "rotated")
	if err := <-done; err != nil {
		t.Errorf("WaitStats: %v", err)
	}
}

// TestMachineGrants: client credentials for a confidential client only, no
// refresh token; JWT bearer with expected assertions or the IdP's ID-JAG,
// each once; a bad DPoP proof is refused and recorded.
func TestMachineGrants(t *testing.T) {
	srv := start(t, Options{IdPIDToken: "IDT", DPoPAlgs: []string{"ES256"}, PreRegistered: []Client{
		{ClientID: "svc", ClientSecret: "S", GrantTypes: []string{GrantClientCredentials}},
		{ClientID: "pub", GrantTypes: []string{GrantClientCredentials}},
	}})
	if m := getJSON(t, srv.MetadataURL()); !slices.Contains(strs(m["grant_types_supported"]), GrantClientCredentials) ||
		!slices.Contains(strs(m["grant_types_supported"]), GrantJWTBearer) || !slices.Equal(strs(m["dpop_signing_alg_values_supported"]), []string{"ES256"}) {
		t.Errorf("metadata %v", m)
	}
	cc := url.Values{"grant_type": {GrantClientCredentials}, "resource": {srv.MCPURL}}
	resp, body := postForm(t, srv.TokenEndpoint(), cc, "svc", "S")
	if resp.StatusCode != http.StatusOK || body["access_token"] == nil || body["refresh_token"] != nil || body["token_type"] != "Bearer" {
		t.Errorf("client credentials: %d %v", resp.StatusCode, body)
	}
	pub := url.Values{"grant_type": {GrantClientCredentials}, "resource": {srv.MCPURL}, "client_id": {"pub"}}
	if _, body := postForm(t, srv.TokenEndpoint(), pub, "", ""); body["error"] != "unauthorized_client" {
		t.Errorf("public client's client credentials: %v", body)
	}

	jb := func(assertion string) map[string]any {
		_, body := postForm(t, srv.TokenEndpoint(), url.Values{"grant_type": {GrantJWTBearer}, "assertion": {assertion}, "resource": {srv.MCPURL}}, "", "")
		return body
	}
	if body := jb("made-up"); body["error"] != "invalid_grant" {
		t.Errorf("unknown assertion: %v", body)
	}
	srv.ExpectAssertions("a1")
	if body := jb("a1"); body["access_token"] == nil {
		t.Errorf("expected assertion: %v", body)
	}
	_, jag := postForm(t, srv.IdPTokenEndpoint(), url.Values{"grant_type": {GrantTokenExchange}, "requested_token_type": {TokenTypeIDJAG},
		"subject_token_type": {TokenTypeIDToken}, "subject_token": {"IDT"}, "audience": {srv.IssuerURL}}, "", "")
	if jag["issued_token_type"] != TokenTypeIDJAG {
		t.Fatalf("IdP exchange: %v", jag)
	}
	if body := jb(jag["access_token"].(string)); body["access_token"] == nil {
		t.Errorf("the IdP's ID-JAG: %v", body)
	}
	if body := jb(jag["access_token"].(string)); body["error"] != "invalid_grant" {
		t.Errorf("the ID-JAG used twice: %v", body)
	}
	if len(srv.Problems()) != 0 {
		t.Fatalf("problems before the bad proof: %q", srv.Problems())
	}

	req, _ := http.NewRequest(http.MethodPost, srv.TokenEndpoint(), strings.NewReader(cc.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", "not.a.proof")
	req.SetBasicAuth("svc", "S")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusBadRequest || len(srv.Problems()) != 1 || len(srv.Proofs()) != 0 {
		t.Errorf("bad proof: %d, problems %q, proofs %v", r.StatusCode, srv.Problems(), srv.Proofs())
	}
}
