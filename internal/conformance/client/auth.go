package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/oauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// clientMetadataURL is the client ID metadata document URL the suite's
// authorization servers accept when they advertise CIMD support.
const clientMetadataURL = "https://conformance-test.local/client-metadata.json"

// cimdScenario is the scenario whose user publishes a client ID metadata document.
const cimdScenario = "auth/basic-cimd"

// clientCredentialsScenarios are those whose user runs a service with a
// client of its own ("oauth.grant": "client_credentials").
var clientCredentialsScenarios = map[string]bool{
	"auth/client-credentials-basic": true,
	"auth/client-credentials-jwt":   true,
}

// serverName is the config entry name the adapter uses.
const serverName = "conformance"

// runAuth signs in through mcplink's OAuth engine (sign-in on demand from
// the 401/403 challenges), then lists tools and calls test-tool.
func runAuth(ctx context.Context, env *scenarioEnv) error {
	dir, err := os.MkdirTemp("", "mcplink-conformance-store-")
	if err != nil {
		return fmt.Errorf("credential store directory: %w", err)
	}
	defer os.RemoveAll(dir)
	store, err := authstore.NewFileStore(authstore.FileOptions{Dir: dir, Notify: func(msg string) { log.Printf("store: %s", msg) }})
	if err != nil {
		return err
	}

	entry, err := entryFor(env, dir)
	if err != nil {
		return err
	}

	callbacks := callback.New(callback.Options{Logf: log.Printf})
	defer callbacks.Close()

	// A browser that does not land on the callback leaves the engine waiting
	// for a redirect that never comes; end the scenario at once instead.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	b := &browser{
		client:   &http.Client{Timeout: 10 * time.Second},
		callback: net.JoinHostPort("127.0.0.1", strconv.Itoa(entry.OAuth.CallbackPort)),
		fail:     cancel,
	}
	defer b.wait()

	eng := oauth.New(oauth.Options{
		Store:     store,
		Callbacks: callbacks,
		OpenURL:   b.open,
		Notify:    func(server, msg string) { log.Printf("%s: %s", server, msg) },
	})

	cs, err := connect(ctx, entry.URL, nil, eng.InteractiveHandler(entry))
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
			return fmt.Errorf("%w (%w)", err, cause)
		}
		return err
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	if findTool(tools.Tools, "test-tool") == nil {
		log.Printf("no test-tool listed; done after tools/list")
		return nil
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test-tool", Arguments: map[string]any{}}); err != nil {
		return fmt.Errorf("tools/call test-tool: %w", err)
	}
	return nil
}

// entryFor builds the config entry a user would write for the scenario's
// server: the harness context's pre-registered client becomes
// oauth.clientId/clientSecret, and the CIMD scenario names the suite's client
// ID metadata document as oauth.clientMetadataUrl. Every other scenario
// leaves the client to dynamic registration, so the suite can inspect the
// registration request (offline-access-scope, for one, advertises CIMD too
// and checks the registered grant_types only when the client registers).
//
// The extension scenarios map onto the machine and enterprise settings a
// user would write: the client credentials scenarios set "grant":
// "client_credentials" (with "privateKeyFile" holding the context's PEM key
// for private_key_jwt); a workload JWT becomes "assertionFile" and the
// enterprise IdP data becomes "idp" with "idTokenFile" (files written to
// dir, as a user's files would hold them). DPoP needs no setting: the
// authorization server advertises it.
func entryFor(env *scenarioEnv, dir string) (*config.Entry, error) {
	port, err := callbackPort(env.Name)
	if err != nil {
		return nil, err
	}
	o := &config.OAuth{CallbackPort: port}
	str := func(k string) string { s, _ := env.Context[k].(string); return s }
	id, secret := str("client_id"), str("client_secret")
	if id != "" {
		o.ClientID, o.ClientSecret = id, secret
	}
	if env.Name == cimdScenario {
		o.ClientMetadataURL = clientMetadataURL
	}
	write := func(name, content string) (string, error) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("writing %s: %w", name, err)
		}
		return p, nil
	}
	if clientCredentialsScenarios[env.Name] {
		o.Grant = config.GrantClientCredentials
	}
	if pem := str("private_key_pem"); pem != "" {
		if o.PrivateKeyFile, err = write("client-key.pem", pem); err != nil {
			return nil, err
		}
	}
	if jwt := str("valid_jwt"); jwt != "" {
		o.Grant = config.GrantJWTBearer
		if o.AssertionFile, err = write("workload.jwt", jwt); err != nil {
			return nil, err
		}
	}
	if idTok := str("idp_id_token"); idTok != "" {
		o.Grant = config.GrantJWTBearer
		o.IdP = &config.IdP{Issuer: str("idp_issuer"), TokenEndpoint: str("idp_token_endpoint"), ClientID: str("idp_client_id")}
		if o.IdP.IDTokenFile, err = write("id-token.jwt", idTok); err != nil {
			return nil, err
		}
	}
	return &config.Entry{
		Name:    serverName,
		Type:    config.TypeRemote,
		Enabled: true,
		URL:     env.ServerURL,
		OAuth:   o,
		Source:  "conformance-client",
	}, nil
}

