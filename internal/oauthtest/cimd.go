package oauthtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/mcplink/mcplink/internal/netutil"
)

// errNoClient means the client_id is neither registered nor a usable client
// ID metadata document URL.
var errNoClient = errors.New("unknown client_id")

// isClientIDURL reports whether id has the shape of a client ID metadata
// document URL: https (or http on a loopback host, for tests) with a path.
func isClientIDURL(id string) bool {
	u, err := url.Parse(id)
	if err != nil || u.Fragment != "" || u.User != nil || u.Path == "" || u.Path == "/" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return netutil.IsLoopbackHost(u.Hostname())
	}
	return false
}

// lookupClient returns a registered client or, with
// Options.ClientIDMetadataDocuments, fetches the client's metadata document
// (every time, so tests see document changes) and caches it for /token.
func (s *Server) lookupClient(ctx context.Context, id string) (Client, error) {
	s.mu.Lock()
	c, ok := s.clients[id]
	var out Client
	if ok {
		out = *c
	}
	s.mu.Unlock()
	if !s.opts.ClientIDMetadataDocuments || !isClientIDURL(id) {
		if !ok {
			return Client{}, errNoClient
		}
		return out, nil
	}
	fetched, err := s.fetchClientMetadata(ctx, id)
	if err != nil {
		return Client{}, err
	}
	s.mu.Lock()
	s.clients[id] = &fetched
	s.stats.MetadataDocumentFetches++
	s.mu.Unlock()
	return fetched, nil
}

func (s *Server) fetchClientMetadata(ctx context.Context, id string) (Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return Client{}, fmt.Errorf("client metadata document %s: %w", id, err)
	}
	req.Header.Set("Accept", "application/json")
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return errors.New("client metadata documents must not redirect")
	}}
	resp, err := hc.Do(req)
	if err != nil {
		return Client{}, fmt.Errorf("fetch client metadata document %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Client{}, fmt.Errorf("client metadata document %s answered %s", id, resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return Client{}, fmt.Errorf("client metadata document %s has content type %q, want application/json", id, mt)
	}
	var doc struct {
		ClientID string `json:"client_id"`
		registration
		ClientSecret string `json:"client_secret"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBodyBytes)).Decode(&doc); err != nil {
		return Client{}, fmt.Errorf("client metadata document %s is not JSON: %w", id, err)
	}
	if doc.ClientID != id {
		return Client{}, fmt.Errorf("client metadata document %s names client_id %q; it must equal its own URL", id, doc.ClientID)
	}
	if doc.ClientSecret != "" {
		return Client{}, fmt.Errorf("client metadata document %s must not contain a client_secret", id)
	}
	if doc.TokenEndpointAuthMethod == "" {
		doc.TokenEndpointAuthMethod = AuthMethodNone
	}
	if doc.TokenEndpointAuthMethod != AuthMethodNone {
		return Client{}, fmt.Errorf("client metadata document %s: token_endpoint_auth_method must be none", id)
	}
	if e := s.validateRegistration(&doc.registration); e != nil {
		return Client{}, fmt.Errorf("client metadata document %s: %s: %s", id, e.Code, e.Description)
	}
	return Client{
		ClientID:                id,
		ClientName:              doc.ClientName,
		RedirectURIs:            slices.Clone(doc.RedirectURIs),
		TokenEndpointAuthMethod: AuthMethodNone,
		GrantTypes:              slices.Clone(doc.GrantTypes),
		ApplicationType:         doc.ApplicationType,
	}, nil
}
