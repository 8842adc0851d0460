package oauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/safefile"
)

// Grant and assertion type URNs.
const (
	// GrantTypeJWTBearer is the RFC 7523 JWT-bearer authorization grant.
	GrantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// ClientAssertionTypeJWTBearer is the RFC 7523 client assertion type.
	ClientAssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// AuthPrivateKeyJWT is the private_key_jwt token endpoint auth method.
	AuthPrivateKeyJWT = "private_key_jwt"
)

// ClientAssertionLifetime is the validity of a private_key_jwt assertion.
const ClientAssertionLifetime = 60 * time.Second

// CommandTimeout bounds assertionCommand and idTokenCommand.
const CommandTimeout = 30 * time.Second

// clientAssertion signs private_key_jwt client assertions (RFC 7523 §2.2).
type clientAssertion struct {
	clientID string
	audience string // the authorization server's issuer
	signer   jose.Signer
}

// loadPrivateKey reads a PEM private key (PKCS #8, SEC 1 EC or PKCS #1 RSA)
// and picks its JWS algorithm: ES256/ES384/ES512 by curve, RS256 for RSA.
func loadPrivateKey(path string) (crypto.Signer, jose.SignatureAlgorithm, error) {
	data, err := safefile.ReadRegular(path, maxSecretFile)
	if err != nil {
		return nil, "", err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, "", errors.New("no PEM block found (expected -----BEGIN PRIVATE KEY-----)")
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, "", fmt.Errorf("PEM block is %q, want a private key (PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, "", fmt.Errorf("parsing the %s: %w", strings.ToLower(block.Type), err)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return k, jose.ES256, nil
		case elliptic.P384():
			return k, jose.ES384, nil
		case elliptic.P521():
			return k, jose.ES512, nil
		}
		return nil, "", errors.New("unsupported EC curve (want P-256, P-384 or P-521)")
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, "", fmt.Errorf("RSA key has %d bits; at least 2048 are required", k.N.BitLen())
		}
		return k, jose.RS256, nil
	}
	return nil, "", fmt.Errorf("unsupported private key type %T (want EC or RSA)", key)
}

func newClientAssertion(entry *config.Entry, audience string) (*clientAssertion, error) {
	o := oauthOf(entry)
	key, alg, err := loadPrivateKey(o.PrivateKeyFile)
	if err != nil {
		return nil, fmt.Errorf("MCP server %q: \"oauth.privateKeyFile\" %s in %s: %w", entry.Name, o.PrivateKeyFile, entry.Source, err)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if o.PrivateKeyID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), o.PrivateKeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("MCP server %q: private key signer: %w", entry.Name, err)
	}
	return &clientAssertion{clientID: o.ClientID, audience: audience, signer: signer}, nil
}

// sign returns a fresh assertion: iss = sub = client ID, aud = issuer,
// unique jti, ClientAssertionLifetime expiry.
func (a *clientAssertion) sign(now time.Time) (string, error) {
	c := jwt.Claims{
		Issuer:    a.clientID,
		Subject:   a.clientID,
		Audience:  jwt.Audience{a.audience},
		ID:        rand.Text(),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)),
		Expiry:    jwt.NewNumericDate(now.Add(ClientAssertionLifetime)),
	}
	s, err := jwt.Signed(a.signer).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("signing the client assertion: %w", err)
	}
	return s, nil
}

// setClientAuth adds client authentication to form for methods carried in
// the body (the Authorization header of client_secret_basic is set by
// sendToken).
func (e *Engine) setClientAuth(c clientCreds, form url.Values) error {
	switch c.method {
	case AuthPost:
		form.Set("client_id", c.id)
		form.Set("client_secret", c.secret)
	case AuthBasic:
	case AuthPrivateKeyJWT:
		if c.assertion == nil {
			return errors.New("private_key_jwt client without a key")
		}
		a, err := c.assertion.sign(e.opts.Now())
		if err != nil {
			return err
		}
		form.Set("client_id", c.id)
		form.Set("client_assertion_type", ClientAssertionTypeJWTBearer)
		form.Set("client_assertion", a)
	default:
		if c.id != "" {
			form.Set("client_id", c.id)
		}
	}
	return nil
}

