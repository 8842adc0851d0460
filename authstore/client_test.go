package authstore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A credentials file written before the client registration gained its
// RFC 7592 members stays readable, and the new members survive a round
// trip through the file.
func TestClientRegistrationMembersCompatible(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir := t.TempDir()
	old := `{"version": 1, "servers": {"old": {"serverUrl": "https://mcp.example/mcp", "issuer": "https://as.example",
  "client": {"clientId": "c1", "clientSecret": "s1", "tokenEndpointAuthMethod": "client_secret_basic",
             "redirectUri": "http://127.0.0.1:19876/callback", "issuer": "https://as.example", "dynamic": true},
  "token": {"accessToken": "at", "refreshToken": "rt"}}}}`
	if err := os.WriteFile(filepath.Join(dir, "credentials.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := NewFileStore(FileOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Load(ctx, "old")
	if err != nil {
		t.Fatalf("old file: %v", err)
	}
	if c.Client.ClientID != "c1" || c.Client.RegistrationAccessToken != "" || c.Client.RegistrationClientURI != "" || c.Token.RefreshToken != "rt" {
		t.Errorf("old entry read as %+v %+v", c.Client, c.Token)
	}
	err = s.Update(ctx, "new", func(*Credentials) (*Credentials, error) {
		return &Credentials{ServerURL: "https://mcp2.example/mcp", Client: &Client{
			ClientID: "c2", Dynamic: true, RegistrationAccessToken: "ory_at_x", RegistrationClientURI: "https://as.example/oauth2/register/c2",
		}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"registrationAccessToken"`) || !strings.Contains(string(data), `"registrationClientUri"`) {
		t.Errorf("new members not written:\n%s", data)
	}
	s2, err := NewFileStore(FileOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	all, err := s2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := all["new"]; n == nil || n.Client.RegistrationAccessToken != "ory_at_x" || n.Client.RegistrationClientURI != "https://as.example/oauth2/register/c2" || all["old"].Client.ClientID != "c1" {
		t.Errorf("after round trip: %+v", all)
	}
}
