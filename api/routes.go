package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/manager"
	"github.com/mcplink/mcplink/oauth"
)

type route struct {
	method  string
	pattern string
	h       http.HandlerFunc
}

// routes lists every API route; the OpenAPI document describes exactly these.
func (s *Server) routes() []route {
	return []route{
		{"GET", "/{$}", s.handlePage},
		{"GET", "/app.js", s.handleAppJS},
		{"GET", "/openapi.json", s.handleOpenAPI},
		{"GET", "/events", s.handleEvents},
		{"GET", "/mcp", s.handleList},
		{"POST", "/mcp", s.handleAdd},
		{"GET", "/mcp/{name}", s.handleGet},
		{"POST", "/mcp/{name}/connect", s.handleConnect},
		{"POST", "/mcp/{name}/disconnect", s.handleDisconnect},
		{"POST", "/mcp/{name}/auth", s.handleAuthStart},
		{"DELETE", "/mcp/{name}/auth", s.handleLogout},
		{"POST", "/mcp/{name}/auth/callback", s.handleAuthCallback},
		{"POST", "/mcp/{name}/auth/authenticate", s.handleAuthenticate},
		{"POST", "/mcp/{name}/auth/device", s.handleDeviceAuthStart},
		{"GET", "/mcp/{name}/tools", s.handleTools},
		{"POST", "/mcp/{name}/tools/{tool}", s.handleCallTool},
	}
}

// readJSON decodes an optional JSON body into v. An empty body leaves v as is.
func readJSON(r *http.Request, v any, strict bool) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errorf(http.StatusBadRequest, "bad_request", "reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "the request body must be JSON (Content-Type: application/json), not %q", ct)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "bad_request", "invalid JSON body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "bad_request", "invalid JSON body: more than one JSON value")
	}
	return nil
}

// state returns the named server's state or an unknown_server error.
func (s *Server) state(name string) (manager.State, error) {
	st, ok := s.m.State(name)
	if !ok {
		if _, err := s.lookup(name); err != nil {
			return st, err
		}
		return st, fmt.Errorf("%w: %q", manager.ErrUnknownServer, name)
	}
	return st, nil
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	v := s.version.Load()
	if c := s.listBody.Load(); c != nil && c.version == v && time.Since(c.at) < authCacheTTL {
		writeBody(w, c.data)
		return
	}
	states := s.m.States()
	out := make(map[string]ServerStatus, len(states))
	for _, st := range states {
		out[st.Name] = s.status(r.Context(), st)
	}
	data, err := json.Marshal(out)
	if err != nil {
		fail(w, err)
		return
	}
	data = append(data, '\n')
	// Cache it only if nothing changed while it was computed.
	if s.version.Load() == v {
		s.listBody.Store(&cachedBody{version: v, at: time.Now(), data: data})
	}
	writeBody(w, data)
}

// writeBody writes a 200 answer with a JSON body.
func writeBody(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	st, err := s.state(r.PathValue("name"))
	s.answerState(w, r, st, err)
}

// answerState answers with the status of st, or fails with err.
func (s *Server) answerState(w http.ResponseWriter, r *http.Request, st manager.State, err error) {
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.status(r.Context(), st))
}

// answerFlow answers a request that delivered the redirect of flow f (err
// is the delivery's error) or opened its browser: the refusal, or the
// server's status once the flow ended.
func (s *Server) answerFlow(w http.ResponseWriter, r *http.Request, f *flow, err error) {
	if errors.Is(err, callback.ErrUnknownState) {
		err = errorf(http.StatusBadRequest, "unknown_state", "the authorization for %q already finished; start a new one with POST /mcp/%s/auth", f.server, f.server)
	}
	if err != nil {
		fail(w, err)
		return
	}
	st, err := s.waitFlow(r.Context(), f)
	s.answerState(w, r, st, err)
}

func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	// As opencode: true once the attempt ended, whatever its outcome (the
	// status says it).
	s.answerTrue(w, r, func(name string) error {
		_, err := s.m.Connect(r.Context(), name)
		return err
	})
}

func (s *Server) handleDisconnect(w http.ResponseWriter, r *http.Request) {
	s.answerTrue(w, r, s.m.Disconnect)
}

