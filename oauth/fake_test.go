package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
)

// fakeOpts shapes a fake server that is both MCP resource server (/mcp) and
// authorization server, on one loopback origin, so every discovery layout
// (including the 2025-03-26 fallbacks) can be served.
type fakeOpts struct {
	prmPath        string // where PRM is served; "" = no PRM
	challengeRM    bool   // name the PRM URL in the 401
	challengeScope string
	prmResource    string // default: the MCP URL
	prmScopes      []string
	issuerPath     string // e.g. "/tenant1"
	asMetaPath     string // where AS metadata is served; "" = none
	metaIssuer     string // override the issuer inside the metadata
	issMode        string // "" exact, "none", "slash", "wrong"
	issAdvertised  bool
	cimd           bool
	noDCR          bool
	authMethods    []string
	asScopes       []string
	grant          func(requested string) string // scope granted; default = requested
	requiredScope  string                        // RS requirement (403 insufficient_scope)
	noPKCEMeta     bool
	refreshFail    int    // HTTP status for every refresh_token grant
	exchangeFail   string // error code for every authorization_code grant
	// regResp edits each registration answer (registration.go tests); the
	// fake serves RFC 7592 DELETE on ep/register/<id> for the token
	// "RAT_<id>" and counts it in regDeletes.
	regResp func(resp map[string]any)
}

type fake struct {
	t   *testing.T
	srv *httptest.Server
	o   fakeOpts
	mcp string
	iss string

	mu            sync.Mutex
	paths         []string
	registrations int
	regDeletes    []string // client IDs deleted with RFC 7592
	tokenReqs     map[string]int
	authorizes    []url.Values
	tokenForms    []url.Values
	codes         map[string]url.Values // code → authorize params
	access        map[string]string     // access token → scope
	refresh       map[string]string     // refresh token → scope
	clients       map[string]string     // client id → secret
	mcpHeaders    []http.Header
	n             int
}

