package e2e

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcplink/mcplink/internal/mcptest"
)

// resourceScope is the scope the provider grants for the MCP server.
const resourceScope = "mcp:tools"

// resourceServer is a go-sdk MCP server protected by the provider's JWT
// access tokens. Its resource identifier is URL (the MCP endpoint). With
// dpop it also takes DPoP-bound tokens (RFC 9449) and says so in its
// metadata; without, it takes Bearer tokens only, like most MCP servers.
// With sse it speaks only the 2024-11-05 SSE transport (a Streamable HTTP
// POST is answered 405), behind the same token checks.
type resourceServer struct {
	URL         string // http://127.0.0.1:PORT/mcp
	MetadataURL string // RFC 9728 metadata of URL
	dpop        bool
	sse         bool

	ln     net.Listener
	srv    *http.Server
	issuer string
	keys   jose.JSONWebKeySet

	mu       sync.Mutex
	accepted map[[32]byte]int // sha256 of each accepted access token → uses
	rejected int              // 401 answers
	lastErr  error            // why the last token was refused
	proofs   int              // valid DPoP proofs seen
	jtis     map[string]bool  // DPoP proof IDs seen (replay check)
}

// dpopJKT is the context key of the JWK thumbprint of a request's verified
// DPoP proof.
type dpopJKT struct{}

// listenResourceServer binds the server's port, so that its URL (the
// resource the provider must know) exists before the provider starts.
func listenResourceServer(dpop, sse bool) (*resourceServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	base := "http://" + ln.Addr().String()
	return &resourceServer{
		URL:         base + "/mcp",
		MetadataURL: base + "/.well-known/oauth-protected-resource/mcp",
		ln:          ln,
		dpop:        dpop,
		sse:         sse,
		accepted:    map[[32]byte]int{},
		jtis:        map[string]bool{},
	}, nil
}

// serve fetches the provider's signing keys and starts serving.
func (s *resourceServer) serve(ctx context.Context, issuer, jwksURI string) error {
	if err := getJSON(ctx, jwksURI, &s.keys); err != nil {
		return fmt.Errorf("fetching the provider's JWKS: %w", err)
	}
	if len(s.keys.Keys) == 0 {
		return errors.New("the provider's JWKS has no key")
	}
	s.issuer = issuer

	server := mcp.NewServer(&mcp.Implementation{Name: "e2e-protected", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "Returns the subject of the caller's access token."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			sub := ""
			if req.Extra != nil && req.Extra.TokenInfo != nil { // the SSE transport carries none
				ti := req.Extra.TokenInfo
				sub = ti.UserID
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sub=" + sub}}}, nil, nil
		})
	var mcpHandler http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	if s.sse {
		mcpHandler = mcptest.SSEOnlyHandler(func(*http.Request) *mcp.Server { return server })
	}
	protect := auth.RequireBearerToken(s.verify, &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: s.MetadataURL,
		Scopes:              []string{resourceScope},
	})

	mux := http.NewServeMux()
	mux.Handle("/mcp", s.count(s.dpopGate(protect(mcpHandler))))
	prm := &oauthex.ProtectedResourceMetadata{
		Resource:               s.URL,
		AuthorizationServers:   []string{issuer},
		ScopesSupported:        []string{resourceScope},
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "e2e protected MCP server",
	}
	if s.dpop {
		prm.DPOPSigningAlgValuesSupported = []string{string(jose.ES256)}
	}
	mux.Handle("/.well-known/oauth-protected-resource/mcp", auth.ProtectedResourceMetadataHandler(prm))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(s.ln) //nolint:errcheck // ends with ErrServerClosed in close
	return nil
}

// count records 401 answers.
func (s *resourceServer) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == http.StatusUnauthorized {
			s.mu.Lock()
			s.rejected++
			if a := r.Header.Get("Authorization"); a == "" {
				s.lastErr = fmt.Errorf("%s %s without a token", r.Method, r.URL.Path)
			} else if scheme, _, _ := strings.Cut(a, " "); !strings.EqualFold(scheme, "Bearer") {
				s.lastErr = fmt.Errorf("%s %s with authorization scheme %q; this server takes only Bearer", r.Method, r.URL.Path, scheme)
			}
			s.mu.Unlock()
		}
	})
}

// dpopGate checks the DPoP proof of a request with the DPoP authorization
// scheme and hands it on as Bearer with the proof's key thumbprint in the
// context, where verify matches it against the token's cnf.jkt. Without
// dpop, a DPoP request goes on unchanged and is refused as not Bearer.
func (s *resourceServer) dpopGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !s.dpop || !strings.EqualFold(scheme, "DPoP") {
			next.ServeHTTP(w, r)
			return
		}
		jkt, err := s.checkProof(r, strings.TrimSpace(tok))
		if err != nil {
			s.mu.Lock()
			s.lastErr = err
			s.mu.Unlock()
			w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof", algs="ES256"`)
			http.Error(w, "invalid DPoP proof", http.StatusUnauthorized)
			return
		}
		r = r.Clone(context.WithValue(r.Context(), dpopJKT{}, jkt))
		r.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
		next.ServeHTTP(w, r)
	})
}

