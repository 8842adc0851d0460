package oauth

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/callback"
)

func TestDiscoveryOrders(t *testing.T) {
	cases := []struct {
		name     string
		o        fakeOpts
		want     []string // GET paths that must appear, in this order
		notWant  []string
		fallback string
	}{
		{"path PRM named in 401", fakeOpts{prmPath: "/custom/prm", challengeRM: true, asMetaPath: "/.well-known/oauth-authorization-server"},
			[]string{"POST /mcp", "GET /custom/prm", "GET /.well-known/oauth-authorization-server", "GET /authorize", "POST /token"},
			[]string{"GET /.well-known/oauth-protected-resource/mcp", "GET /.well-known/oauth-protected-resource"}, ""},
		{"path-based PRM", fakeOpts{prmPath: "/.well-known/oauth-protected-resource/mcp", asMetaPath: "/.well-known/oauth-authorization-server"},
			[]string{"POST /mcp", "GET /.well-known/oauth-protected-resource/mcp", "GET /.well-known/oauth-authorization-server"},
			[]string{"GET /.well-known/oauth-protected-resource"}, ""},
		{"PRM only at root", fakeOpts{prmPath: "/.well-known/oauth-protected-resource", asMetaPath: "/.well-known/oauth-authorization-server"},
			[]string{"GET /.well-known/oauth-protected-resource/mcp", "GET /.well-known/oauth-protected-resource", "GET /.well-known/oauth-authorization-server"}, nil, ""},
		{"OIDC only", fakeOpts{prmPath: "/.well-known/oauth-protected-resource", asMetaPath: "/.well-known/openid-configuration"},
			[]string{"GET /.well-known/oauth-authorization-server", "GET /.well-known/openid-configuration", "GET /authorize"}, nil, ""},
		{"path-inserted issuer", fakeOpts{prmPath: "/.well-known/oauth-protected-resource", issuerPath: "/tenant1", asMetaPath: "/.well-known/oauth-authorization-server/tenant1"},
			[]string{"GET /.well-known/oauth-authorization-server/tenant1", "GET /tenant1/authorize", "POST /tenant1/token"},
			[]string{"GET /.well-known/openid-configuration/tenant1"}, ""},
		{"issuer path, OIDC appended", fakeOpts{prmPath: "/.well-known/oauth-protected-resource", issuerPath: "/tenant1", asMetaPath: "/tenant1/.well-known/openid-configuration"},
			[]string{"GET /.well-known/oauth-authorization-server/tenant1", "GET /.well-known/openid-configuration/tenant1", "GET /tenant1/.well-known/openid-configuration", "GET /tenant1/authorize"}, nil, ""},
		{"2025-03-26: no PRM, AS metadata at origin", fakeOpts{asMetaPath: "/.well-known/oauth-authorization-server"},
			[]string{"GET /.well-known/oauth-protected-resource/mcp", "GET /.well-known/oauth-protected-resource", "GET /.well-known/oauth-authorization-server", "POST /register", "GET /authorize"}, nil, FallbackOriginMetadata},
		{"2025-03-26: no metadata at all", fakeOpts{},
			[]string{"GET /.well-known/oauth-authorization-server", "GET /.well-known/openid-configuration", "POST /register", "GET /authorize", "POST /token"}, nil, FallbackDefaultEndpoints},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.o)
			v := newEnv(t, "", nil)
			entry := testEntry(t, f.mcp)
			var steps []Step
			d, err := v.e.Discover(ctxT(t), entry, func(s Step) { steps = append(steps, s) })
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if d.Fallback != tc.fallback || d.Issuer != f.iss {
				t.Errorf("fallback %q issuer %q; want %q %q", d.Fallback, d.Issuer, tc.fallback, f.iss)
			}
			if len(steps) < 2 || steps[0].Phase != "probe" || steps[0].Status != 401 {
				t.Errorf("trace does not start with the probe: %+v", steps)
			}
			if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			paths, _, _, _, _ := f.snapshot()
			// Only look at the Authenticate run (after Discover's requests).
			paths = paths[len(steps):]
			last := -1
			for _, w := range tc.want {
				i := slices.Index(paths[last+1:], w)
				if i < 0 {
					t.Fatalf("%q missing or out of order in %q", w, paths)
				}
				last += i + 1
			}
			for _, nw := range tc.notWant {
				if slices.Contains(paths, nw) {
					t.Errorf("%q requested although an earlier location answered: %q", nw, paths)
				}
			}
		})
	}
}

