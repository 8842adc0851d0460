package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
)

// The one account of the identity provider.
const (
	idpUser     = "alice"
	idpPassword = "wonderland"
	// introspectorID is the provider's confidential client that may
	// introspect every token (the test's view of the provider's state).
	introspectorID = "e2e-introspector"
)

// idp is a running oidc-provider (e2e/idp/server.mjs).
type idp struct {
	Issuer string
	Meta   idpMeta

	introspectorSecret string
	cmd                *exec.Cmd
	stdin              io.WriteCloser
	logs               *lockedBuffer
	done               chan struct{} // closed when the process has exited
}

// idpMeta is the part of the discovery document the tests use.
type idpMeta struct {
	Issuer                      string   `json:"issuer"`
	AuthorizationEndpoint       string   `json:"authorization_endpoint"`
	TokenEndpoint               string   `json:"token_endpoint"`
	JWKSURI                     string   `json:"jwks_uri"`
	RegistrationEndpoint        string   `json:"registration_endpoint"`
	RevocationEndpoint          string   `json:"revocation_endpoint"`
	IntrospectionEndpoint       string   `json:"introspection_endpoint"`
	DeviceAuthorizationEndpoint string   `json:"device_authorization_endpoint"`
	CodeChallengeMethods        []string `json:"code_challenge_methods_supported"`
	ScopesSupported             []string `json:"scopes_supported"`
}

// idpConfig is how the provider is configured.
type idpConfig struct {
	// AccessTokenTTL is the access-token lifetime (whole seconds).
	AccessTokenTTL time.Duration
	// DPoP offers DPoP (RFC 9449), as stock oidc-provider does.
	DPoP bool
	// StrictOfflineAccess issues refresh tokens only when offline_access
	// was granted, which stock oidc-provider does only for requests with
	// prompt=consent (OpenID Connect Core 1.0 §11). Otherwise every client
	// allowed the refresh_token grant gets one.
	StrictOfflineAccess bool
	// ServerDPoP makes the MCP server take DPoP-bound tokens and advertise
	// it (RFC 9728 dpop_signing_alg_values_supported); else it takes Bearer
	// tokens only.
	ServerDPoP bool
	// ServerSSE makes the MCP server speak only the 2024-11-05 SSE transport.
	ServerSSE bool
}

// The two configurations most tests use: the stock rules on DPoP and
// offline_access relaxed, so that each test exercises its own feature;
// TestStockProvider* cover the stock rules.
var (
	relaxed      = idpConfig{AccessTokenTTL: time.Hour}
	relaxedShort = idpConfig{AccessTokenTTL: shortTTL}
)

type idpOptions struct {
	idpConfig
	Resource string
}

// idpAttempts and idpAttemptTimeout bound the provider's start. Node starts
// oidc-provider in well under a second on an idle machine and in about 4 s
// with a dozen starting at once on two cores; a start that takes longer has
// hung (seen once on CI, before the provider was configured), so it is
// killed, with what its threads were doing, and tried again.
const (
	idpAttempts       = 3
	idpAttemptTimeout = 20 * time.Second
)

// startIdP starts the provider on a free loopback port and waits for its
// discovery document, retrying a start that hangs; logf reports such retries.
func startIdP(ctx context.Context, logf func(string, ...any), node, dir string, opts idpOptions) (*idp, error) {
	var err error
	for attempt := 1; attempt <= idpAttempts; attempt++ {
		var p *idp
		p, err = startIdPOnce(ctx, node, dir, opts)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, errIdPHung) || ctx.Err() != nil {
			return nil, err
		}
		logf("identity provider start %d of %d: %v", attempt, idpAttempts, err)
	}
	return nil, err
}

// errIdPHung is a start that did not get ready in idpAttemptTimeout.
var errIdPHung = errors.New("the identity provider did not get ready")

func startIdPOnce(ctx context.Context, node, dir string, opts idpOptions) (*idp, error) {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	p := &idp{introspectorSecret: hex.EncodeToString(secret), logs: &lockedBuffer{}, done: make(chan struct{})}
	cmd := exec.Command(node, filepath.Join(dir, "server.mjs"))
	cmd.Dir = dir
	cmd.Env = append(minimalEnv(filepath.Join(filepath.Dir(mcplinkBin), "idp-env")),
		"IDP_PORT=0",
		"IDP_RESOURCES="+opts.Resource,
		"IDP_ACCESS_TOKEN_TTL="+strconv.Itoa(int(opts.AccessTokenTTL/time.Second)),
		"IDP_USER="+idpUser,
		"IDP_PASSWORD="+idpPassword,
		"IDP_INTROSPECTOR_SECRET="+p.introspectorSecret,
		"IDP_WATCH_STDIN=1",
		"IDP_DEBUG=1",
		"IDP_DPOP="+onOff(opts.DPoP),
		"IDP_REFRESH_TOKENS="+map[bool]string{true: "offline_access", false: "always"}[opts.StrictOfflineAccess],
	)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = p.logs
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the identity provider (%s): %w", node, err)
	}
	p.cmd, p.stdin = cmd, stdin
	issuerCh := make(chan string, 1)
	go func() { // owned by p: ends when the process closes stdout
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "IDP_ISSUER="); ok && !sent {
				issuerCh <- v
				sent = true
				continue
			}
			p.logs.Write([]byte(line + "\n"))
		}
		_ = cmd.Wait()
		close(p.done)
	}()

	ctx, cancel := context.WithTimeout(ctx, idpAttemptTimeout)
	defer cancel()
	select {
	case p.Issuer = <-issuerCh:
	case <-p.done:
		return nil, fmt.Errorf("the identity provider exited before it was ready:\n%s", p.logs.String())
	case <-ctx.Done():
		elapsed, threads := time.Since(t0), p.threads()
		p.close()
		return nil, fmt.Errorf("%w after %s (pid %d): %w\nits stderr:\n%s%s", errIdPHung,
			elapsed.Round(time.Millisecond), cmd.Process.Pid, ctx.Err(), p.logs.String(), threads)
	}
	for {
		err := getJSON(ctx, p.Issuer+"/.well-known/openid-configuration", &p.Meta)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			threads := p.threads()
			p.close()
			return nil, fmt.Errorf("%w: no discovery document at %s: %w\nits stderr:\n%s%s", errIdPHung,
				p.Issuer, err, p.logs.String(), threads)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if p.Meta.Issuer != p.Issuer {
		p.close()
		return nil, fmt.Errorf("discovery names issuer %q, want %q", p.Meta.Issuer, p.Issuer)
	}
	return p, nil
}

