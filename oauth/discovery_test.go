package oauth

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/oauthtest"
)

func TestDiscoveryOrders(t *testing.T) {
	const (
		prmRoot = "/.well-known/oauth-protected-resource"
		asMeta  = "/.well-known/oauth-authorization-server"
	)
	cases := []struct {
		name     string
		o        oauthtest.Options // one origin for the MCP server and the AS
		want     []string          // paths that must appear, in this order
		notWant  []string
		fallback string
	}{
		{"path PRM named in 401", oauthtest.Options{ResourceMetadataPath: "/custom/prm", MetadataPath: asMeta},
			[]string{"POST /mcp", "GET /custom/prm", "GET " + asMeta, "GET /authorize", "POST /token"},
			[]string{"GET " + prmRoot + "/mcp", "GET " + prmRoot}, ""},
		{"path-based PRM", oauthtest.Options{ResourceMetadataPath: prmRoot + "/mcp", ChallengeOmitsResourceMetadata: true, MetadataPath: asMeta},
			[]string{"POST /mcp", "GET " + prmRoot + "/mcp", "GET " + asMeta},
			[]string{"GET " + prmRoot}, ""},
		{"PRM only at root", oauthtest.Options{ResourceMetadataPath: prmRoot, ChallengeOmitsResourceMetadata: true, MetadataPath: asMeta},
			[]string{"GET " + prmRoot + "/mcp", "GET " + prmRoot, "GET " + asMeta}, nil, ""},
		{"OIDC only", oauthtest.Options{ResourceMetadataPath: prmRoot, ChallengeOmitsResourceMetadata: true, MetadataPath: "/.well-known/openid-configuration"},
			[]string{"GET " + asMeta, "GET /.well-known/openid-configuration", "GET /authorize"}, nil, ""},
		{"path-inserted issuer", oauthtest.Options{ResourceMetadataPath: prmRoot, ChallengeOmitsResourceMetadata: true, IssuerPath: "/tenant1", MetadataPath: asMeta + "/tenant1"},
			[]string{"GET " + asMeta + "/tenant1", "GET /tenant1/authorize", "POST /tenant1/token"},
			[]string{"GET /.well-known/openid-configuration/tenant1"}, ""},
		{"issuer path, OIDC appended", oauthtest.Options{ResourceMetadataPath: prmRoot, ChallengeOmitsResourceMetadata: true, IssuerPath: "/tenant1", MetadataPath: "/tenant1/.well-known/openid-configuration"},
			[]string{"GET " + asMeta + "/tenant1", "GET /.well-known/openid-configuration/tenant1", "GET /tenant1/.well-known/openid-configuration", "GET /tenant1/authorize"}, nil, ""},
		{"2025-03-26: no PRM, AS metadata at origin", oauthtest.Options{NoResourceMetadata: true, MetadataPath: asMeta},
			[]string{"GET " + prmRoot + "/mcp", "GET " + prmRoot, "GET " + asMeta, "POST /register", "GET /authorize"}, nil, FallbackOriginMetadata},
		{"2025-03-26: no metadata at all", oauthtest.Options{NoResourceMetadata: true, NoMetadata: true},
			[]string{"GET " + asMeta, "GET /.well-known/openid-configuration", "POST /register", "GET /authorize", "POST /token"}, nil, FallbackDefaultEndpoints},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.OneOrigin = true
			s := startAS(t, tc.o)
			v := newEnv(t, "", nil)
			entry := testEntry(t, s.MCPURL)
			var steps []Step
			d, err := v.e.Discover(ctxT(t), entry, func(s Step) { steps = append(steps, s) })
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if d.Fallback != tc.fallback || d.Issuer != s.IssuerURL {
				t.Errorf("fallback %q issuer %q; want %q %q", d.Fallback, d.Issuer, tc.fallback, s.IssuerURL)
			}
			if len(steps) < 2 || steps[0].Phase != "probe" || steps[0].Status != 401 {
				t.Errorf("trace does not start with the probe: %+v", steps)
			}
			if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			paths := paths(s)
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
	s := startAS(t, oauthtest.Options{EditMetadata: func(m map[string]any) { m["issuer"] = "https://other.example" }})
	v := newEnv(t, "", nil)
	_, err := v.e.Authenticate(ctxT(t), testEntry(t, s.MCPURL))
	var me *MetadataMismatchError
	if !errors.As(err, &me) || me.Field != "issuer" || me.Want != s.IssuerURL || me.Got != "https://other.example" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "https://other.example") || !strings.Contains(err.Error(), s.IssuerURL) {
		t.Errorf("message should name both issuers: %v", err)
	}
	if st := s.Stats(); st.Registrations != 0 || st.AuthorizeRequests != 0 {
		t.Errorf("continued after mismatch: %d registrations, %d authorizations", st.Registrations, st.AuthorizeRequests)
	}
}

