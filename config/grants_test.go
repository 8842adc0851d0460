package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestGrantFields(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "m.json", `{"mcp": {
		"cc": {"type": "remote", "url": "https://a.example/mcp",
		       "oauth": {"grant": "client_credentials", "clientId": "svc", "clientSecret": "{env:SECRET}", "dpop": true}},
		"ccjwt": {"type": "remote", "url": "https://a.example/mcp",
		       "oauth": {"grant": "client_credentials", "clientId": "svc", "privateKeyFile": "keys/svc.pem", "privateKeyId": "k1"}},
		"wif": {"type": "remote", "url": "https://a.example/mcp",
		       "oauth": {"grant": "jwt_bearer", "clientId": "wl", "assertionFile": "~/token"}},
		"ci": {"type": "remote", "url": "https://a.example/mcp",
		       "oauth": {"assertionCommand": ["gh-oidc", "--audience", "mcp"], "dpop": false}},
		"ent": {"type": "remote", "url": "https://a.example/mcp",
		       "oauth": {"clientId": "app", "clientSecret": "s", "idp": {"issuer": "https://idp.example",
		                 "clientId": "idp-app", "idTokenCommand": ["okta-token"]}}}
	}}`)
	cfg, err := Load(LoadOptions{File: file, WorkDir: dir, HomeDir: "/home/u", Getenv: env(map[string]string{"SECRET": "xyz"})})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Servers
	if o := s["cc"].OAuth; o.EffectiveGrant() != GrantClientCredentials || o.ClientSecret != "xyz" || o.DPoP == nil || !*o.DPoP {
		t.Errorf("cc = %+v", o)
	}
	if o := s["ccjwt"].OAuth; o.PrivateKeyFile != filepath.Join(dir, "keys/svc.pem") || o.PrivateKeyID != "k1" {
		t.Errorf("ccjwt = %+v", o)
	}
	if o := s["wif"].OAuth; o.EffectiveGrant() != GrantJWTBearer || o.AssertionFile != "/home/u/token" {
		t.Errorf("wif = %+v", o)
	}
	if o := s["ci"].OAuth; o.EffectiveGrant() != GrantJWTBearer || !reflect.DeepEqual(o.AssertionCommand, []string{"gh-oidc", "--audience", "mcp"}) || o.DPoP == nil || *o.DPoP {
		t.Errorf("ci = %+v", o)
	}
	if o := s["ent"].OAuth; o.EffectiveGrant() != GrantJWTBearer || o.IdP == nil || o.IdP.Issuer != "https://idp.example" || o.IdP.ClientID != "idp-app" || o.IdP.IDTokenCommand[0] != "okta-token" {
		t.Errorf("ent = %+v", o)
	}
	if g := (OAuth{}).EffectiveGrant(); g != GrantAuthorizationCode {
		t.Errorf("default grant %q", g)
	}

	// Serialized by AddEntry and read back unchanged.
	out := filepath.Join(dir, "out.json")
	for _, name := range []string{"cc", "ccjwt", "wif", "ci", "ent"} {
		if err := AddEntry(out, name, s[name], false); err != nil {
			t.Fatal(err)
		}
	}
	back, err := Load(LoadOptions{File: out, WorkDir: dir, HomeDir: "/home/u", Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cc", "ccjwt", "wif", "ci", "ent"} {
		if !reflect.DeepEqual(back.Servers[name].OAuth, s[name].OAuth) {
			t.Errorf("%s: wrote %+v, read back %+v", name, s[name].OAuth, back.Servers[name].OAuth)
		}
	}
}

func TestGrantFieldErrors(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "m.json", `{"mcp": {
		"a": {"type": "remote", "url": "https://a.example/mcp", "oauth": {"grant": "password"}},
		"b": {"type": "remote", "url": "https://a.example/mcp", "oauth": {"grant": "client_credentials", "clientId": "x"}},
		"c": {"type": "remote", "url": "https://a.example/mcp", "oauth": {"grant": "jwt_bearer"}},
		"d": {"type": "remote", "url": "https://a.example/mcp", "oauth": {"assertionFile": "t", "assertionCommand": ["x"]}},
		"e": {"type": "remote", "url": "https://a.example/mcp", "oauth": {"idp": {"tokenEndpoint": "https://i.example/t"}}},
		"f": {"type": "remote", "url": "https://a.example/mcp", "oauth": {"clientId": "x", "clientSecret": "y", "privateKeyFile": "k", "grant": "client_credentials"}},
		"g": {"type": "remote", "url": "https://a.example/mcp", "oauth": {"assertionCommand": [], "dpop": "yes"}},
		"h": {"type": "remote", "url": "https://a.example/mcp", "oauth": {"grant": "authorization_code", "assertionFile": "t"}},
		"i": {"type": "remote", "url": "https://a.example/mcp", "oauth": {"clientId": "x", "idp": {"tokenEndpoint": "https://i.example/t", "clientId": "c", "idTokenFile": "f", "idTokenComand": ["x"]}}}
	}}`)
	_, err := Load(LoadOptions{File: file, WorkDir: dir, HomeDir: dir, Getenv: env(nil)})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{
		`"grant" must be "authorization_code", "client_credentials" or "jwt_bearer", got "password"`,
		`"grant": "client_credentials" needs "clientId" and either "clientSecret" or "privateKeyFile"`,
		`"grant": "jwt_bearer" needs exactly one of "assertionFile", "assertionCommand" and "idp"`,
		`"idp" needs "clientId"`,
		`has both "clientSecret" and "privateKeyFile"`,
		`"assertionCommand" must not be empty`,
		`"dpop" must be true or false`,
		`"assertionFile", "assertionCommand" and "idp" need "grant": "jwt_bearer"`,
		`unknown field "idTokenComand" in "idp"; did you mean "idTokenCommand"?`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