// callbackPort picks the scenario's callback port, as a user would set
// "oauth.callbackPort". The suite's own servers bind kernel-chosen ephemeral
// ports, and a port found free and closed again can be taken by one of them
// before our listener binds it; so the port comes from below the ephemeral
// range, at an offset derived from the scenario name (the suite runs every
// scenario at once, each with its own port), and is probed before use.
func callbackPort(scenario string) (int, error) {
	lo, hi := callbackPortRange()
	h := fnv.New32a()
	h.Write([]byte(scenario))
	start := int(h.Sum32() % uint32(hi-lo))
	for i := range 64 {
		port := lo + (start+i*7919)%(hi-lo)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free callback port in %d-%d", lo, hi-1)
}

// callbackPortRange returns [lo, hi) just below the kernel's ephemeral port
// range (Linux ip_local_port_range; 20000-32000 where it cannot be read).
func callbackPortRange() (lo, hi int) {
	lo, hi = 20000, 32000
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return lo, hi
	}
	eph, err := strconv.Atoi(f[0])
	if err != nil || eph < 3024 {
		return lo, hi
	}
	return max(1024, eph-12000), eph
}

// browser stands in for the user's browser: the suite's authorization
// endpoint shows no page and redirects at once, so a GET that follows
// redirects lands on mcplink's own callback server, as a browser would.
type browser struct {
	client *http.Client
	// callback is the host:port the redirect must land on.
	callback string
	// fail ends the scenario when a page load does not reach the callback.
	fail context.CancelCauseFunc
	wg   sync.WaitGroup
}

// open loads authURL in the background, as a browser would; the engine
// meanwhile waits for the redirect on its callback server.
func (b *browser) open(ctx context.Context, authURL string) error {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, authURL, nil)
	if err != nil {
		return fmt.Errorf("browser: %w", err)
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		resp, err := b.client.Do(req)
		if err != nil {
			// A *url.Error names the full URL, whose query may hold the
			// authorization code: report only where the load failed.
			if ue, ok := errors.AsType[*url.Error](err); ok {
				if u, perr := url.Parse(ue.URL); perr == nil {
					err = fmt.Errorf("%s %s://%s%s: %w", ue.Op, u.Scheme, u.Host, u.Path, ue.Err)
				} else {
					err = ue.Err
				}
			}
			b.fail(fmt.Errorf("browser: %w", err))
			return
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		landed := resp.Request.URL
		log.Printf("browser: landed on %s://%s%s with status %d", landed.Scheme, landed.Host, landed.Path, resp.StatusCode)
		if landed.Host != b.callback {
			b.fail(fmt.Errorf("browser: the authorization page did not redirect to the callback %s (ended at %s://%s%s, HTTP %d)",
				b.callback, landed.Scheme, landed.Host, landed.Path, resp.StatusCode))
		}
	}()
	return nil
}

// wait returns once every page load has ended.
func (b *browser) wait() { b.wg.Wait() }
