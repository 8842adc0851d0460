package oauthtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/internal/mcptest"
)

const (
	mcpPath = "/mcp"
	prmPath = "/.well-known/oauth-protected-resource"
)

// Tool argument and result types of the protected MCP server.
type (
	// EchoArgs are the arguments of the echo tool.
	EchoArgs struct {
		Text string `json:"text" jsonschema:"text to echo back"`
	}
	// EchoResult is the structured result of the echo tool.
	EchoResult struct {
		Text string `json:"text"`
	}
	// AddArgs are the arguments of the add tool.
	AddArgs struct {
		A float64 `json:"a" jsonschema:"first addend"`
		B float64 `json:"b" jsonschema:"second addend"`
	}
	// AddResult is the structured result of the add tool.
	AddResult struct {
		Sum float64 `json:"sum"`
	}
	// WhoamiResult is the structured result of the whoami tool.
	WhoamiResult struct {
		ClientID string   `json:"client_id"`
		Scopes   []string `json:"scopes"`
	}
)

func (s *Server) resourceScopes() []string { return withoutOffline(s.opts.Scopes) }

// challengeScopeFor is the scope advertised in WWW-Authenticate challenges
// (for 401s, Options.ChallengeScope takes precedence).
func (s *Server) challengeScopeFor(required []string) string {
	if len(required) > 0 {
		return strings.Join(required, " ")
	}
	return strings.Join(s.resourceScopes(), " ")
}

// SetChallengeScope changes Options.ChallengeScope at run time: the scope
// 401 challenges advertise; empty advertises the required (else the
// resource's) scopes.
func (s *Server) SetChallengeScope(scope string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.challengeScope = strings.Join(strings.Fields(scope), " ")
}

// refusal is what SetRefuse configured.
type refusal struct {
	status int    // 0: off
	method string // JSON-RPC method; "" for every request
}

// SetRefuse makes the MCP server refuse requests that pass the token and
// scope checks anyway, as a misconfigured server does: status 401 answers
// invalid_token, 403 answers insufficient_scope naming the scopes a 403
// challenge names (the required, else the resource's scopes). Only
// requests whose JSON-RPC method is method are refused, every request
// when method is "". Status 0 stops refusing.
func (s *Server) SetRefuse(status int, method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = refusal{status: status, method: method}
}

// refused reports whether r is to be refused by SetRefuse; it peeks at a
// POST's JSON-RPC method and leaves the body readable.
func (s *Server) refused(r *http.Request, rf refusal) bool {
	if rf.status == 0 {
		return false
	}
	if rf.method == "" {
		return true
	}
	if r.Method != http.MethodPost || r.Body == nil {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return false
	}
	var msg struct {
		Method string `json:"method"`
	}
	return json.Unmarshal(body, &msg) == nil && msg.Method == rf.method
}

// SetRequiredScope changes Options.RequiredScope at run time (space-separated
// scopes every MCP request's token must carry), e.g. to exercise step-up
// authorization. Empty accepts any valid token.
func (s *Server) SetRequiredScope(scope string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requiredScope = strings.Fields(scope)
}

// ForgetSessions makes the MCP server forget every session (as a restarted
// server does): requests naming an old session get 404 from now on.
func (s *Server) ForgetSessions() {
	h := s.newTransport()
	s.transport.Store(&h)
}

func (s *Server) mcpHandler() *http.ServeMux {
	server := mcp.NewServer(&mcp.Implementation{Name: s.opts.ServerName, Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "Echo the text back."},
		func(_ context.Context, _ *mcp.CallToolRequest, in EchoArgs) (*mcp.CallToolResult, EchoResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, EchoResult(in), nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "Add two numbers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in AddArgs) (*mcp.CallToolResult, AddResult, error) {
			sum := in.A + in.B
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(sum)}}}, AddResult{Sum: sum}, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "Report the OAuth client and scopes of the caller's token."},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, WhoamiResult, error) {
			ti := req.Extra.TokenInfo
			if ti == nil {
				return nil, WhoamiResult{}, fmt.Errorf("no token information on the request")
			}
			out := WhoamiResult{ClientID: ti.UserID, Scopes: slices.Clone(ti.Scopes)}
			text := out.ClientID + " " + strings.Join(out.Scopes, " ")
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, out, nil
		})
	s.newTransport = func() http.Handler {
		if s.opts.SSEOnly {
			return mcptest.SSEOnlyHandler(func(*http.Request) *mcp.Server { return server })
		}
		return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	}
	s.ForgetSessions()
	streamable := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*s.transport.Load()).ServeHTTP(w, r)
	})

	// The go-sdk middleware puts TokenInfo where the MCP handler finds it;
	// s.challenge in front of it enforces the (changeable) required scope and
	// produces RFC 6750 error details.
	protected := s.challenge(auth.RequireBearerToken(s.verify, &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: s.ResourceMetadataURL,
	})(streamable))

	mux := http.NewServeMux()
	for _, p := range s.resourceMetadataPaths() {
		mux.HandleFunc(p, s.handleResourceMetadata)
	}
	mux.Handle(mcpPath, protected)
	return mux
}