func TestIssuerTrailingSlashMismatchRefused(t *testing.T) {
	s := startAS(t, oauthtest.Options{EditMetadata: func(m map[string]any) { m["issuer"] = m["issuer"].(string) + "/" }})
	v := newEnv(t, "", nil)
	_, err := v.e.Authenticate(ctxT(t), testEntry(t, s.MCPURL))
	var me *MetadataMismatchError
	if !errors.As(err, &me) {
		t.Fatalf("issuer with an extra slash accepted: %v", err)
	}
}

func TestResourceMismatchRefused(t *testing.T) {
	for _, res := range []string{"https://elsewhere.example/mcp", "{{origin}}/other", "{{origin}}/mc"} {
		s := startAS(t, oauthtest.Options{})
		origin := strings.TrimSuffix(s.MCPURL, "/mcp")
		named := strings.ReplaceAll(res, "{{origin}}", origin)
		s.SetResource(named)
		v := newEnv(t, "", nil)
		_, err := v.e.Authenticate(ctxT(t), testEntry(t, s.MCPURL))
		var me *MetadataMismatchError
		if !errors.As(err, &me) || me.Field != "resource" {
			t.Fatalf("resource %q: err = %v", named, err)
		}
		if !strings.Contains(err.Error(), named) || !strings.Contains(err.Error(), s.MCPURL) {
			t.Errorf("message should name both: %v", err)
		}
	}
	// A parent resource (same origin, path prefix) is accepted and sent as is.
	s := startAS(t, oauthtest.Options{})
	parent := strings.TrimSuffix(s.MCPURL, "mcp")
	s.SetResource(parent)
	v := newEnv(t, "", nil)
	if _, err := v.e.Authenticate(ctxT(t), testEntry(t, s.MCPURL)); err != nil {
		t.Fatal(err)
	}
	authz, forms := authorizations(s), tokenForms(s)
	if authz[0].Get("resource") != parent || forms[0].Get("resource") != parent {
		t.Errorf("resource not byte-identical to the PRM: %q %q", authz[0].Get("resource"), forms[0].Get("resource"))
	}
}

func TestNoPKCERefused(t *testing.T) {
	s := startAS(t, oauthtest.Options{EditMetadata: func(m map[string]any) { delete(m, "code_challenge_methods_supported") }})
	v := newEnv(t, "", nil)
	_, err := v.e.Authenticate(ctxT(t), testEntry(t, s.MCPURL))
	if err == nil || !strings.Contains(err.Error(), "PKCE") {
		t.Fatalf("err = %v", err)
	}
}

func TestHeadersSentToMCPServerOnly(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	entry.Headers = map[string]string{"X-Api-Key": "k1"}
	if _, err := v.e.Authenticate(ctxT(t), entry); err != nil {
		t.Fatal(err)
	}
	reqs := s.Requests()
	i := slices.IndexFunc(reqs, func(r oauthtest.Request) bool { return r.Path == "/mcp" })
	if i < 0 || reqs[i].Header.Get("X-Api-Key") != "k1" {
		t.Fatalf("probe lacks the configured header")
	}
}

func TestNotProtected(t *testing.T) {
	srv, err := mcptest.StartHTTP(mcptest.HTTPOptions{}) // requests without a token succeed
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	v := newEnv(t, "", nil)
	_, err = v.e.Authenticate(ctxT(t), testEntry(t, srv.URL))
	if !errors.Is(err, ErrNotProtected) {
		t.Fatalf("err = %v", err)
	}
}

func TestPortInUseNamesEntry(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
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
	s := startAS(t, oauthtest.Options{ChallengeScope: "read", Scopes: []string{"read", "offline_access"}})
	v := newEnv(t, "", nil)
	entry := testEntry(t, s.MCPURL)
	var steps []Step
	d, err := v.e.Discover(ctxT(t), entry, func(s Step) { steps = append(steps, s) })
	if err != nil {
		t.Fatal(err)
	}
	if d.RegistrationMethod != RegistrationDynamic || strings.Join(d.Scopes, " ") != "read offline_access" ||
		d.Resource != s.MCPURL || d.ResourceMetadataURL != strings.TrimSuffix(s.MCPURL, "/mcp")+"/.well-known/oauth-protected-resource/mcp" {
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