func TestIssuerMismatchRefused(t *testing.T) {
	f := newFake(t, fakeOpts{prmPath: "/.well-known/oauth-protected-resource", asMetaPath: "/.well-known/oauth-authorization-server", metaIssuer: "https://other.example"})
	v := newEnv(t, "", nil)
	_, err := v.e.Authenticate(ctxT(t), testEntry(t, f.mcp))
	var me *MetadataMismatchError
	if !errors.As(err, &me) || me.Field != "issuer" || me.Want != f.iss || me.Got != "https://other.example" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "https://other.example") || !strings.Contains(err.Error(), f.iss) {
		t.Errorf("message should name both issuers: %v", err)
	}
	_, regs, _, authz, _ := f.snapshot()
	if regs != 0 || len(authz) != 0 {
		t.Errorf("continued after mismatch: %d registrations, %d authorizations", regs, len(authz))
	}
}

func TestIssuerTrailingSlashMismatchRefused(t *testing.T) {
	f := newFake(t, fakeOpts{prmPath: "/.well-known/oauth-protected-resource", asMetaPath: "/.well-known/oauth-authorization-server"})
	f.o.metaIssuer = f.iss + "/"
	v := newEnv(t, "", nil)
	_, err := v.e.Authenticate(ctxT(t), testEntry(t, f.mcp))
	var me *MetadataMismatchError
	if !errors.As(err, &me) {
		t.Fatalf("issuer with an extra slash accepted: %v", err)
	}
}

func TestResourceMismatchRefused(t *testing.T) {
	for _, res := range []string{"https://elsewhere.example/mcp", "{{origin}}/other", "{{origin}}/mc"} {
		f := newFake(t, fakeOpts{prmPath: "/.well-known/oauth-protected-resource", asMetaPath: "/.well-known/oauth-authorization-server"})
		f.o.prmResource = strings.ReplaceAll(res, "{{origin}}", f.srv.URL)
		v := newEnv(t, "", nil)
		_, err := v.e.Authenticate(ctxT(t), testEntry(t, f.mcp))
		var me *MetadataMismatchError
		if !errors.As(err, &me) || me.Field != "resource" {
			t.Fatalf("resource %q: err = %v", f.o.prmResource, err)
		}
		if !strings.Contains(err.Error(), f.o.prmResource) || !strings.Contains(err.Error(), f.mcp) {
			t.Errorf("message should name both: %v", err)
		}
	}
	// A parent resource (same origin, path prefix) is accepted and sent as is.
	f := newFake(t, fakeOpts{prmPath: "/.well-known/oauth-protected-resource", asMetaPath: "/.well-known/oauth-authorization-server"})
	f.o.prmResource = f.srv.URL + "/"
	v := newEnv(t, "", nil)
	if _, err := v.e.Authenticate(ctxT(t), testEntry(t, f.mcp)); err != nil {
		t.Fatal(err)
	}
	_, _, _, authz, forms := f.snapshot()
	if authz[0].Get("resource") != f.srv.URL+"/" || forms[0].Get("resource") != f.srv.URL+"/" {
		t.Errorf("resource not byte-identical to the PRM: %q %q", authz[0].Get("resource"), forms[0].Get("resource"))
	}
}