// answerTrue runs op on the server the path names, if it exists, and
// answers true (opencode's connect and disconnect) or op's error.
func (s *Server) answerTrue(w http.ResponseWriter, r *http.Request, op func(name string) error) {
	name := r.PathValue("name")
	if _, err := s.state(name); err != nil {
		fail(w, err)
		return
	}
	err := op(name)
	s.changed()
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, true)
}

func (s *Server) handleAuthStart(w http.ResponseWriter, r *http.Request) {
	e, err := s.oauthEntry(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	f, err := s.startFlow(r.Context(), e)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, AuthStart{AuthorizationURL: f.authURL, State: f.state, ExpiresAt: f.expires.UTC(), Scopes: f.scopes})
}

func (s *Server) handleAuthCallback(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	e, err := s.oauthEntry(name)
	if err != nil {
		fail(w, err)
		return
	}
	var req CallbackRequest
	if err := readJSON(r, &req, true); err != nil {
		fail(w, err)
		return
	}
	var params url.Values
	switch {
	case req.URL != "" && (req.Code != "" || req.State != ""):
		fail(w, errorf(http.StatusBadRequest, "bad_request", "send either {\"code\"} (optionally with \"state\" and \"iss\") or {\"url\"}, not both"))
		return
	case req.URL != "":
		params, err = callback.ParseRedirect(req.URL)
		if err != nil {
			fail(w, errorf(http.StatusBadRequest, "bad_redirect", "%v", err))
			return
		}
	case req.Code != "" && req.State == "":
		// opencode's shape: the code alone. The server's pending flow (the
		// newest, as opencode keeps one per server) supplies the state.
		f := s.flows.newest(e.Name)
		if f == nil {
			fail(w, errorf(http.StatusBadRequest, "no_pending_flow",
				"server %q has no pending authorization to complete with this code (it may have expired after %s or already be finished); start one with POST /mcp/%s/auth",
				e.Name, s.opts.FlowTTL, e.Name))
			return
		}
		// A code, delivered as one: never read as a URL, however many "="
		// it has. There is no iss to check, as for a pasted bare code.
		err := f.p.PasteCode(req.Code)
		if err != nil && !errors.Is(err, callback.ErrUnknownState) {
			err = errorf(http.StatusBadRequest, "bad_code", "%v", err)
		}
		s.answerFlow(w, r, f, err)
		return
	case req.Code != "" && req.State != "":
		params = url.Values{"code": {req.Code}, "state": {req.State}}
		if req.Iss != "" {
			params.Set("iss", req.Iss)
		}
	default:
		fail(w, errorf(http.StatusBadRequest, "bad_request", "the body needs {\"code\"} (the authorization code; \"state\" and \"iss\" from the redirect may be added) or {\"url\"} with the full redirect URL"))
		return
	}
	state := params.Get("state")
	f := s.flows.get(e.Name, state)
	if f == nil || f.device {
		fail(w, errorf(http.StatusBadRequest, "unknown_state",
			"the state matches no pending authorization for server %q (it may belong to another server, have expired after %s, or already be finished); start a new one with POST /mcp/%s/auth",
			e.Name, s.opts.FlowTTL, e.Name))
		return
	}
	s.answerFlow(w, r, f, s.opts.Callbacks.Deliver(state, params))
}

