package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/netutil"
)

// Step is one discovery request, for `mcplink debug`.
type Step struct {
	// Phase is "probe", "protected-resource", "authorization-server" or "fallback".
	Phase  string
	Method string // HTTP method
	URL    string // the URL requested
	Status int    // HTTP status; 0 when the request failed
	Err    string // why the step was rejected or failed, if it was
	Used   bool   // this result was adopted
	Note   string // what the step found or assumed, for people
}

// Challenge is the Bearer challenge of a 401/403 response.
type Challenge struct {
	// Scheme is the lower-cased authentication scheme: "bearer" or "dpop".
	Scheme           string
	ResourceMetadata string // resource_metadata: the RFC 9728 metadata URL
	Scope            string // scope: the scopes the server asks for
	Error            string // error, e.g. invalid_token or insufficient_scope
	ErrorDescription string // error_description
}

// Fallbacks used when metadata is missing (MCP 2025-03-26).
const (
	FallbackNone = ""
	// FallbackOriginMetadata: no protected resource metadata; the MCP origin is the AS.
	FallbackOriginMetadata = "origin-as"
	// FallbackDefaultEndpoints: no AS metadata; /authorize, /token, /register at the AS base.
	FallbackDefaultEndpoints = "default-endpoints"
)

// Registration methods, in the order they are tried.
const (
	RegistrationMetadataDocument = "client_id_metadata_document"
	RegistrationPreregistered    = "preregistered"
	RegistrationStored           = "stored_dynamic"
	RegistrationDynamic          = "dynamic"
	RegistrationNone             = "none"
)

// Discovery is everything learnt about a server's authorization.
type Discovery struct {
	ServerURL   string     // the MCP server URL discovered for
	ProbeStatus int        // status of the unauthenticated probe; 0 when not probed
	Challenge   *Challenge // nil when the server sent none

	ResourceMetadataURL string                             // where the PRM was found; empty if none
	ResourceMetadata    *oauthex.ProtectedResourceMetadata // the PRM; nil if none
	// Resource is the RFC 8707 resource sent on every request: the PRM's
	// resource byte for byte, else the canonical server URL.
	Resource string

	Issuer                string                  // the authorization server chosen
	AuthServerMetadataURL string                  // empty when default endpoints are used
	AuthServer            *oauthex.AuthServerMeta // its metadata (or the fallback endpoints)
	Fallback              string                  // FallbackNone or the fallback used

	// DeviceAuthorizationEndpoint is the RFC 8628 endpoint, if advertised.
	DeviceAuthorizationEndpoint string

	// RegistrationMethod is how a client would be obtained now.
	RegistrationMethod string
	// Scopes would be requested by a new authorization.
	Scopes []string
	// ResourceAcceptsDPoP is true when the MCP server says it takes DPoP-bound
	// tokens: its metadata lists dpop_signing_alg_values_supported (or
	// requires bound tokens), or its 401 challenge uses the DPoP scheme.
	ResourceAcceptsDPoP bool
	// DPoPAlgs lists the authorization server's dpop_signing_alg_values_supported.
	DPoPAlgs []string
}

// asMeta is AS metadata plus where it came from.
type asMeta struct {
	*oauthex.AuthServerMeta
	url      string
	fallback bool
	device   string   // device_authorization_endpoint (RFC 8628)
	dpopAlgs []string // dpop_signing_alg_values_supported (RFC 9449)
}

// asMetaDoc is the AS metadata document: oauthex's fields plus the ones it lacks.
type asMetaDoc struct {
	oauthex.AuthServerMeta
	DeviceAuthorizationEndpoint   string   `json:"device_authorization_endpoint,omitempty"`
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
}

// Discover probes the server and runs the whole discovery without
// registering or authorizing, reporting every request to trace (may be nil).
func (e *Engine) Discover(ctx context.Context, entry *config.Entry, trace func(Step)) (*Discovery, error) {
	if err := checkEntry(entry); err != nil {
		return nil, err
	}
	status, chal, err := e.probe(ctx, entry, trace)
	if err != nil {
		return nil, err
	}
	d, err := e.discover(ctx, entry, status, chal, trace)
	if err != nil {
		return d, err
	}
	creds, _ := e.load(ctx, entry)
	d.RegistrationMethod = registrationMethod(entry, creds, d)
	d.Scopes = requestScopes(entry, d, nil, priorScopesOf(creds, d.Issuer)...)
	return d, nil
}

