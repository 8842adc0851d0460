package oauth

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
)

// The engine's test environment: a real file store, a real callback
// registry, a settable clock. The authorization servers the tests talk to
// are internal/oauthtest's (startAS).

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
	mu    sync.Mutex
	msgs  []string
	added chan struct{} // closed and replaced by every add
}

func (n *notes) add(server, msg string) {
	n.mu.Lock()
	n.msgs = append(n.msgs, server+": "+msg)
	if n.added != nil {
		close(n.added)
	}
	n.added = make(chan struct{})
	n.mu.Unlock()
}

func (n *notes) all() string {
	all, _ := n.get()
	return all
}

// get returns the notes so far and a channel closed by the next one.
func (n *notes) get() (string, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.added == nil {
		n.added = make(chan struct{})
	}
	return strings.Join(n.msgs, "\n"), n.added
}

// newEnv builds an engine on a real file store in dir (t.TempDir() if empty)
// and a real callback registry; the "browser" (open nil) follows redirects
// and approves at once.
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
		open = oauthtest.FollowRedirects
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

func testEntry(t testing.TB, u string) *config.Entry {
	return &config.Entry{Name: "srv", Type: config.TypeRemote, Enabled: true, URL: u,
		OAuth: &config.OAuth{CallbackPort: testenv.FreePort(t)}, Source: "/home/u/.config/mcplink/mcplink.json"}
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

// startAS starts internal/oauthtest's authorization server and MCP server
// for the test.
func startAS(t testing.TB, o oauthtest.Options) *oauthtest.Server {
	s, err := oauthtest.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		for _, p := range s.Problems() { // bad DPoP proofs, client assertions
			t.Errorf("server saw: %s", p)
		}
	})
	return s
}

// paths lists the requests s received as "METHOD /path".
func paths(s *oauthtest.Server) []string {
	var out []string
	for _, r := range s.Requests() {
		out = append(out, r.String())
	}
	return out
}

// authorizations are the query parameters of every authorization request s
// received; tokenForms the forms of every token request.
func authorizations(s *oauthtest.Server) []url.Values {
	return requestsTo(s, s.AuthorizationEndpoint(), func(r oauthtest.Request) url.Values { return r.Query })
}

func tokenForms(s *oauthtest.Server) []url.Values {
	return requestsTo(s, s.TokenEndpoint(), func(r oauthtest.Request) url.Values { return r.Form })
}

// requestsTo picks from every request to endpoint's path.
func requestsTo(s *oauthtest.Server, endpoint string, pick func(oauthtest.Request) url.Values) []url.Values {
	u, err := url.Parse(endpoint)
	if err != nil {
		panic(err) // the server's own URL
	}
	var out []url.Values
	for _, r := range s.Requests() {
		if r.Path == u.Path {
			out = append(out, pick(r))
		}
	}
	return out
}