// isMachine reports whether entry obtains tokens without a user.
func isMachine(entry *config.Entry) bool {
	switch oauthOf(entry).EffectiveGrant() {
	case config.GrantClientCredentials, config.GrantJWTBearer:
		return true
	}
	return false
}

// machineClient is the client of a machine grant at the AS with metadata m.
func machineClient(entry *config.Entry, issuer string, m *asMeta) (clientCreds, error) {
	o := oauthOf(entry)
	c := clientCreds{id: o.ClientID, secret: o.ClientSecret, method: AuthNone, kind: RegistrationPreregistered}
	switch {
	case o.PrivateKeyFile != "":
		a, err := newClientAssertion(entry, issuer)
		if err != nil {
			return c, err
		}
		c.method, c.assertion = AuthPrivateKeyJWT, a
	case o.ClientSecret != "":
		c.method = pickAuthMethod(m.TokenEndpointAuthMethodsSupported)
		if c.method == AuthNone {
			c.method = AuthPost
		}
	}
	return c, nil
}

// machineTarget returns the issuer, resource and AS metadata for a machine
// grant: from the stored credentials, else by discovery.
//
// resourceDPoP says whether the MCP server takes DPoP-bound tokens: learnt by
// discovery, or — when stored credentials skip it — whether a DPoP key was
// already bound for this server.
func (e *Engine) machineTarget(ctx context.Context, entry *config.Entry, creds *authstore.Credentials) (issuer, resource string, m *asMeta, resourceDPoP bool, err error) {
	if creds != nil && creds.Issuer != "" {
		m, err := e.metaFor(ctx, creds.Issuer)
		if err == nil {
			return creds.Issuer, creds.Resource, m, len(creds.DPoPKey) > 0, nil
		}
	}
	d, err := e.Discover(ctx, entry, nil)
	if err != nil {
		return "", "", nil, false, err
	}
	m, err = e.metaFor(ctx, d.Issuer)
	if err != nil {
		return "", "", nil, false, err
	}
	return d.Issuer, d.Resource, m, d.ResourceAcceptsDPoP, nil
}

// machineTokenLocked returns creds' token when usable and not rejected,
// else fetches a new one with the machine grant. Caller holds st.refresh.
func (e *Engine) machineTokenLocked(ctx context.Context, entry *config.Entry, creds *authstore.Credentials, rejected string, extraScopes []string) (*authstore.Token, error) {
	if creds != nil && e.usable(creds.Token) && creds.Token.AccessToken != rejected && len(extraScopes) == 0 {
		e.state(entry.Name).set(entry.URL, creds.Token)
		return creds.Token, nil
	}
	if err := e.brake(entry); err != nil {
		return nil, err
	}
	return e.fetchMachine(ctx, entry, creds, extraScopes)
}

