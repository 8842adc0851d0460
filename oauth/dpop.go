package oauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/config"
)

// TokenTypeDPoP is the token type of DPoP-bound access tokens (RFC 9449).
const TokenTypeDPoP = "DPoP"

// TransportWrapper is implemented by the handlers Engine.Handler and
// Engine.InteractiveHandler return. NewTransport wraps its base transport
// with WrapTransport when its handler implements it (use a Transport rather
// than calling it yourself): requests that carry a DPoP-bound token (set by
// Transport as "Bearer") are then sent with the DPoP authorization scheme
// and a fresh proof, and a use_dpop_nonce challenge of the MCP server is
// answered by one retry with the server's nonce. Requests with ordinary
// bearer tokens pass through unchanged.
//
// The wrapper also tells the loop brakes (see FreshTokenWindow) whether the
// server accepted the first request made with a token this process obtained,
// which resets their backoff; without it, a token obtained because of a 401
// and refused with a 401 within FreshTokenWindow counts as never accepted.
type TransportWrapper interface {
	WrapTransport(base http.RoundTripper) http.RoundTripper
}

// dpopKey is a server's DPoP key: ES256 on P-256.
type dpopKey struct {
	priv   *ecdsa.PrivateKey
	signer jose.Signer
	jkt    string // base64url SHA-256 JWK thumbprint (RFC 7638)
}

func newDPoPKey() (*dpopKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating a DPoP key: %w", err)
	}
	return dpopKeyFrom(priv)
}

func dpopKeyFrom(priv *ecdsa.PrivateKey) (*dpopKey, error) {
	if priv.Curve != elliptic.P256() {
		return nil, errors.New("DPoP key is not on P-256")
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, opts)
	if err != nil {
		return nil, fmt.Errorf("DPoP signer: %w", err)
	}
	pub := jose.JSONWebKey{Key: &priv.PublicKey}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("DPoP key thumbprint: %w", err)
	}
	return &dpopKey{priv: priv, signer: signer, jkt: base64.RawURLEncoding.EncodeToString(tp)}, nil
}

// parseDPoPKey reads a stored private JWK.
func parseDPoPKey(raw json.RawMessage) (*dpopKey, error) {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("stored DPoP key: %w", err)
	}
	priv, ok := k.Key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("stored DPoP key is not an EC private key")
	}
	return dpopKeyFrom(priv)
}

func (k *dpopKey) marshal() (json.RawMessage, error) {
	return jose.JSONWebKey{Key: k.priv, Algorithm: string(jose.ES256), Use: "sig"}.MarshalJSON()
}

// dpopProofClaims are the claims of a DPoP proof (RFC 9449 §4.2).
type dpopProofClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// htu is the request URI without query and fragment.
func htu(u *url.URL) string {
	c := *u
	c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = "", false, "", ""
	c.User = nil
	return c.String()
}

// accessTokenHash is the ath claim: base64url(SHA-256(access token)).
func accessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// proof returns a fresh DPoP proof for method and target; accessToken, when
// set, is bound through ath.
func (k *dpopKey) proof(method string, target *url.URL, accessToken, nonce string, now time.Time) (string, error) {
	c := dpopProofClaims{JTI: rand.Text(), HTM: method, HTU: htu(target), IAT: now.Unix(), Nonce: nonce}
	if accessToken != "" {
		c.ATH = accessTokenHash(accessToken)
	}
	s, err := jwt.Signed(k.signer).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("signing a DPoP proof: %w", err)
	}
	return s, nil
}

// dpopState is the engine's DPoP state: the latest nonce per origin and the
// key each server's current token is bound to. The zero value is ready.
type dpopState struct {
	mu     sync.Mutex
	nonces map[string]string     // nonceKey → latest DPoP-Nonce
	bound  map[string]boundToken // server name → token and its key
	keyMu  sync.Mutex            // serialises key creation
}

type boundToken struct {
	token string
	key   *dpopKey
}

// nonceKey scopes a nonce to the URI it was received from (the htu), so an
// authorization server and a resource server on one origin keep their own.
func nonceKey(u *url.URL) string { return strings.ToLower(u.Scheme+"://"+u.Host) + u.EscapedPath() }

func (s *dpopState) nonce(u *url.URL) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nonces[nonceKey(u)]
}