func registrationMethod(entry *config.Entry, creds *authstore.Credentials, d *Discovery) string {
	o := oauthOf(entry)
	redirectURI := RedirectURI(entry)
	switch {
	case o.ClientMetadataURL != "" && d.AuthServer.ClientIDMetadataDocumentSupported:
		return RegistrationMetadataDocument
	case o.ClientID != "":
		return RegistrationPreregistered
	case creds != nil && storedClientUsable(creds.Client, d.Issuer, redirectURI):
		return RegistrationStored
	case d.AuthServer.RegistrationEndpoint != "":
		return RegistrationDynamic
	}
	return RegistrationNone
}

// originClient returns the client of a discovery fetch: e.client's
// transport behind the credential rule of Transport for entry (its
// configured headers only on its server's origin, through every redirect
// hop; none at all when entry is nil, then with origin u's) and the
// redirect policy of Transport.CheckRedirect, which additionally refuses a
// redirect to another origin that is neither https nor loopback http.
func (e *Engine) originClient(u string, entry *config.Entry) (*http.Client, error) {
	opts := TransportOptions{ServerURL: u, Base: e.client.Transport, MaxMessageSize: -1}
	if entry != nil {
		opts.ServerURL, opts.Headers = entry.URL, entry.Headers
	}
	t, err := NewTransport(opts)
	if err != nil {
		return nil, err
	}
	next := e.client.CheckRedirect
	return &http.Client{
		Transport: t,
		Jar:       e.client.Jar,
		Timeout:   e.client.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if err := checkSecureURL(req.URL.String()); err != nil && len(via) > 0 && Origin(req.URL) != Origin(via[0].URL) {
				return &RedirectError{From: via[len(via)-1].URL.Redacted(), To: req.URL.Redacted(), Reason: err.Error()}
			}
			if err := t.CheckRedirect(req, via); err != nil {
				return err
			}
			if next != nil {
				return next(req, via)
			}
			return nil
		},
	}, nil
}

