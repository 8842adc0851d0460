package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/oauthtest"
)

func TestClientCredentialsSecretFetchedOnDemandAndOnExpiry(t *testing.T) {
	v := newEnv(t, "", nil)
	m := startAS(t, oauthtest.Options{ClientClock: v.clock.Now, PreRegistered: []oauthtest.Client{
		{ClientID: "svc:1", ClientSecret: "S3CRET&x", GrantTypes: cc}}}) // characters Basic auth must escape
	entry := machineEntry(m, config.OAuth{Grant: config.GrantClientCredentials, ClientID: "svc:1", ClientSecret: "S3CRET&x", Scope: "mcp:read"})

	// The handler's token source fetches without any stored token.
	h, _ := v.e.Handler(entry)
	ts, err := h.TokenSource(ctxT(t))
	if err != nil || ts == nil {
		t.Fatalf("token source %v, %v", ts, err)
	}
	t1, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if t2, _ := ts.Token(); t2.AccessToken != t1.AccessToken {
		t.Error("a usable token was fetched again")
	}
	v.clock.Advance(2 * time.Hour)
	t3, err := ts.Token()
	if err != nil || t3.AccessToken == t1.AccessToken {
		t.Fatalf("expired token not re-fetched: %v", err)
	}
	forms := tokenForms(m)
	if len(forms) != 2 || forms[0].Get("grant_type") != "client_credentials" || forms[0].Get("scope") != "mcp:read" ||
		forms[0].Get("resource") != m.MCPURL || forms[0].Has("client_secret") {
		t.Fatalf("token forms %v", forms)
	}
	st, err := v.e.Status(ctxT(t), entry)
	if err != nil || st.State != StateAuthenticated || st.ClientID != "svc:1" {
		t.Errorf("status %+v %v", st, err)
	}
	if n := v.notes.all(); strings.Contains(n, "S3CRET") || strings.Contains(n, t3.AccessToken) {
		t.Errorf("notifications leak a secret: %s", n)
	}
}

// Grant types of the machine clients at the AS.
var (
	cc        = []string{oauthtest.GrantClientCredentials}
	jwtBearer = []string{oauthtest.GrantJWTBearer}
)

// writeECKeyT is a key that is not the one in the files.
func writeECKeyT(t *testing.T) *ecdsa.PrivateKey {
	_, k := writeECKey(t, t.TempDir())
	return k
}

func writeECKey(t *testing.T, dir string) (string, *ecdsa.PrivateKey) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, k
}

func TestClientCredentialsPrivateKeyJWT(t *testing.T) {
	path, key := writeECKey(t, t.TempDir())
	v := newEnv(t, "", nil)
	m := startAS(t, oauthtest.Options{ClientClock: v.clock.Now, PreRegistered: []oauthtest.Client{
		{ClientID: "svc-jwt", PublicKey: &key.PublicKey, GrantTypes: cc}}})
	entry := machineEntry(m, config.OAuth{Grant: config.GrantClientCredentials, ClientID: "svc-jwt", PrivateKeyFile: path})
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil { // `mcplink auth` always fetches
		t.Fatal(err)
	}
	if jtis := m.Stats().ClientAssertionIDs; len(jtis) != 2 || jtis[0] == jtis[1] {
		t.Errorf("assertion jtis %q, want two distinct", jtis)
	}
}

func TestBadPrivateKeyFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a key\n"), 0o600)
	v := newEnv(t, "", nil)
	m := startAS(t, oauthtest.Options{ClientClock: v.clock.Now, PreRegistered: []oauthtest.Client{
		{ClientID: "svc", PublicKey: &writeECKeyT(t).PublicKey, GrantTypes: cc}}})
	for _, c := range []struct{ path, want string }{
		{bad, "no PEM block"},
		{filepath.Join(dir, "missing.pem"), "no such file"},
	} {
		entry := machineEntry(m, config.OAuth{Grant: config.GrantClientCredentials, ClientID: "svc", PrivateKeyFile: c.path})
		_, err := v.e.Token(ctxT(t), entry)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"oauth.privateKeyFile"`) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: err = %v", c.path, err)
		}
	}
	if n := len(tokenForms(m)); n != 0 {
		t.Errorf("%d token requests with a bad key", n)
	}
}

func TestJWTBearerAssertionFileRereadAndErrorsNotRetried(t *testing.T) {
	dir := t.TempDir()
	af := filepath.Join(dir, "token")
	os.WriteFile(af, []byte("jwt-one\n"), 0o600)
	v := newEnv(t, "", nil)
	m := startAS(t, oauthtest.Options{ClientClock: v.clock.Now, PreRegistered: []oauthtest.Client{{ClientID: "wl", GrantTypes: jwtBearer}}})
	m.ExpectAssertions("jwt-one", "jwt-two")
	entry := machineEntry(m, config.OAuth{Grant: config.GrantJWTBearer, ClientID: "wl", AssertionFile: af})
	if _, err := v.e.Token(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(af, []byte("jwt-two\n"), 0o600) // the kubelet rotated it
	v.clock.Advance(2 * time.Hour)
	if _, err := v.e.Token(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	forms := tokenForms(m)
	if f := forms[0]; len(forms) != 2 || f.Get("grant_type") != GrantTypeJWTBearer || f.Get("client_id") != "wl" || forms[1].Get("assertion") != "jwt-two" {
		t.Errorf("forms %v", forms)
	}
	m.FailGrant("", "invalid_grant")
	before := len(forms)

	v.clock.Advance(2 * time.Hour)
	_, err := v.e.Token(ctxT(t), entry)
	var te *TokenError
	if !errors.As(err, &te) || te.Code != "invalid_grant" || !strings.Contains(err.Error(), "jwt_bearer grant") {
		t.Fatalf("err = %v", err)
	}
	if forms = tokenForms(m)[before:]; len(forms) != 1 || forms[0].Get("grant_type") != GrantTypeJWTBearer {
		t.Errorf("after an error: %d token requests %v, want exactly one jwt-bearer", len(forms), forms)
	}
	before += len(forms)

	os.Remove(af)
	_, err = v.e.Token(ctxT(t), entry)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), `"oauth.assertionFile"`) || !strings.Contains(err.Error(), af) {
		t.Fatalf("missing file: %v", err)
	}
	if len(tokenForms(m)) != before {
		t.Error("a token request was made without an assertion")
	}
}

func TestAssertionCommand(t *testing.T) {
	v := newEnv(t, "", nil)
	m := startAS(t, oauthtest.Options{ClientClock: v.clock.Now})
	m.ExpectAssertions("from-command")
	entry := machineEntry(m, config.OAuth{Grant: config.GrantJWTBearer, AssertionCommand: []string{"sh", "-c", "echo from-command"}})
	if _, err := v.e.Token(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	// A failing command: its stderr is shown, its stdout never.
	entry = machineEntry(m, config.OAuth{Grant: config.GrantJWTBearer, AssertionCommand: []string{"sh", "-c", "printf '%s-%s' LEAKED TOKEN; echo 'gcloud: not logged in' >&2; exit 3"}})
	entry.Name = "other"
	_, err := v.e.Token(ctxT(t), entry)
	var ce *CommandError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "gcloud: not logged in") || strings.Contains(err.Error(), "LEAKED-TOKEN") ||
		!strings.Contains(err.Error(), "oauth.assertionCommand") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("err = %v", err)
	}
}

func TestEnterpriseIDJAG(t *testing.T) {
	dir := t.TempDir()
	idf := filepath.Join(dir, "id_token")
	os.WriteFile(idf, []byte("ID-TOKEN-1"), 0o600)
	v := newEnv(t, "", nil)
	// The AS takes only the identity assertion grant its IdP issued.
	m := startAS(t, oauthtest.Options{ClientClock: v.clock.Now, Scopes: []string{"read"}, IdPIDToken: "ID-TOKEN-1",
		PreRegistered: []oauthtest.Client{{ClientID: "app", ClientSecret: "APP-SECRET", GrantTypes: jwtBearer}}})
	entry := machineEntry(m, config.OAuth{ClientID: "app", ClientSecret: "APP-SECRET", Scope: "read",
		IdP: &config.IdP{TokenEndpoint: m.IdPTokenEndpoint(), ClientID: "idp-client", IDTokenFile: idf}})
	creds, err := v.e.Authenticate(ctxT(t), entry)
	if err != nil {
		t.Fatal(err)
	}
	if creds.Token == nil || creds.Issuer != m.IssuerURL {
		t.Fatalf("creds %+v", creds)
	}
	f := requestsTo(m, m.IdPTokenEndpoint(), func(r oauthtest.Request) url.Values { return r.Form })[0]
	if f.Get("grant_type") != GrantTypeTokenExchange || f.Get("requested_token_type") != TokenTypeIDJAG || f.Get("subject_token_type") != TokenTypeIDToken ||
		f.Get("audience") != m.IssuerURL || f.Get("resource") != m.MCPURL || f.Get("client_id") != "idp-client" || f.Get("scope") != "read" {
		t.Errorf("token exchange form %v", f)
	}
	if forms := tokenForms(m); len(forms) != 1 || forms[0].Get("grant_type") != GrantTypeJWTBearer {
		t.Errorf("token requests %v, want one jwt-bearer", forms)
	}

	// A failing idTokenCommand: its stderr is in the error.
	entry.OAuth.IdP = &config.IdP{TokenEndpoint: m.IdPTokenEndpoint(), ClientID: "idp-client",
		IDTokenCommand: []string{"sh", "-c", "echo 'az: please run az login' >&2; exit 1"}}
	_, err = v.e.Authenticate(ctxT(t), entry)
	if !strings.Contains(err.Error(), "az: please run az login") || !strings.Contains(err.Error(), "oauth.idp.idTokenCommand") {
		t.Fatalf("err = %v", err)
	}
}

func TestMachineGrantHandlerReportsErrors(t *testing.T) {
	v := newEnv(t, "", nil)
	m := startAS(t, oauthtest.Options{ClientClock: v.clock.Now})
	m.FailGrant("", "unauthorized_client")
	entry := machineEntry(m, config.OAuth{Grant: config.GrantJWTBearer, AssertionCommand: []string{"echo", "jwt"}})
	h := v.e.InteractiveHandler(entry)
	ts, err := h.TokenSource(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Token(); err == nil || errors.Is(err, ErrNeedsAuth) || !strings.Contains(err.Error(), "unauthorized_client") {
		t.Fatalf("token source err = %v", err)
	}
	// A 401 on the MCP server does not start a browser flow either.
	req, _ := http.NewRequest("POST", m.MCPURL, nil)
	resp := &http.Response{StatusCode: 401, Header: http.Header{}, Body: http.NoBody}
	if err := h.Authorize(ctxT(t), req, resp); err == nil || !strings.Contains(err.Error(), "unauthorized_client") {
		t.Fatalf("authorize err = %v", err)
	}
	if len(v.opened) != 0 {
		t.Errorf("a browser was opened: %v", v.opened)
	}
	if _, err := v.e.Begin(context.Background(), entry); err == nil || !strings.Contains(err.Error(), "needs no sign-in") {
		t.Errorf("Begin: %v", err)
	}
}
