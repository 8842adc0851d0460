package config

import (
	"errors"
	"strings"
	"testing"
)

func TestOAuthCallbackHostAndResource(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "m.json", `{"mcp": {
		"entra": {"type": "remote", "url": "https://e.example/mcp", "oauth": {"resource": false, "callbackHost": "0.0.0.0"}},
		"over":  {"type": "remote", "url": "https://o.example/mcp", "oauth": {"resource": "https://api.example/", "callbackHost": "[::1]"}},
		"plain": {"type": "remote", "url": "https://p.example/mcp"}
	}}`)
	cfg, err := Load(LoadOptions{File: file, WorkDir: dir, HomeDir: dir, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.Servers["entra"].OAuth; !o.OmitResource || o.Resource != "" || o.CallbackHost != "0.0.0.0" {
		t.Errorf("entra oauth = %+v, want OmitResource and callbackHost 0.0.0.0", o)
	}
	if o := cfg.Servers["over"].OAuth; o.OmitResource || o.Resource != "https://api.example/" || o.CallbackHost != "::1" {
		t.Errorf("over oauth = %+v", o)
	}
	if o := cfg.Servers["plain"].OAuth; o.OmitResource || o.Resource != "" || o.CallbackHost != "" {
		t.Errorf("plain oauth = %+v", o)
	}
}

func TestOAuthCallbackHostAndResourceErrors(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "m.json", `{"mcp": {
		"a": {"type": "remote", "url": "https://a.example/mcp", "oauth": {"callbackHost": "my host"}},
		"b": {"type": "remote", "url": "https://b.example/mcp", "oauth": {"resource": true}},
		"c": {"type": "remote", "url": "https://c.example/mcp", "oauth": {"resource": "not a url"}}
	}}`)
	_, err := Load(LoadOptions{File: file, WorkDir: dir, HomeDir: dir, Getenv: env(nil)})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	for _, want := range []string{`"callbackHost" must be an IP address`, `"resource" must be a string`, `"resource" must be an absolute http or https URL, or false`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