// probe POSTs an initialize request without a token to learn the challenge.
func (e *Engine) probe(ctx context.Context, entry *config.Entry, trace func(Step)) (int, *Challenge, error) {
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcplink","version":"1"}}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, entry.URL, strings.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("MCP server %q: %w", entry.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	hc, err := e.originClient(entry.URL, entry)
	if err != nil {
		return 0, nil, fmt.Errorf("MCP server %q: %w", entry.Name, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		emit(trace, Step{Phase: "probe", Method: "POST", URL: entry.URL, Err: err.Error()})
		return 0, nil, fmt.Errorf("MCP server %q: probing %s: %w", entry.Name, entry.URL, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	chal := parseChallenge(resp.Header)
	step := Step{Phase: "probe", Method: "POST", URL: entry.URL, Status: resp.StatusCode, Used: true}
	if chal != nil {
		step.Note = fmt.Sprintf("resource_metadata=%q scope=%q error=%q", chal.ResourceMetadata, chal.Scope, chal.Error)
	}
	emit(trace, step)
	return resp.StatusCode, chal, nil
}

func emit(trace func(Step), s Step) {
	if trace != nil {
		trace(s)
	}
}

// parseChallenge extracts the Bearer challenge from WWW-Authenticate headers.
func parseChallenge(h http.Header) *Challenge {
	vals := h.Values("WWW-Authenticate")
	if len(vals) == 0 {
		return nil
	}
	cs, err := oauthex.ParseWWWAuthenticate(vals)
	if err != nil {
		return nil
	}
	for _, c := range cs {
		if c.Scheme != "bearer" && c.Scheme != "dpop" {
			continue
		}
		return &Challenge{
			Scheme:           c.Scheme,
			ResourceMetadata: c.Params["resource_metadata"],
			Scope:            c.Params["scope"],
			Error:            c.Params["error"],
			ErrorDescription: c.Params["error_description"],
		}
	}
	return nil
}

// discover runs PRM and AS metadata discovery given the probe/request result.
func (e *Engine) discover(ctx context.Context, entry *config.Entry, status int, chal *Challenge, trace func(Step)) (*Discovery, error) {
	d := &Discovery{ServerURL: entry.URL, ProbeStatus: status, Challenge: chal}
	d.ResourceAcceptsDPoP = chal != nil && chal.Scheme == "dpop"
	prmURL, prm, err := e.findPRM(ctx, entry, chal, trace)
	if err != nil {
		return d, err
	}
	if prm != nil {
		d.ResourceAcceptsDPoP = d.ResourceAcceptsDPoP || len(prm.DPOPSigningAlgValuesSupported) > 0 || prm.DPOPBoundAccessTokensRequired
		d.ResourceMetadataURL, d.ResourceMetadata = prmURL, prm
		d.Resource = prm.Resource
		if len(prm.AuthorizationServers) == 0 {
			return d, fmt.Errorf("protected resource metadata at %s lists no authorization_servers", prmURL)
		}
		d.Issuer = prm.AuthorizationServers[0]
		return d, e.adoptAuthServer(ctx, entry, d, "no authorization server metadata; using /authorize, /token, /register", trace)
	}
	if status != http.StatusUnauthorized {
		return d, fmt.Errorf("MCP server %q answered HTTP %d without asking for authorization and publishes no protected resource metadata: %w", entry.Name, status, ErrNotProtected)
	}
	// MCP 2025-03-26: the MCP server's origin is the authorization server.
	d.Fallback = FallbackOriginMetadata
	d.Resource = canonicalURL(entry.URL)
	u, _ := url.Parse(entry.URL)
	d.Issuer = u.Scheme + "://" + u.Host
	emit(trace, Step{Phase: "fallback", URL: d.Issuer, Used: true, Note: "no protected resource metadata; the MCP server origin is the authorization server (2025-03-26)"})
	return d, e.adoptAuthServer(ctx, entry, d, "no authorization server metadata; using /authorize, /token, /register at the MCP origin (2025-03-26)", trace)
}

// adoptAuthServer fetches d.Issuer's metadata (or, when it publishes none,
// takes the default endpoints, explained by fallbackNote) and completes d.
func (e *Engine) adoptAuthServer(ctx context.Context, entry *config.Entry, d *Discovery, fallbackNote string, trace func(Step)) error {
	m, err := e.fetchASMeta(ctx, d.Issuer, trace)
	if err != nil {
		return err
	}
	if m == nil {
		m = defaultEndpoints(d.Issuer)
		d.Fallback = FallbackDefaultEndpoints
		emit(trace, Step{Phase: "fallback", URL: d.Issuer, Used: true, Note: fallbackNote})
	}
	d.AuthServerMetadataURL, d.AuthServer = m.url, m.AuthServerMeta
	d.DeviceAuthorizationEndpoint = m.device
	d.DPoPAlgs = m.dpopAlgs
	d.Resource = effectiveResource(entry, d.Resource)
	e.cacheMeta(d.Issuer, m)
	return nil
}

func defaultEndpoints(issuer string) *asMeta {
	base := strings.TrimSuffix(issuer, "/")
	return &asMeta{fallback: true, AuthServerMeta: &oauthex.AuthServerMeta{
		Issuer:                        issuer,
		AuthorizationEndpoint:         base + "/authorize",
		TokenEndpoint:                 base + "/token",
		RegistrationEndpoint:          base + "/register",
		CodeChallengeMethodsSupported: []string{"S256"},
	}}
}

// prmURLs lists where to look for protected resource metadata.
func prmURLs(serverURL, fromChallenge string) []string {
	var urls []string
	if fromChallenge != "" {
		urls = append(urls, fromChallenge)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return urls
	}
	origin := u.Scheme + "://" + u.Host
	if p := strings.Trim(u.Path, "/"); p != "" {
		urls = append(urls, origin+"/.well-known/oauth-protected-resource/"+p)
	}
	urls = append(urls, origin+"/.well-known/oauth-protected-resource")
	return slices.Compact(urls)
}

func (e *Engine) findPRM(ctx context.Context, entry *config.Entry, chal *Challenge, trace func(Step)) (string, *oauthex.ProtectedResourceMetadata, error) {
	named := ""
	if chal != nil {
		named = chal.ResourceMetadata
	}
	for _, mu := range prmURLs(entry.URL, named) {
		var prm oauthex.ProtectedResourceMetadata
		status, err := e.getJSON(ctx, mu, entry, &prm)
		step := Step{Phase: "protected-resource", Method: "GET", URL: mu, Status: status}
		if err != nil {
			step.Err = err.Error()
			emit(trace, step)
			continue
		}
		if !resourceBelongs(prm.Resource, entry.URL) {
			step.Err = "resource mismatch"
			emit(trace, step)
			return "", nil, &MetadataMismatchError{MetadataURL: mu, Field: "resource", Got: prm.Resource, Want: entry.URL}
		}
		for i, as := range prm.AuthorizationServers {
			if err := checkSecureURL(as); err != nil {
				step.Err = err.Error()
				emit(trace, step)
				return "", nil, fmt.Errorf("protected resource metadata at %s: authorization_servers[%d]: %w", mu, i, err)
			}
		}
		step.Used = true
		step.Note = fmt.Sprintf("resource=%q authorization_servers=%q scopes_supported=%q", prm.Resource, prm.AuthorizationServers, prm.ScopesSupported)
		emit(trace, step)
		return mu, &prm, nil
	}
	return "", nil, nil
}

// asMetaURLs lists the AS metadata URLs for issuer in the MCP spec's order.
func asMetaURLs(issuer string) []string {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil
	}
	origin := u.Scheme + "://" + u.Host
	p := strings.Trim(u.Path, "/")
	if p == "" {
		return []string{origin + "/.well-known/oauth-authorization-server", origin + "/.well-known/openid-configuration"}
	}
	return []string{
		origin + "/.well-known/oauth-authorization-server/" + p,
		origin + "/.well-known/openid-configuration/" + p,
		origin + "/" + p + "/.well-known/openid-configuration",
	}
}

// fetchASMeta returns the AS metadata of issuer, or nil if none is published.
// Metadata naming a different issuer is refused.
func (e *Engine) fetchASMeta(ctx context.Context, issuer string, trace func(Step)) (*asMeta, error) {
	if err := checkSecureURL(issuer); err != nil {
		return nil, fmt.Errorf("authorization server %q: %w", issuer, err)
	}
	for _, mu := range asMetaURLs(issuer) {
		var doc asMetaDoc
		status, err := e.getJSON(ctx, mu, nil, &doc)
		m := doc.AuthServerMeta
		step := Step{Phase: "authorization-server", Method: "GET", URL: mu, Status: status}
		if err != nil {
			step.Err = err.Error()
			emit(trace, step)
			if status >= 400 && status < 500 || errors.Is(err, errNotJSON) {
				continue
			}
			if status == 0 && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		if m.Issuer != issuer {
			step.Err = "issuer mismatch"
			emit(trace, step)
			return nil, &MetadataMismatchError{MetadataURL: mu, Field: "issuer", Got: m.Issuer, Want: issuer}
		}
		if err := validateASMeta(&m); err != nil {
			step.Err = err.Error()
			emit(trace, step)
			return nil, fmt.Errorf("authorization server metadata at %s: %w", mu, err)
		}
		step.Used = true
		step.Note = fmt.Sprintf("issuer=%q registration_endpoint=%q client_id_metadata_document_supported=%t token_endpoint_auth_methods_supported=%q scopes_supported=%q",
			m.Issuer, m.RegistrationEndpoint, m.ClientIDMetadataDocumentSupported, m.TokenEndpointAuthMethodsSupported, m.ScopesSupported)
		emit(trace, step)
		am := &asMeta{AuthServerMeta: &m, url: mu, dpopAlgs: doc.DPoPSigningAlgValuesSupported}
		if doc.DeviceAuthorizationEndpoint != "" && checkSecureURL(doc.DeviceAuthorizationEndpoint) == nil {
			am.device = doc.DeviceAuthorizationEndpoint
		}
		return am, nil
	}
	return nil, nil
}

func validateASMeta(m *oauthex.AuthServerMeta) error {
	if m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" {
		return errors.New("authorization_endpoint and token_endpoint are required")
	}
	for name, v := range map[string]string{"authorization_endpoint": m.AuthorizationEndpoint, "token_endpoint": m.TokenEndpoint, "registration_endpoint": m.RegistrationEndpoint} {
		if v == "" {
			continue
		}
		if err := checkSecureURL(v); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if !slices.Contains(m.CodeChallengeMethodsSupported, "S256") {
		return errors.New("the authorization server does not advertise PKCE S256 (code_challenge_methods_supported); refusing to proceed")
	}
	return nil
}

// metaFor returns AS metadata for a stored issuer (refresh path), cached.
func (e *Engine) metaFor(ctx context.Context, issuer string) (*asMeta, error) {
	e.mu.Lock()
	c, ok := e.meta[issuer]
	e.mu.Unlock()
	if ok && e.opts.Now().Sub(c.fetched) < 10*time.Minute {
		return c.meta, nil
	}
	m, err := e.fetchASMeta(ctx, issuer, nil)
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = defaultEndpoints(issuer)
	}
	e.cacheMeta(issuer, m)
	return m, nil
}

func (e *Engine) cacheMeta(issuer string, m *asMeta) {
	e.mu.Lock()
	e.meta[issuer] = cachedMeta{meta: m, fetched: e.opts.Now()}
	e.mu.Unlock()
}

var errNotJSON = errors.New("response is not JSON")

// getJSON GETs u into v. entry, when non-nil, adds the configured headers
// (only on the MCP server's origin, redirect hops included; see
// originClient).
func (e *Engine) getJSON(ctx context.Context, u string, entry *config.Entry, v any) (int, error) {
	if err := checkSecureURL(u); err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	hc, err := e.originClient(u, entry)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	// Lenient about Content-Type (some servers send text/plain), strict
	// about the body: an HTML catch-all page fails here.
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(v); err != nil {
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		return resp.StatusCode, fmt.Errorf("%w (Content-Type %q)", errNotJSON, mt)
	}
	return resp.StatusCode, nil
}

// checkSecureURL requires https, or http on a loopback host.
func checkSecureURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid URL %q", s)
	}
	if u.Host == "" {
		return fmt.Errorf("URL %q is not absolute", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if netutil.IsLoopbackHost(u.Hostname()) {
			return nil
		}
	}
	return fmt.Errorf("URL %q must use https (http is allowed for loopback only)", s)
}

// resourceBelongs reports whether a PRM resource identifies serverURL: same
// origin and a path that is a segment-wise prefix of the server's path.
func resourceBelongs(resource, serverURL string) bool {
	r, err1 := url.Parse(resource)
	s, err2 := url.Parse(serverURL)
	if err1 != nil || err2 != nil || resource == "" {
		return false
	}
	if !strings.EqualFold(r.Scheme, s.Scheme) || !strings.EqualFold(r.Host, s.Host) || r.Fragment != "" {
		return false
	}
	rp := strings.TrimSuffix(r.Path, "/")
	sp := strings.TrimSuffix(s.Path, "/")
	return rp == "" || rp == sp || strings.HasPrefix(sp, rp+"/")
}

// canonicalURL is the RFC 8707 resource for a server without PRM: lowercase
// scheme and host, no default port, no fragment, no trailing slash.
func canonicalURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	if (u.Scheme == "https" && u.Port() == "443") || (u.Scheme == "http" && u.Port() == "80") {
		u.Host = u.Hostname()
	}
	u.Fragment, u.RawFragment = "", ""
	if u.Path != "/" {
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = ""
	} else {
		u.Path = ""
	}
	return u.String()
}