// remember records a DPoP-Nonce header of a response from u, if any.
func (s *dpopState) remember(u *url.URL, h http.Header) string {
	n := h.Get("DPoP-Nonce")
	if n == "" {
		return ""
	}
	s.mu.Lock()
	if s.nonces == nil {
		s.nonces = map[string]string{}
	}
	s.nonces[nonceKey(u)] = n
	s.mu.Unlock()
	return n
}

func (s *dpopState) bind(server, token string, k *dpopKey) {
	s.mu.Lock()
	if s.bound == nil {
		s.bound = map[string]boundToken{}
	}
	s.bound[server] = boundToken{token: token, key: k}
	s.mu.Unlock()
}

func (s *dpopState) boundKey(server, token string) *dpopKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.bound[server]; ok && b.token == token {
		return b.key
	}
	return nil
}

// WillUseDPoP reports whether tokens for entry, as discovered in d, will be
// DPoP-bound (for `mcplink debug`); see dpopWanted for the rule.
func WillUseDPoP(entry *config.Entry, d *Discovery) (bool, error) {
	return dpopWanted(entry, &asMeta{dpopAlgs: d.DPoPAlgs}, d.ResourceAcceptsDPoP)
}

// dpopWanted reports whether tokens for entry at an AS with metadata m
// should be DPoP-bound. "oauth.dpop" decides when set (true is an error
// when the AS lists DPoP algorithms without ES256). Unset, DPoP is used only when both sides
// take it: the authorization server advertises ES256 in
// dpop_signing_alg_values_supported and the MCP server says it accepts
// DPoP-bound tokens (resourceOK). A DPoP-capable authorization server in
// front of a Bearer-only MCP server (oidc-provider offers DPoP by default)
// would otherwise mint tokens the MCP server refuses.
func dpopWanted(entry *config.Entry, m *asMeta, resourceOK bool) (bool, error) {
	o := oauthOf(entry)
	advertised := m != nil && slices.Contains(m.dpopAlgs, string(jose.ES256))
	if o.DPoP == nil {
		return advertised && resourceOK, nil
	}
	if !*o.DPoP {
		return false, nil
	}
	if m != nil && len(m.dpopAlgs) > 0 && !advertised {
		return false, fmt.Errorf("MCP server %q has \"oauth.dpop\": true in %s, but the authorization server accepts DPoP proofs only with %s, not ES256", entry.Name, entry.Source, strings.Join(m.dpopAlgs, ", "))
	}
	return true, nil
}

// withDPoP binds c to the server's DPoP key (created and persisted on first
// use) when DPoP applies.
func (e *Engine) withDPoP(ctx context.Context, entry *config.Entry, m *asMeta, resourceOK bool, c clientCreds) (clientCreds, error) {
	want, err := dpopWanted(entry, m, resourceOK)
	if err != nil || !want {
		return c, err
	}
	k, err := e.dpopKeyFor(ctx, entry)
	if err != nil {
		return c, err
	}
	c.dpop = k
	return c, nil
}

// dpopKeyFor returns entry's persisted DPoP key, creating and storing one
// when there is none.
func (e *Engine) dpopKeyFor(ctx context.Context, entry *config.Entry) (*dpopKey, error) {
	e.dpop.keyMu.Lock()
	defer e.dpop.keyMu.Unlock()
	var out *dpopKey
	err := e.opts.Store.Update(ctx, entry.Name, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		if cur != nil && cur.ForURL(entry.URL) && len(cur.DPoPKey) > 0 {
			k, err := parseDPoPKey(cur.DPoPKey)
			if err == nil {
				out = k
				return nil, errUnchanged
			}
			// An unreadable key binds nothing usable: replace it.
		}
		k, err := newDPoPKey()
		if err != nil {
			return nil, err
		}
		raw, err := k.marshal()
		if err != nil {
			return nil, err
		}
		if cur == nil || !cur.ForURL(entry.URL) {
			cur = &authstore.Credentials{ServerURL: entry.URL}
		}
		cur.DPoPKey = raw
		cur.Token = nil // a token bound to another key is useless now
		cur.UpdatedAt = e.opts.Now()
		out = k
		return cur, nil
	})
	if err = ignoreUnchanged(err); err != nil {
		return nil, fmt.Errorf("MCP server %q: DPoP key: %w", entry.Name, err)
	}
	return out, nil
}

// bindRefresh binds a refresh of cur's token to the key the token is bound to.
func bindRefresh(cur *authstore.Credentials, c clientCreds) (clientCreds, error) {
	if cur.Token == nil || !strings.EqualFold(cur.Token.TokenType, TokenTypeDPoP) {
		return c, nil
	}
	k, err := parseDPoPKey(cur.DPoPKey)
	if err != nil {
		return c, err
	}
	c.dpop = k
	return c, nil
}

