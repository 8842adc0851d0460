package oauthtest

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Request is one request either server received, as Requests returns it.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	// Form is the body of an application/x-www-form-urlencoded POST
	// (token, revocation, device authorization, IdP requests).
	Form   url.Values
	Header http.Header
}

// String is "METHOD /path", the shape discovery traces are compared in.
func (r Request) String() string { return r.Method + " " + r.Path }

// maxKept bounds the request log and the secrets list, so that a
// long-running demo does not grow without bound; tests stay far below it.
const maxKept = 10000

// keep appends v to list, dropping the oldest entry beyond maxKept.
func keep[T any](list []T, v T) []T {
	if len(list) >= maxKept {
		list = list[1:]
	}
	return append(list, v)
}

// Requests returns the requests both servers received so far (the latest
// 10,000), in the order they arrived.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// record logs every request before next sees it; a form body is read
// (bounded) and put back.
func (s *Server) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()}
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method == http.MethodPost && mt == "application/x-www-form-urlencoded" && r.Body != nil {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
			r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(body))
			if err == nil {
				rec.Form, _ = url.ParseQuery(string(body))
			}
		}
		s.mu.Lock()
		s.requests = keep(s.requests, rec)
		s.mu.Unlock()
		next.ServeHTTP(w, r)
		s.mu.Lock()
		close(s.answered) // wake WaitStats
		s.answered = make(chan struct{})
		s.mu.Unlock()
	})
}

// Secrets returns every secret the servers handed out so far (the latest
// 10,000): client secrets, registration access tokens, authorization codes,
// access and refresh tokens, ID-JAGs. A test checks that none of them
// reaches output.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.secrets)
}

// secretLocked notes a secret for Secrets and returns it.
func (s *Server) secretLocked(v string) string {
	s.secrets = keep(s.secrets, v)
	return v
}

// FailGrant makes every later token request of the grant type (every one
// when grant is "") fail with the RFC 6749 error code, with the statuses of
// SetNextTokenError, until FailGrant(grant, "") ends it.
func (s *Server) FailGrant(grant, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failGrants == nil {
		s.failGrants = map[string]string{}
	}
	if code == "" {
		delete(s.failGrants, grant)
		return
	}
	s.failGrants[grant] = code
}

// failGrantLocked is the error FailGrant set for grant, or "".
func (s *Server) failGrantLocked(grant string) string {
	if c := s.failGrants[grant]; c != "" {
		return c
	}
	return s.failGrants[""]
}

// SetClientSecret changes a client's secret at the AS, as an administrator
// rotating it does: the client's stored secret is then refused with
// invalid_client. It reports whether the client exists.
func (s *Server) SetClientSecret(clientID, secret string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if ok {
		c.ClientSecret = secret
	}
	return ok
}

// resourceMetadataPath is where ResourceMetadataURL points.
func (s *Server) resourceMetadataPath() string {
	if s.opts.ResourceMetadataPath != "" {
		return s.opts.ResourceMetadataPath
	}
	return prmPath + mcpPath
}

// resourceMetadataPaths are the paths the protected resource metadata is
// served at.
func (s *Server) resourceMetadataPaths() []string {
	switch {
	case s.opts.NoResourceMetadata:
		return nil
	case s.opts.ResourceMetadataPath != "":
		return []string{s.opts.ResourceMetadataPath}
	}
	return []string{prmPath + mcpPath, prmPath}
}

// metadataPaths are the paths on the AS origin the AS metadata is served at.
func (s *Server) metadataPaths() []string {
	p := s.opts.IssuerPath
	switch {
	case s.opts.NoMetadata:
		return nil
	case s.opts.MetadataPath != "":
		return []string{s.opts.MetadataPath}
	}
	var out []string
	if !s.opts.HydraQuirks { // Hydra v2.3 serves OpenID discovery only
		out = append(out, "/.well-known/oauth-authorization-server"+p)
	}
	out = append(out, "/.well-known/openid-configuration"+p)
	if p != "" {
		out = append(out, p+"/.well-known/openid-configuration")
	}
	return out
}

// handleResourceMetadata serves RFC 9728 metadata (with the CORS headers
// go-sdk's handler sets), edited by Options.EditResourceMetadata.
func (s *Server) handleResourceMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Allow-Methods", "GET, OPTIONS")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
	switch r.Method {
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodGet:
	default:
		http.Error(w, "Method not allowed", http.StatusMethodNotAllowed)
		return
	}
	doc, _ := json.Marshal(&oauthex.ProtectedResourceMetadata{
		Resource:               s.resourceID(),
		AuthorizationServers:   []string{s.IssuerURL},
		ScopesSupported:        s.resourceScopes(),
		BearerMethodsSupported: []string{"header"},
		ResourceName:           s.opts.ServerName,
	})
	var m map[string]any
	_ = json.Unmarshal(doc, &m)
	if s.opts.EditResourceMetadata != nil {
		s.opts.EditResourceMetadata(m)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(m)
}

// SetResource changes the MCP server's resource identifier (default
// MCPURL): the protected resource metadata names it, the AS accepts it
// alone as RFC 8707 resource, and the MCP server accepts tokens issued for
// it. A parent of MCPURL is what a server protecting several endpoints
// names; another origin's URL is a mismatch a client must refuse.
func (s *Server) SetResource(resource string) {
	s.resource.Store(&resource)
}

// resourceID is the resource identifier; it takes no lock (checkResource
// runs with and without s.mu).
func (s *Server) resourceID() string {
	if r := s.resource.Load(); r != nil && *r != "" {
		return *r
	}
	return s.MCPURL
}
