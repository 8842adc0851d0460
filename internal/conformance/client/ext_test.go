package main

import (
	"os"
	"testing"

	"github.com/mcplink/mcplink/config"
)

// TestEntryForExtensions checks that the extension scenarios' contexts map
// onto the settings a user would write (grant, key file, assertion file, idp).
func TestEntryForExtensions(t *testing.T) {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	u := "http://localhost:1234/mcp"
	cc, err := entryFor(&scenarioEnv{Name: "auth/client-credentials-basic", ServerURL: u, Context: map[string]any{"client_id": "c", "client_secret": "s"}}, t.TempDir())
	if err != nil || cc.OAuth.EffectiveGrant() != config.GrantClientCredentials || cc.OAuth.ClientSecret != "s" {
		t.Fatalf("basic: %v %+v", err, cc.OAuth)
	}
	jwtCC, err := entryFor(&scenarioEnv{Name: "auth/client-credentials-jwt", ServerURL: u, Context: map[string]any{"client_id": "c", "private_key_pem": "PEM", "signing_algorithm": "ES256"}}, t.TempDir())
	if err != nil || jwtCC.OAuth.EffectiveGrant() != config.GrantClientCredentials || read(jwtCC.OAuth.PrivateKeyFile) != "PEM\n" {
		t.Fatalf("jwt: %v %+v", err, jwtCC.OAuth)
	}
	wif, err := entryFor(&scenarioEnv{Name: "auth/wif-jwt-bearer", ServerURL: u, Context: map[string]any{"client_id": "w", "valid_jwt": "J", "expired_jwt": "X"}}, t.TempDir())
	if err != nil || wif.OAuth.EffectiveGrant() != config.GrantJWTBearer || read(wif.OAuth.AssertionFile) != "J\n" {
		t.Fatalf("wif: %v %+v", err, wif.OAuth)
	}
	ent, err := entryFor(&scenarioEnv{Name: "auth/enterprise-managed-authorization", ServerURL: u, Context: map[string]any{
		"client_id": "c", "client_secret": "s", "idp_client_id": "ic", "idp_id_token": "IDT", "idp_issuer": "http://localhost:9/", "idp_token_endpoint": "http://localhost:9/token"}}, t.TempDir())
	if err != nil || ent.OAuth.EffectiveGrant() != config.GrantJWTBearer || ent.OAuth.IdP.ClientID != "ic" || ent.OAuth.IdP.TokenEndpoint != "http://localhost:9/token" || read(ent.OAuth.IdP.IDTokenFile) != "IDT\n" {
		t.Fatalf("enterprise: %v %+v", err, ent.OAuth)
	}
	dpop, err := entryFor(&scenarioEnv{Name: "auth/dpop", ServerURL: u}, t.TempDir())
	if err != nil || dpop.OAuth.EffectiveGrant() != config.GrantAuthorizationCode || dpop.OAuth.DPoP != nil {
		t.Fatalf("dpop: %v %+v", err, dpop.OAuth)
	}
}