// fetchMachine runs the entry's machine grant once — no retry and no other
// grant after an error — and stores the token.
func (e *Engine) fetchMachine(ctx context.Context, entry *config.Entry, creds *authstore.Credentials, extraScopes []string) (*authstore.Token, error) {
	o := oauthOf(entry)
	grant := o.EffectiveGrant()
	issuer, resource, m, resourceDPoP, err := e.machineTarget(ctx, entry, creds)
	if err != nil {
		return nil, err
	}
	c, err := machineClient(entry, issuer, m)
	if err != nil {
		return nil, err
	}
	if c, err = e.withDPoP(ctx, entry, m, resourceDPoP, c); err != nil {
		return nil, err
	}
	form := url.Values{}
	switch grant {
	case config.GrantClientCredentials:
		form.Set("grant_type", "client_credentials")
	case config.GrantJWTBearer:
		a, err := e.grantAssertion(ctx, entry, issuer, resource)
		if err != nil {
			return nil, err
		}
		form.Set("grant_type", GrantTypeJWTBearer)
		form.Set("assertion", a)
	default:
		return nil, fmt.Errorf("MCP server %q: grant %q has no machine flow", entry.Name, grant)
	}
	scopes := union(strings.Fields(o.Scope), extraScopes)
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	if resource != "" {
		form.Set("resource", resource)
	}
	e.notify(entry.Name, "requesting a token with the "+grant+" grant")
	tok, err := e.tokenRequest(ctx, m.TokenEndpoint, c, form)
	if err != nil {
		return nil, fmt.Errorf("MCP server %q: %s grant (%s): %w", entry.Name, grant, grantFix(entry, grant), err)
	}
	if tok.Scope == "" {
		tok.Scope = strings.Join(scopes, " ")
	}
	tok.RefreshToken = "" // machine grants fetch again instead of refreshing
	err = e.opts.Store.Update(ctx, entry.Name, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		if cur == nil || !cur.ForURL(entry.URL) {
			cur = &authstore.Credentials{ServerURL: entry.URL}
		}
		cur.Issuer, cur.Resource, cur.Token = issuer, resource, tok
		cur.Client = &authstore.Client{ClientID: c.id, TokenEndpointAuthMethod: c.method, Issuer: issuer}
		cur.UpdatedAt = e.opts.Now()
		return cur, nil
	})
	if err != nil {
		return nil, fmt.Errorf("MCP server %q: storing the token: %w", entry.Name, err)
	}
	if c.dpop != nil && strings.EqualFold(tok.TokenType, TokenTypeDPoP) {
		e.dpop.bind(entry.Name, tok.AccessToken, c.dpop)
	}
	e.state(entry.Name).set(entry.URL, tok)
	e.obtainedNow(entry, tok.AccessToken, scopes)
	return tok, nil
}

// grantFix names the settings to check after a failed machine grant.
func grantFix(entry *config.Entry, grant string) string {
	o := oauthOf(entry)
	switch {
	case grant == config.GrantClientCredentials:
		return fmt.Sprintf("check \"oauth.clientId\" and the client secret or key of %q in %s", entry.Name, entry.Source)
	case o.IdP != nil:
		return fmt.Sprintf("check \"oauth.clientId\", its credentials and \"oauth.idp\" of %q in %s", entry.Name, entry.Source)
	default:
		return fmt.Sprintf("check the assertion source of %q in %s; not retried", entry.Name, entry.Source)
	}
}

// grantAssertion returns the JWT-bearer assertion: from assertionFile,
// assertionCommand, or an ID-JAG from the enterprise IdP.
func (e *Engine) grantAssertion(ctx context.Context, entry *config.Entry, issuer, resource string) (string, error) {
	o := oauthOf(entry)
	switch {
	case o.IdP != nil:
		return e.idJAG(ctx, entry, issuer, resource)
	case o.AssertionFile != "":
		return readSecretFile(entry, "oauth.assertionFile", o.AssertionFile)
	case len(o.AssertionCommand) > 0:
		return runSecretCommand(ctx, entry, "oauth.assertionCommand", o.AssertionCommand)
	}
	return "", fmt.Errorf("MCP server %q: \"grant\": \"jwt_bearer\" needs \"assertionFile\", \"assertionCommand\" or \"idp\" in %s", entry.Name, entry.Source)
}

// maxSecretFile bounds a key or token file: a path naming a device or a
// FIFO is refused at once (safefile), a huge file before it is read.
const maxSecretFile = 1 << 20

// readSecretFile reads a token file (re-read every time: Kubernetes rotates
// projected tokens). The content is never put in an error.
func readSecretFile(entry *config.Entry, field, path string) (string, error) {
	data, err := safefile.ReadRegular(path, maxSecretFile)
	if err != nil {
		return "", fmt.Errorf("MCP server %q: reading %q %s (set in %s): %w", entry.Name, field, path, entry.Source, err)
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("MCP server %q: %q %s (set in %s) is empty", entry.Name, field, path, entry.Source)
	}
	return s, nil
}