func newFake(t *testing.T, o fakeOpts) *fake {
	f := &fake{t: t, o: o, tokenReqs: map[string]int{}, codes: map[string]url.Values{}, access: map[string]string{}, refresh: map[string]string{}, clients: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.mcp = f.srv.URL + "/mcp"
	f.iss = f.srv.URL + o.issuerPath
	return f
}

func (f *fake) next(prefix string) string {
	f.n++
	return fmt.Sprintf("%s-%d", prefix, f.n)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paths = append(f.paths, r.Method+" "+r.URL.Path)
	ep := f.iss
	switch p := r.URL.Path; {
	case p == "/mcp":
		f.mcpHeaders = append(f.mcpHeaders, r.Header.Clone())
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		scope, ok := f.access[tok]
		if !ok {
			var ps []string
			if f.o.challengeRM && f.o.prmPath != "" {
				ps = append(ps, fmt.Sprintf("resource_metadata=%q", f.srv.URL+f.o.prmPath))
			}
			if f.o.challengeScope != "" {
				ps = append(ps, fmt.Sprintf("scope=%q", f.o.challengeScope))
			}
			h := "Bearer"
			if len(ps) > 0 {
				h += " " + strings.Join(ps, ", ")
			}
			w.Header().Set("WWW-Authenticate", h)
			w.WriteHeader(401)
			return
		}
		for _, s := range strings.Fields(f.o.requiredScope) {
			if !slices.Contains(strings.Fields(scope), s) {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, f.o.requiredScope))
				w.WriteHeader(403)
				return
			}
		}
		writeJSON(w, 200, map[string]any{"jsonrpc": "2.0", "id": 1, "result": map[string]any{}})
	case f.o.prmPath != "" && p == f.o.prmPath:
		res := f.o.prmResource
		if res == "" {
			res = f.mcp
		}
		writeJSON(w, 200, map[string]any{"resource": res, "authorization_servers": []string{f.iss}, "scopes_supported": f.o.prmScopes})
	case f.o.asMetaPath != "" && p == f.o.asMetaPath:
		iss := f.iss
		if f.o.metaIssuer != "" {
			iss = f.o.metaIssuer
		}
		m := map[string]any{
			"issuer": iss, "authorization_endpoint": ep + "/authorize", "token_endpoint": ep + "/token",
			"response_types_supported":                       []string{"code"},
			"authorization_response_iss_parameter_supported": f.o.issAdvertised,
			"client_id_metadata_document_supported":          f.o.cimd,
		}
		if !f.o.noPKCEMeta {
			m["code_challenge_methods_supported"] = []string{"S256"}
		}
		if !f.o.noDCR {
			m["registration_endpoint"] = ep + "/register"
		}
		if f.o.authMethods != nil {
			m["token_endpoint_auth_methods_supported"] = f.o.authMethods
		}
		if f.o.asScopes != nil {
			m["scopes_supported"] = f.o.asScopes
		}
		writeJSON(w, 200, m)
	case p == f.pathOf(ep+"/register") && !f.o.noDCR:
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		f.registrations++
		id := f.next("client")
		resp := map[string]any{"client_id": id, "redirect_uris": m["redirect_uris"], "token_endpoint_auth_method": m["token_endpoint_auth_method"]}
		if m["token_endpoint_auth_method"] != "none" {
			resp["client_secret"] = "CS_SECRET_" + id
			f.clients[id] = "CS_SECRET_" + id
		} else {
			f.clients[id] = ""
		}
		if f.o.regResp != nil {
			f.o.regResp(resp)
		}
		writeJSON(w, 201, resp)
	case r.Method == http.MethodDelete && strings.HasPrefix(p, f.pathOf(ep+"/register/")):
		id := strings.TrimPrefix(p, f.pathOf(ep+"/register/"))
		if r.Header.Get("Authorization") != "Bearer RAT_"+id {
			w.WriteHeader(401)
			return
		}
		f.regDeletes = append(f.regDeletes, id)
		w.WriteHeader(204)
	case p == f.pathOf(ep+"/authorize"):
		q := r.URL.Query()
		f.authorizes = append(f.authorizes, q)
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
			http.Error(w, "pkce required", 400)
			return
		}
		code := f.next("CODE_SECRET")
		f.codes[code] = q
		ru, _ := url.Parse(q.Get("redirect_uri"))
		rq := url.Values{"code": {code}, "state": {q.Get("state")}}
		switch f.o.issMode {
		case "":
			rq.Set("iss", f.iss)
		case "slash":
			rq.Set("iss", f.iss+"/")
		case "wrong":
			rq.Set("iss", "https://evil.example")
		}
		ru.RawQuery = rq.Encode()
		http.Redirect(w, r, ru.String(), http.StatusFound)
	case p == f.pathOf(ep+"/token"):
		r.ParseForm()
		form := r.PostForm
		f.tokenForms = append(f.tokenForms, form)
		gt := form.Get("grant_type")
		f.tokenReqs[gt]++
		clientID, secret, basic := r.BasicAuth()
		if !basic {
			clientID, secret = form.Get("client_id"), form.Get("client_secret")
		} else {
			clientID, _ = url.QueryUnescape(clientID)
			secret, _ = url.QueryUnescape(secret)
		}
		if want, ok := f.clients[clientID]; ok && want != secret {
			writeJSON(w, 401, map[string]string{"error": "invalid_client"})
			return
		}
		var scope string
		switch gt {
		case "authorization_code":
			if f.o.exchangeFail != "" {
				writeJSON(w, 400, map[string]string{"error": f.o.exchangeFail, "error_description": "no"})
				return
			}
			q, ok := f.codes[form.Get("code")]
			delete(f.codes, form.Get("code"))
			sum := sha256.Sum256([]byte(form.Get("code_verifier")))
			if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") {
				writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
				return
			}
			scope = q.Get("scope")
			if f.o.grant != nil {
				scope = f.o.grant(scope)
			}
		case "refresh_token":
			if f.o.refreshFail != 0 {
				writeJSON(w, f.o.refreshFail, map[string]string{"error": "server_error"})
				return
			}
			s, ok := f.refresh[form.Get("refresh_token")]
			if !ok {
				writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
				return
			}
			scope = s
		}
		at, rt := f.next("AT_SECRET"), f.next("RT_SECRET")
		f.access[at], f.refresh[rt] = scope, scope
		writeJSON(w, 200, map[string]any{"access_token": at, "refresh_token": rt, "token_type": "Bearer", "expires_in": 3600, "scope": scope})
	default:
		http.NotFound(w, r)
	}
}