// sendToken POSTs form to a token endpoint with client authentication and,
// for a DPoP client, a proof; a use_dpop_nonce answer is retried once with
// the server's nonce. The caller reads and closes the response body.
func (e *Engine) sendToken(ctx context.Context, endpoint string, c clientCreds, form url.Values) (*http.Response, error) {
	target, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	body := form.Encode()
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if c.method == AuthBasic {
			req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
		}
		if c.dpop != nil {
			p, err := c.dpop.proof(http.MethodPost, target, "", e.dpop.nonce(target), e.opts.Now())
			if err != nil {
				return nil, err
			}
			req.Header.Set("DPoP", p)
		}
		resp, err := e.client.Do(req)
		if err != nil || c.dpop == nil {
			return resp, err
		}
		nonce := e.dpop.remember(target, resp.Header)
		if attempt > 0 || nonce == "" || resp.StatusCode != http.StatusBadRequest {
			return resp, nil
		}
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		var oe struct {
			Error string `json:"error"`
		}
		if rerr != nil || json.Unmarshal(data, &oe) != nil || oe.Error != "use_dpop_nonce" {
			resp.Body = io.NopCloser(bytes.NewReader(data))
			return resp, rerr
		}
	}
}

// WrapTransport implements TransportWrapper.
func (h *handler) WrapTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &dpopTransport{e: h.e, entry: h.entry, base: base, guard: &h.e.state(h.entry.Name).guard}
}

type dpopTransport struct {
	e     *Engine
	entry *config.Entry
	base  http.RoundTripper
	guard *loopGuard // told how the server answers the tokens we obtained
}

// key returns the DPoP key token is bound to, or nil for a bearer token.
func (t *dpopTransport) key(ctx context.Context, token string) (*dpopKey, error) {
	if k := t.e.dpop.boundKey(t.entry.Name, token); k != nil {
		return k, nil
	}
	if c := t.e.state(t.entry.Name).cached(t.entry.URL); c != nil && c.AccessToken == token && !strings.EqualFold(c.TokenType, TokenTypeDPoP) {
		return nil, nil
	}
	creds, err := t.e.load(ctx, t.entry)
	if err != nil {
		return nil, err
	}
	if creds == nil || creds.Token == nil || creds.Token.AccessToken != token || !strings.EqualFold(creds.Token.TokenType, TokenTypeDPoP) {
		return nil, nil
	}
	k, err := parseDPoPKey(creds.DPoPKey)
	if err != nil {
		return nil, fmt.Errorf("MCP server %q: %w; a new sign-in replaces the stored key", t.entry.Name, err)
	}
	t.e.dpop.bind(t.entry.Name, token, k)
	return k, nil
}

func (t *dpopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	token := bearer(req)
	if token == "" {
		return t.base.RoundTrip(req)
	}
	resp, err := t.roundTrip(req, token)
	if err == nil {
		t.guard.observe(token, resp.StatusCode)
	}
	return resp, err
}

// roundTrip sends req, which carries token: as is for a bearer token, with
// the DPoP scheme and a proof (retried once with the server's nonce) for a
// DPoP-bound one.
func (t *dpopTransport) roundTrip(req *http.Request, token string) (*http.Response, error) {
	k, err := t.key(req.Context(), token)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	if k == nil {
		return t.base.RoundTrip(req)
	}
	for attempt := 0; ; attempt++ {
		r := req.Clone(req.Context())
		if attempt > 0 {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r.Body = body
		}
		p, err := k.proof(req.Method, req.URL, token, t.e.dpop.nonce(req.URL), t.e.opts.Now())
		if err != nil {
			closeBody(req)
			return nil, err
		}
		r.Header.Set("Authorization", TokenTypeDPoP+" "+token)
		r.Header.Set("DPoP", p)
		resp, err := t.base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		t.e.dpop.remember(req.URL, resp.Header)
		if attempt > 0 || !nonceChallenge(resp) || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
			return resp, nil
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// nonceChallenge reports a resource server's use_dpop_nonce challenge (RFC 9449 §9).
func nonceChallenge(resp *http.Response) bool {
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("DPoP-Nonce") == "" {
		return false
	}
	cs, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		return false
	}
	for _, c := range cs {
		if c.Scheme == "dpop" && c.Params["error"] == "use_dpop_nonce" {
			return true
		}
	}
	return false
}