// checkProof validates the DPoP proof of r for accessToken (RFC 9449 §4.3,
// §7.1) and returns the base64url SHA-256 thumbprint of its key.
func (s *resourceServer) checkProof(r *http.Request, accessToken string) (string, error) {
	vals := r.Header.Values("DPoP")
	if len(vals) != 1 {
		return "", fmt.Errorf("%d DPoP headers, want 1", len(vals))
	}
	jws, err := jose.ParseSignedCompact(vals[0], []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return "", fmt.Errorf("DPoP proof: %w", err)
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return "", fmt.Errorf("DPoP proof typ %q", typ)
	}
	if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() {
		return "", errors.New("DPoP proof without a public jwk")
	}
	payload, err := jws.Verify(h.JSONWebKey)
	if err != nil {
		return "", fmt.Errorf("DPoP proof signature: %w", err)
	}
	var c struct {
		JTI string `json:"jti"`
		HTM string `json:"htm"`
		HTU string `json:"htu"`
		IAT int64  `json:"iat"`
		ATH string `json:"ath"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", fmt.Errorf("DPoP proof claims: %w", err)
	}
	ath := sha256.Sum256([]byte(accessToken))
	htu, _, _ := strings.Cut(c.HTU, "?")
	switch {
	case c.HTM != r.Method:
		return "", fmt.Errorf("DPoP proof htm %q for a %s", c.HTM, r.Method)
	case htu != "http://"+r.Host+r.URL.Path:
		return "", fmt.Errorf("DPoP proof htu %q for http://%s%s", htu, r.Host, r.URL.Path)
	case time.Since(time.Unix(c.IAT, 0)).Abs() > time.Minute:
		return "", errors.New("DPoP proof iat too far from now")
	case c.ATH != base64.RawURLEncoding.EncodeToString(ath[:]):
		return "", errors.New("DPoP proof ath does not match the access token")
	case c.JTI == "":
		return "", errors.New("DPoP proof without jti")
	}
	tp, err := h.JSONWebKey.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jtis[c.JTI] {
		return "", errors.New("DPoP proof replayed")
	}
	s.jtis[c.JTI] = true
	s.proofs++
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// validProofs returns the number of valid DPoP proofs seen.
func (s *resourceServer) validProofs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proofs
}

// verify validates a JWT access token: RS256 signature by a key of the
// provider's JWKS, typ at+jwt (RFC 9068), issuer, audience = s.URL, expiry
// (no leeway), and the resource scope.
func (s *resourceServer) verify(ctx context.Context, raw string, r *http.Request) (*auth.TokenInfo, error) {
	ti, err := s.check(raw)
	if err == nil {
		// A DPoP-bound token needs a proof by its key (never plain Bearer).
		if jkt, _ := ti.Extra["cnf.jkt"].(string); jkt != "" {
			if proof, _ := ctx.Value(dpopJKT{}).(string); proof != jkt {
				ti, err = nil, fmt.Errorf("%w: DPoP-bound token without a proof by its key", auth.ErrInvalidToken)
			}
		}
	}
	if err != nil {
		s.mu.Lock()
		s.lastErr = err
		s.mu.Unlock()
	}
	return ti, err
}

func (s *resourceServer) check(raw string) (*auth.TokenInfo, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, fmt.Errorf("%w: not a signed JWT: %v", auth.ErrInvalidToken, err)
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") {
		return nil, fmt.Errorf("%w: typ %q is not at+jwt", auth.ErrInvalidToken, typ)
	}
	keys := s.keys.Key(h.KeyID)
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: unknown key id", auth.ErrInvalidToken)
	}
	var claims jwt.Claims
	var extra struct {
		Scope    string `json:"scope"`
		ClientID string `json:"client_id"`
		Cnf      struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if err := tok.Claims(keys[0].Key, &claims, &extra); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", auth.ErrInvalidToken, err)
	}
	if claims.Expiry == nil {
		return nil, fmt.Errorf("%w: no exp", auth.ErrInvalidToken)
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{
		Issuer:      s.issuer,
		AnyAudience: jwt.Audience{s.URL},
		Time:        time.Now(),
	}, 0); err != nil {
		return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
	}
	s.mu.Lock()
	s.accepted[sha256.Sum256([]byte(raw))]++
	s.mu.Unlock()
	return &auth.TokenInfo{
		Scopes:     strings.Fields(extra.Scope),
		Expiration: claims.Expiry.Time(),
		UserID:     claims.Subject,
		Extra:      map[string]any{"cnf.jkt": extra.Cnf.JKT},
	}, nil
}

// usedToken reports how often the access token was accepted.
func (s *resourceServer) usedToken(raw string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted[sha256.Sum256([]byte(raw))]
}

// lastRejection returns why the last refused token was refused.
func (s *resourceServer) lastRejection() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// rejections returns the number of 401 answers so far.
func (s *resourceServer) rejections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

func (s *resourceServer) close() {
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
		_ = s.srv.Close()
		return
	}
	_ = s.ln.Close()
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush keeps SSE streaming working through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
