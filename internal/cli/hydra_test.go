package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
)

// hydraEnv is a config with one server "h" behind an authorization server
// with Ory Hydra v2.3's shapes, and an environment built from scratch (no
// variable of the user's leaks in, so nothing of theirs is read or written).
type hydraEnv struct {
	binEnv
	outputs []string // everything the processes printed
}

func newHydraEnv(t *testing.T, mcpURL string) *hydraEnv {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mcplink.json")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{"mcp": {"h": {"type": "remote", "url": %q, "oauth": {"callbackPort": %d}}}}`, mcpURL, testenv.FreePort(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	// PATH: testscript.Main put mcplink and follow-redirects first.
	return &hydraEnv{binEnv: binEnv{dir: dir, env: homeEnv(t, dir,
		"XDG_STATE_HOME="+filepath.Join(dir, ".state"), "XDG_CACHE_HOME="+filepath.Join(dir, ".cache"), "TMPDIR="+dir,
		"MCPLINK_CONFIG="+cfg, "MCPLINK_DATA_DIR="+filepath.Join(dir, "data"),
		"BROWSER=follow-redirects",
	)}}
}

func (h *hydraEnv) run(t *testing.T, args ...string) string {
	t.Helper()
	out, errb, err := h.binEnv.run(t, args...)
	h.outputs = append(h.outputs, out, errb)
	if err != nil {
		t.Fatalf("mcplink %s: %v\n%s%s", strings.Join(args, " "), err, out, errb)
	}
	return out
}

// Sign-in against Hydra's registration, token and error shapes, process by
// process: `auth` registers (decoding "jwks": {} and friends) and stores the
// registration with its RFC 7592 token; `call` uses the token; after
// `logout`, another `auth` reuses the registration. One client at the AS,
// a refresh token (offline_access was requested), nothing deleted.
func TestHydraSignInAcrossProcesses(t *testing.T) {
	scopes := []string{"mcp:read", "offline_access", "offline", "openid"}
	s := startAuthAS(t, oauthtest.Options{HydraQuirks: true, Scopes: scopes, HydraDefaultClientScope: scopes})
	h := newHydraEnv(t, s.MCPURL)

	if out := h.run(t, "auth", "h"); !strings.Contains(out, "✓ h: authenticated; connected") {
		t.Fatalf("auth: %s", out)
	}
	if out := h.run(t, "call", "h", "echo", "text=hydra"); !strings.Contains(out, "hydra") {
		t.Errorf("call: %s", out)
	}
	var st map[string]struct {
		State    string `json:"state"`
		ClientID string `json:"clientId"`
		Refresh  bool   `json:"refreshable"`
	}
	first := h.run(t, "auth", "status", "--json")
	if err := json.Unmarshal([]byte(first), &st); err != nil {
		t.Fatalf("auth status --json: %v\n%s", err, first)
	}
	clientID := st["h"].ClientID
	if st["h"].State != "authenticated" || clientID == "" || !st["h"].Refresh {
		t.Fatalf("after auth: %s", first)
	}
	data, err := os.ReadFile(filepath.Join(h.dir, "data", "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"registrationAccessToken"`)) || !bytes.Contains(data, []byte(`"registrationClientUri": "`+s.RegistrationEndpoint()+"/"+clientID+`"`)) ||
		!bytes.Contains(data, []byte(`"refreshToken"`)) {
		t.Errorf("stored credentials lack the registration management or the refresh token:\n%s", redactSecrets(data))
	}

	h.run(t, "logout", "h")
	if out := h.run(t, "auth", "h"); !strings.Contains(out, "✓ h: authenticated; connected") {
		t.Fatalf("second auth: %s", out)
	}
	second := h.run(t, "auth", "status", "--json")
	if err := json.Unmarshal([]byte(second), &st); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Servers map[string]struct {
			Client struct {
				Secret string `json:"clientSecret"`
				RAT    string `json:"registrationAccessToken"`
			} `json:"client"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{doc.Servers["h"].Client.Secret, doc.Servers["h"].Client.RAT} {
		for _, o := range h.outputs {
			if secret == "" || strings.Contains(o, secret) {
				t.Errorf("a client secret or registration access token is empty or was printed:\n%s", o)
			}
		}
	}
	stats := s.Stats()
	if stats.Registrations != 1 || st["h"].ClientID != clientID || stats.RegistrationDeletes != 0 || stats.CodesIssued != 2 {
		t.Errorf("registrations %d (want 1), client %q then %q, deletes %d, codes %d", stats.Registrations, clientID, st["h"].ClientID, stats.RegistrationDeletes, stats.CodesIssued)
	}
}

// redactSecrets keeps a credentials file printable in a failure message.
func redactSecrets(data []byte) string {
	var doc any
	if json.Unmarshal(data, &doc) != nil {
		return "(not JSON)"
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if strings.Contains(strings.ToLower(k), "token") || strings.Contains(strings.ToLower(k), "secret") {
					if s, ok := e.(string); ok && s != "" {
						x[k] = "<redacted>"
						continue
					}
				}
				x[k] = walk(e)
			}
		}
		return v
	}
	out, _ := json.MarshalIndent(walk(doc), "", "  ")
	return string(out)
}