// tokenJKT is the DPoP key an access token is bound to ("" none).
func (s *Server) tokenJKT(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.access[token]; ok {
		return t.jkt
	}
	return ""
}

// verify is the TokenVerifier backed by the AS token table.
func (s *Server) verify(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.access[token]
	if !ok || t.revoked {
		return nil, fmt.Errorf("unknown or revoked access token: %w", auth.ErrInvalidToken)
	}
	if t.resource != "" && t.resource != s.resourceID() {
		return nil, fmt.Errorf("token audience is %s: %w", t.resource, auth.ErrInvalidToken)
	}
	return &auth.TokenInfo{
		Scopes:     slices.Clone(t.scopes),
		Expiration: t.expiry,
		UserID:     t.clientID,
	}, nil
}

// challenge rejects bad requests with RFC 6750 / RFC 9728 challenges:
//
//	no token:           401 Bearer resource_metadata="…", scope="…"
//	bad/expired token:  401 Bearer error="invalid_token", …
//	missing scope:      403 Bearer error="insufficient_scope", scope="…", …
func (s *Server) challenge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		required, challengeScope, rf := s.requiredScope, s.challengeScope, s.refuse
		s.mu.Unlock()
		status, errCode, desc := 0, "", ""
		fields := strings.Fields(r.Header.Get("Authorization"))
		scheme := ""
		if len(fields) == 2 {
			scheme = strings.ToLower(fields[0])
		}
		if scheme != "bearer" && (scheme != "dpop" || len(s.opts.DPoPAlgs) == 0) {
			status = http.StatusUnauthorized
		} else if ti, err := s.verify(r.Context(), fields[1], r); err != nil {
			status, errCode, desc = http.StatusUnauthorized, "invalid_token", "the access token is unknown or revoked"
		} else if !time.Now().Before(ti.Expiration) {
			status, errCode, desc = http.StatusUnauthorized, "invalid_token", "the access token expired"
		} else {
			for _, sc := range required {
				if !slices.Contains(ti.Scopes, sc) {
					status, errCode, desc = http.StatusForbidden, "insufficient_scope", "the access token lacks scope "+sc
					break
				}
			}
			if status == 0 && s.refused(r, rf) {
				status, errCode, desc = rf.status, "invalid_token", "refused by SetRefuse"
				if rf.status == http.StatusForbidden {
					errCode = "insufficient_scope"
				}
			}
			if status == 0 {
				if st, ch := s.mcpProof(w, r, scheme, fields[1], s.tokenJKT(fields[1])); st != 0 {
					s.mu.Lock()
					s.stats.MCPRejected++
					s.mu.Unlock()
					w.Header().Set("WWW-Authenticate", ch)
					http.Error(w, http.StatusText(st), st)
					return
				}
				// go-sdk's middleware below reads Bearer tokens only; the
				// proof is checked.
				r.Header.Set("Authorization", "Bearer "+fields[1])
			}
		}
		if status == 0 {
			s.mu.Lock()
			s.stats.MCPRequests++
			s.mu.Unlock()
			next.ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		s.stats.MCPRejected++
		s.mu.Unlock()
		params := []string{}
		if errCode != "" {
			params = append(params, fmt.Sprintf("error=%q", errCode), fmt.Sprintf("error_description=%q", desc))
		}
		if !s.opts.NoResourceMetadata && !s.opts.ChallengeOmitsResourceMetadata {
			params = append(params, fmt.Sprintf("resource_metadata=%q", s.ResourceMetadataURL))
		}
		sc := s.challengeScopeFor(required)
		if status == http.StatusUnauthorized && challengeScope != "" {
			sc = challengeScope
		}
		if status == http.StatusUnauthorized && s.opts.ChallengeOmitsScope {
			sc = ""
		}
		if sc != "" {
			params = append(params, fmt.Sprintf("scope=%q", sc))
		}
		ch := "Bearer"
		if len(s.opts.DPoPAlgs) > 0 {
			ch = "DPoP"
		}
		if len(params) > 0 {
			ch += " " + strings.Join(params, ", ")
		}
		w.Header().Set("WWW-Authenticate", ch)
		http.Error(w, http.StatusText(status), status)
	})
}