// CommandError is a failed assertionCommand or idTokenCommand.
type CommandError struct {
	Server string   // config entry name
	Field  string   // e.g. "oauth.idp.idTokenCommand"
	Args   []string // the command as configured
	Stderr string   // trimmed, bounded
	Err    error    // why it failed: exit status, not found, timeout, empty output
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("MCP server %q: %q %q failed: %v", e.Server, e.Field, e.Args, e.Err)
	if e.Stderr != "" {
		msg += "; its stderr: " + e.Stderr
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }

// runSecretCommand runs argv and returns its trimmed stdout. stdout (the
// token) never appears in an error; stderr does, bounded.
func runSecretCommand(ctx context.Context, entry *config.Entry, field string, argv []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limitedBuffer{b: &stdout, n: 1 << 20}, &limitedBuffer{b: &stderr, n: 4 << 10}
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err == nil && strings.TrimSpace(stdout.String()) == "" {
		err = errors.New("it printed nothing on stdout")
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", CommandTimeout, err)
		}
		return "", &CommandError{Server: entry.Name, Field: field, Args: argv, Stderr: boundText(stderr.String(), 1000), Err: err}
	}
	return strings.TrimSpace(stdout.String()), nil
}

// limitedBuffer keeps at most n bytes and discards the rest.
type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// boundText trims s, replaces control characters and keeps at most n bytes.
func boundText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// authenticateMachine fetches a token with entry's machine grant (for
// `mcplink auth`) and returns the stored credentials.
func (e *Engine) authenticateMachine(ctx context.Context, entry *config.Entry) (*authstore.Credentials, error) {
	st := e.state(entry.Name)
	st.refresh.Lock()
	defer st.refresh.Unlock()
	creds, err := e.load(ctx, entry)
	if err != nil {
		return nil, err
	}
	if _, err := e.fetchMachine(ctx, entry, creds, nil); err != nil {
		return nil, err
	}
	c, err := e.load(ctx, entry)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("MCP server %q: the token was not stored", entry.Name)
	}
	e.notify(entry.Name, "obtained a token with the "+oauthOf(entry).EffectiveGrant()+" grant")
	return c, nil
}

// machineStepUp answers a 403 insufficient_scope of a machine-grant server
// with one new token request for the granted plus the challenged scopes.
func (e *Engine) machineStepUp(ctx context.Context, entry *config.Entry, chal *Challenge) error {
	st := e.state(entry.Name)
	st.refresh.Lock()
	defer st.refresh.Unlock()
	creds, err := e.load(ctx, entry)
	if err != nil {
		return err
	}
	var granted []string
	if creds != nil && creds.Token != nil {
		granted = strings.Fields(creds.Token.Scope)
	}
	need := strings.Fields(chal.Scope)
	if err := e.brake(entry); err != nil {
		return err
	}
	tok, err := e.fetchMachine(ctx, entry, creds, union(granted, need))
	if err != nil {
		return err
	}
	if have := strings.Fields(tok.Scope); !covers(have, need) {
		return fmt.Errorf("MCP server %q: the %s grant gave scopes %q, the server requires %q: %w", entry.Name, oauthOf(entry).EffectiveGrant(), tok.Scope, chal.Scope, ErrInsufficientScope)
	}
	return nil
}

// flowDPoP binds an authorization code flow's client to the server's DPoP
// key when DPoP applies.
func (e *Engine) flowDPoP(ctx context.Context, entry *config.Entry, d *Discovery, c clientCreds) (clientCreds, error) {
	m, err := e.metaFor(ctx, d.Issuer)
	if err != nil {
		return c, err
	}
	return e.withDPoP(ctx, entry, m, d.ResourceAcceptsDPoP, c)
}