func (s *Server) handleAuthenticate(w http.ResponseWriter, r *http.Request) {
	e, err := s.oauthEntry(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.opts.FlowTTL + beginTimeout + 30*time.Second))
	f, err := s.startFlow(r.Context(), e)
	if err != nil {
		fail(w, err)
		return
	}
	opened := false
	var openErr error
	if s.opts.OpenURL != nil {
		openErr = s.opts.OpenURL(r.Context(), f.authURL)
		opened = openErr == nil
	}
	if !opened {
		why := "no browser is available on this machine"
		if openErr != nil {
			why = "opening it failed: " + openErr.Error()
		}
		s.events.Publish(Event{Type: EventFlow, Server: f.server, Flow: &FlowEvent{Phase: FlowBrowserFailed, State: f.state, AuthorizationURL: f.authURL,
			Message: fmt.Sprintf("the browser could not be opened (%s); open this URL to sign in to %s: %s", why, f.server, f.authURL)}})
	}
	s.answerFlow(w, r, f, nil)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	e, err := s.oauthEntryOf(name, false)
	if err != nil {
		fail(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	s.cancelFlows(ctx, e.Name)
	// The entry supplies a pre-registered client's credentials for the
	// revocation; a failed revocation is in the result, not the error.
	res, err := s.eng.LogoutServer(ctx, e.Name, oauth.LogoutOptions{Entry: e})
	if err != nil {
		fail(w, errorf(http.StatusInternalServerError, "logout_failed", "%v", err))
		return
	}
	s.invalidateAuth(e.Name)
	err = s.m.Disconnect(e.Name)
	s.changed()
	if err != nil {
		fail(w, err)
		return
	}
	st, err := s.state(e.Name)
	if err != nil {
		fail(w, err)
		return
	}
	out := LogoutResponse{Success: true, ServerStatus: s.status(r.Context(), st)}
	out.Logout = logoutResult(res)
	writeJSON(w, http.StatusOK, out)
}

// logoutResult is the API form of what Engine.LogoutServer did.
func logoutResult(res *oauth.LogoutResult) *LogoutResult {
	const kept = "client registration kept"
	out := &LogoutResult{HadTokens: res.HadTokens, RevokedTokens: res.Revoked, NotRevocable: res.NotRevocable, RevocationSkipped: res.RevocationSkipped}
	var te *oauth.TokenError // only a revocation request fails with one
	out.RevocationSupported = len(res.Revoked) > 0 || len(res.NotRevocable) > 0 || errors.As(res.RevocationErr, &te)
	out.Revoked = len(res.Revoked) > 0 && res.RevocationErr == nil
	notRevocable := ""
	if len(res.NotRevocable) > 0 {
		notRevocable = fmt.Sprintf(" (the authorization server cannot revoke the %s: it stays valid until it expires)", strings.Join(res.NotRevocable, " and "))
	}
	switch {
	case !res.HadTokens:
		out.Message = "no tokens were stored; " + kept
	case res.RevocationErr != nil:
		out.RevocationError = strings.Join(strings.Fields(strings.ReplaceAll(res.RevocationErr.Error(), "\n", "; ")), " ")
		out.Message = "revocation failed: " + out.RevocationError + "; local tokens deleted anyway (the authorization server may still accept them until they expire); " + kept
	case len(res.Revoked) > 0:
		out.Message = "tokens revoked at the authorization server and deleted" + notRevocable + "; " + kept
	case res.RevocationSkipped != "":
		out.Message = "not revoked (" + res.RevocationSkipped + "); local tokens deleted; " + kept
	default:
		out.Message = "local tokens deleted" + notRevocable + "; " + kept
	}
	return out
}

func (s *Server) handleTools(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := s.state(name); err != nil {
		fail(w, err)
		return
	}
	m := s.m
	tools, err := m.Tools(r.Context(), name)
	if err != nil {
		fail(w, err)
		return
	}
	list := ToolList{Tools: tools}
	for _, t := range tools {
		if ts := m.TaskSupport(name, t.Name); ts != manager.TaskForbidden {
			if list.TaskSupport == nil {
				list.TaskSupport = map[string]string{}
			}
			list.TaskSupport[t.Name] = string(ts)
		}
	}
	writeJSON(w, http.StatusOK, list)
}

// toolCallTimeout bounds one tool call.
const toolCallTimeout = 10 * time.Minute

func (s *Server) handleCallTool(w http.ResponseWriter, r *http.Request) {
	name, tool := r.PathValue("name"), r.PathValue("tool")
	if _, err := s.state(name); err != nil {
		fail(w, err)
		return
	}
	var args map[string]any
	if err := readJSON(r, &args, false); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.code == "bad_request" {
			ae.msg = "the body must be a JSON object of tool arguments: " + ae.msg
		}
		fail(w, err)
		return
	}
	tools, err := s.m.Tools(r.Context(), name)
	if err != nil {
		fail(w, err)
		return
	}
	found := false
	for _, t := range tools {
		if t.Name == tool {
			found = true
			break
		}
	}
	if !found {
		fail(w, errorf(http.StatusNotFound, "unknown_tool", "server %q has no tool %q; list them with GET /mcp/%s/tools", name, tool, name))
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(toolCallTimeout + 10*time.Second))
	ctx, cancel := context.WithTimeout(r.Context(), toolCallTimeout)
	defer cancel()
	res, err := s.m.CallTool(ctx, name, tool, args)
	if err != nil {
		ae := toAPIError(err)
		if ae.code == "upstream_error" {
			ae.code = "tool_call_failed"
		}
		fail(w, ae)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