func TestNoPKCERefused(t *testing.T) {
	f := newFake(t, fakeOpts{prmPath: "/.well-known/oauth-protected-resource", asMetaPath: "/.well-known/oauth-authorization-server", noPKCEMeta: true})
	v := newEnv(t, "", nil)
	_, err := v.e.Authenticate(ctxT(t), testEntry(t, f.mcp))
	if err == nil || !strings.Contains(err.Error(), "PKCE") {
		t.Fatalf("err = %v", err)
	}
}

func TestHeadersSentToMCPServerOnly(t *testing.T) {
	f := newFake(t, fakeOpts{prmPath: "/.well-known/oauth-protected-resource", asMetaPath: "/.well-known/oauth-authorization-server"})
	v := newEnv(t, "", nil)
	entry := testEntry(t, f.mcp)
	entry.Headers = map[string]string{"X-Api-Key": "k1"}
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.mcpHeaders) == 0 || f.mcpHeaders[0].Get("X-Api-Key") != "k1" {
		t.Fatalf("probe lacks the configured header")
	}
}

func TestNotProtected(t *testing.T) {
	f := newFake(t, fakeOpts{})
	f.o.requiredScope = ""
	f.access[""] = "" // requests without a token succeed
	v := newEnv(t, "", nil)
	_, err := v.e.Authenticate(ctxT(t), testEntry(t, f.mcp))
	if !errors.Is(err, ErrNotProtected) {
		t.Fatalf("err = %v", err)
	}
}

func TestPortInUseNamesEntry(t *testing.T) {
	f := newFake(t, fakeOpts{prmPath: "/.well-known/oauth-protected-resource", asMetaPath: "/.well-known/oauth-authorization-server"})
	v := newEnv(t, "", nil)
	entry := testEntry(t, f.mcp)
	ln := listenOn(t, entry.OAuth.CallbackPort)
	defer ln.Close()
	_, err := v.e.Authenticate(ctxT(t), entry)
	var pe *callback.PortInUseError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v", err)
	}
	// The error carries the entry and its file, for the surface's fix.
	if pe.Server != "srv" || pe.ConfigFile != entry.Source || pe.Port != entry.OAuth.CallbackPort {
		t.Errorf("PortInUseError should name the entry and its file: %+v", pe)
	}
	if len(v.opened) != 0 {
		t.Errorf("browser opened although the port is busy")
	}
}

func TestDiscoverReport(t *testing.T) {
	f := newFake(t, fakeOpts{prmPath: "/.well-known/oauth-protected-resource/mcp", challengeRM: true, challengeScope: "read",
		asMetaPath: "/.well-known/oauth-authorization-server", asScopes: []string{"read", "offline_access"}})
	v := newEnv(t, "", nil)
	entry := testEntry(t, f.mcp)
	var steps []Step
	d, err := v.e.Discover(ctxT(t), entry, func(s Step) { steps = append(steps, s) })
	if err != nil {
		t.Fatal(err)
	}
	if d.RegistrationMethod != RegistrationDynamic || strings.Join(d.Scopes, " ") != "read offline_access" ||
		d.Resource != f.mcp || d.ResourceMetadataURL != f.srv.URL+"/.well-known/oauth-protected-resource/mcp" {
		t.Errorf("discovery %+v", d)
	}
	var used []string
	for _, s := range steps {
		if s.Used {
			used = append(used, s.Phase)
		}
	}
	if strings.Join(used, ",") != "probe,protected-resource,authorization-server" {
		t.Errorf("used steps %v", used)
	}
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	if d, _ = v.e.Discover(ctxT(t), entry, nil); d.RegistrationMethod != RegistrationStored {
		t.Errorf("after auth: %s", d.RegistrationMethod)
	}
	entry.OAuth.ClientID = "pre"
	if d, _ = v.e.Discover(ctxT(t), entry, nil); d.RegistrationMethod != RegistrationPreregistered {
		t.Errorf("with clientId: %s", d.RegistrationMethod)
	}
}