// threads describes what each of the provider's threads is doing, from
// /proc: its state, the kernel function it waits in and its system call
// (number first), which tells a thread blocked in the kernel (entropy, disk,
// a lock) from one that is busy.
func (p *idp) threads() string {
	dir := fmt.Sprintf("/proc/%d/task", p.cmd.Process.Pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	var sb strings.Builder
	sb.WriteString("threads (comm state wchan syscall):\n")
	for _, t := range tasks {
		read := func(name string) string {
			b, _ := os.ReadFile(filepath.Join(dir, t.Name(), name))
			return strings.TrimSpace(string(b))
		}
		state := read("stat")
		if i := strings.LastIndexByte(state, ')'); i >= 0 && i+3 <= len(state) {
			state = state[i+2 : i+3]
		}
		sc := read("syscall")
		if f := strings.Fields(sc); len(f) > 0 {
			sc = f[0]
		}
		fmt.Fprintf(&sb, "  %s %s %s %s\n", read("comm"), state, read("wchan"), sc)
	}
	return sb.String()
}

// close stops the provider: stdin's end, then SIGTERM, then SIGKILL.
func (p *idp) close() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.stdin.Close()
	select {
	case <-p.done:
		return
	case <-time.After(2 * time.Second):
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(2 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// tokenError is an OAuth error response.
type tokenError struct {
	Status      int
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// refresh sends a refresh_token grant as client straight to the provider's
// token endpoint. It returns the new refresh token, or the provider's error.
func (p *idp) refresh(ctx context.Context, client *authstore.Client, refreshToken, resource string) (string, *tokenError, error) {
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
		"resource":      {resource},
	}
	if client.ClientSecret == "" || client.TokenEndpointAuthMethod == "none" {
		form.Set("client_id", client.ClientID)
	} else if client.TokenEndpointAuthMethod == "client_secret_post" {
		form.Set("client_id", client.ClientID)
		form.Set("client_secret", client.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Meta.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !form.Has("client_id") {
		// client_secret_basic (RFC 6749 §2.3.1: form-encoded, then Basic).
		req.SetBasicAuth(url.QueryEscape(client.ClientID), url.QueryEscape(client.ClientSecret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		te := &tokenError{Status: resp.StatusCode}
		if err := json.Unmarshal(body, te); err != nil {
			return "", nil, fmt.Errorf("token endpoint answered HTTP %d with a non-JSON body", resp.StatusCode)
		}
		return "", te, nil
	}
	var ok struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &ok); err != nil {
		return "", nil, err
	}
	return ok.RefreshToken, nil, nil
}

// introspect asks the provider whether token is active (RFC 7662), as the
// confidential client introspectorID. Introspection does not consume a
// refresh token, so it can check one without disturbing mcplink.
func (p *idp) introspect(ctx context.Context, token string) (bool, error) {
	form := url.Values{"token": {token}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Meta.IntrospectionEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(introspectorID, p.introspectorSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("introspection answered HTTP %d", resp.StatusCode)
	}
	var out struct {
		Active *bool `json:"active"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return false, err
	}
	if out.Active == nil {
		return false, errors.New("introspection response has no active member")
	}
	return *out.Active, nil
}

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// env is one identity provider with the MCP server it issues tokens for.
type env struct {
	IdP *idp
	RS  *resourceServer
}

func (e *env) close() {
	e.RS.close()
	e.IdP.close()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// sharedEnv returns the environment whose provider is configured as cfg,
// starting it on first use; TestMain stops it.
func sharedEnv(tb testing.TB, cfg idpConfig) *env {
	tb.Helper()
	node := nodePath(tb)
	dir := idpDir(tb)
	key := cfg
	harness.mu.Lock()
	defer harness.mu.Unlock()
	if r, ok := harness.envs[key]; ok {
		if r.err != nil {
			tb.Fatal(r.err)
		}
		return r.env
	}
	e, err := startEnv(context.Background(), tb.Logf, node, dir, cfg)
	harness.envs[key] = &envResult{env: e, err: err}
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func startEnv(ctx context.Context, logf func(string, ...any), node, dir string, cfg idpConfig) (*env, error) {
	rs, err := listenResourceServer(cfg.ServerDPoP, cfg.ServerSSE)
	if err != nil {
		return nil, err
	}
	p, err := startIdP(ctx, logf, node, dir, idpOptions{idpConfig: cfg, Resource: rs.URL})
	if err != nil {
		rs.close()
		return nil, err
	}
	if err := rs.serve(ctx, p.Issuer, p.Meta.JWKSURI); err != nil {
		rs.close()
		p.close()
		return nil, err
	}
	return &env{IdP: p, RS: rs}, nil
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