func (f *fake) pathOf(u string) string {
	pu, _ := url.Parse(u)
	return pu.Path
}

func (f *fake) snapshot() (paths []string, regs int, tokens map[string]int, authz []url.Values, forms []url.Values) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tk := map[string]int{}
	for k, v := range f.tokenReqs {
		tk[k] = v
	}
	return slices.Clone(f.paths), f.registrations, tk, slices.Clone(f.authorizes), slices.Clone(f.tokenForms)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type env struct {
	e        *Engine
	store    *authstore.FileStore
	reg      *callback.Registry
	clock    *clock
	notes    *notes
	opened   []string
	openedMu sync.Mutex
}

type notes struct {
	mu   sync.Mutex
	msgs []string
}

func (n *notes) add(server, msg string) {
	n.mu.Lock()
	n.msgs = append(n.msgs, server+": "+msg)
	n.mu.Unlock()
}
func (n *notes) all() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.msgs, "\n")
}

// newEnv builds an engine on a real file store in dir (t.TempDir() if empty)
// and a real callback registry; the "browser" follows redirects.
func newEnv(t testing.TB, dir string, open func(ctx context.Context, u string) error) *env {
	if dir == "" {
		dir = t.TempDir()
	}
	st, err := authstore.NewFileStore(authstore.FileOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	reg := callback.New(callback.Options{})
	t.Cleanup(func() { reg.Close() })
	v := &env{store: st, reg: reg, clock: newClock(), notes: &notes{}}
	if open == nil {
		open = followRedirects
	}
	v.e = New(Options{
		Store: st, Callbacks: reg, Now: v.clock.Now, Notify: v.notes.add, FlowTimeout: 10 * time.Second, RetryBackoff: 5 * time.Millisecond,
		OpenURL: func(ctx context.Context, u string) error {
			v.openedMu.Lock()
			v.opened = append(v.opened, u)
			v.openedMu.Unlock()
			return open(ctx, u)
		},
	})
	return v
}

// followRedirects plays a browser that approves at once: it follows every
// redirect up to the loopback callback.
func followRedirects(ctx context.Context, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("browser: HTTP %d", resp.StatusCode)
	}
	return nil
}

func testEntry(t testing.TB, u string) *config.Entry {
	return &config.Entry{Name: "srv", Type: config.TypeRemote, Enabled: true, URL: u,
		OAuth: &config.OAuth{CallbackPort: freePort(t)}, Source: "/home/u/.config/mcplink/mcplink.json"}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func listenOn(t testing.TB, port int) net.Listener {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", fmt.Sprint(port)))
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// hookStore wraps the real file store and runs afterLoad once after a Load,
// to force interleavings between two engines.
type hookStore struct {
	authstore.Store
	mu        sync.Mutex
	afterLoad func()
}

func (h *hookStore) Load(ctx context.Context, name string) (*authstore.Credentials, error) {
	c, err := h.Store.Load(ctx, name)
	h.mu.Lock()
	fn := h.afterLoad
	h.afterLoad = nil
	h.mu.Unlock()
	if fn != nil {
		fn()
	}
	return c, err
}

func mustRedirect(t testing.TB, entry *config.Entry) string {
	u, err := redirectURI(entry)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
