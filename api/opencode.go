package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/manager"
)

// opencode compatibility: @opencode-ai/sdk (client.mcp.*) drives this API.
// Its contract (dist/gen/types.gen.d.ts of version 1.19.3) fixes the shapes
// here: GET /mcp maps names to {status, error?} with status one of five
// values, connect and disconnect answer true, DELETE .../auth answers
// {success: true}, POST .../auth/callback takes {code} alone, POST /mcp adds
// a server, and errors are {name, data: {message}}.

// OpencodeStatus maps mcplink's status to opencode's five: a server that is
// not connected and has nothing wrong (disconnected, connecting) is
// "disabled", as opencode reports a disconnected server; an untrusted one is
// "failed", so opencode clients show its error, which names `mcplink trust`.
func OpencodeStatus(st manager.Status) string {
	switch st {
	case manager.StatusConnected:
		return StatusConnected
	case manager.StatusNeedsAuth:
		return StatusNeedsAuth
	case manager.StatusNeedsClientRegistration:
		return StatusNeedsClientRegistration
	case manager.StatusFailed, manager.StatusUntrusted:
		return StatusFailed
	default: // disabled, disconnected, connecting
		return StatusDisabled
	}
}

// AddOptions enables POST /mcp (opencode's mcp.add), which writes a new
// server to a config file and runs it in Options.Manager (manager.Add).
// Without them POST /mcp answers 400 saying adding is not available.
type AddOptions struct {
	// Target returns the config file a new server is written to and the
	// edit options for it (config.KeepTrusted for a project file); an error
	// refuses the request with 400 and its message (for example an untrusted
	// project file). It is called for every request.
	Target func() (path string, opts []config.EditOption, err error)
	// HomeDir and Getenv are used to load the new entry the way the config
	// file will be read ("~/", {env:VAR}, {file:path}); Getenv nil means no
	// variable is set.
	HomeDir string
	Getenv  func(string) (string, bool)
}

// addedServers holds the names of the servers added with POST /mcp while
// the API runs. Their entries are the manager's (manager.Entry); an added
// server takes the place of a configured one of the same name.
type addedServers struct {
	mu    sync.RWMutex
	names map[string]bool
}

func (a *addedServers) has(name string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.names[name]
}

func (a *addedServers) add(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.names == nil {
		a.names = map[string]bool{}
	}
	a.names[name] = true
}

func (a *addedServers) list() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, 0, len(a.names))
	for n := range a.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// lookup returns the entry of a server (added or configured), like
// config.Config.Lookup.
func (s *Server) lookup(name string) (*config.Entry, error) {
	if e := s.addedEntry(name); e != nil {
		return e, nil
	}
	e, err := s.cfg.Lookup(name)
	if err != nil && errors.Is(err, config.ErrNotFound) {
		if names := s.added.list(); len(names) > 0 {
			err = fmt.Errorf("%w (added through the API: %s)", err, strings.Join(names, ", "))
		}
	}
	return e, err
}

// addedEntry returns the entry of server name if it was added through the
// API, else nil.
func (s *Server) addedEntry(name string) *config.Entry {
	if !s.added.has(name) {
		return nil
	}
	e, _ := s.m.Entry(name)
	return e
}

// entryOf returns the entry of name, or nil.
func (s *Server) entryOf(name string) *config.Entry {
	if e := s.addedEntry(name); e != nil {
		return e
	}
	return s.cfg.Servers[name]
}

// addTimeout bounds connecting a server added with POST /mcp.
const addTimeout = 2 * time.Minute

// handleAdd is POST /mcp: opencode's mcp.add. The entry is validated the way
// the config file will be read, written to the target file (comments kept;
// an entry of the same name there is replaced, as opencode replaces a
// server on add), then run: an enabled server is connected before the
// answer, the status map of every server.
func (s *Server) handleAdd(w http.ResponseWriter, r *http.Request) {
	ao := s.opts.Add
	if ao == nil || ao.Target == nil {
		fail(w, errorf(http.StatusBadRequest, "add_unavailable", "this API server does not add servers; add one with \"mcplink add\" and restart \"mcplink serve\""))
		return
	}
	var req AddRequest
	if err := readJSON(r, &req, true); err != nil {
		fail(w, err)
		return
	}
	if req.Name == "" || len(bytes.TrimSpace(req.Config)) == 0 || bytes.Equal(bytes.TrimSpace(req.Config), []byte("null")) {
		fail(w, errorf(http.StatusBadRequest, "bad_request", `the body needs {"name": "...", "config": {"type": "remote", "url": "..."}} or {"name": "...", "config": {"type": "local", "command": ["..."]}}`))
		return
	}
	raw, err := decodeAddConfig(req.Config)
	if err != nil {
		fail(w, err)
		return
	}
	path, editOpts, err := ao.Target()
	if err != nil {
		fail(w, errorf(http.StatusBadRequest, "add_refused", "%v", err))
		return
	}
	e, err := s.loadAdded(req.Name, raw, path)
	if err != nil {
		fail(w, err)
		return
	}
	if err := config.AddEntry(path, req.Name, raw, true, editOpts...); err != nil {
		if errors.Is(err, config.ErrInvalid) {
			fail(w, errorf(http.StatusBadRequest, "invalid_config", "%v", err))
			return
		}
		fail(w, errorf(http.StatusInternalServerError, "config_write_failed", "writing %s: %v", path, err))
		return
	}
	if !s.install(r.Context(), req.Name, e) {
		fail(w, errShuttingDown())
		return
	}
	out := map[string]ServerStatus{}
	for _, st := range s.m.States() {
		out[st.Name] = s.status(r.Context(), st)
	}
	writeJSON(w, http.StatusOK, out)
}

// addFields are the keys POST /mcp accepts in "config": opencode's
// McpLocalConfig and McpRemoteConfig, and mcplink's "cwd".
var addFields = map[string]bool{"type": true, "command": true, "environment": true, "cwd": true, "url": true,
	"headers": true, "oauth": true, "enabled": true, "timeout": true}

// decodeAddConfig turns the "config" of POST /mcp into an entry as written
// to the file (placeholders such as {env:VAR} kept).
func decodeAddConfig(data []byte) (*config.Entry, error) {
	bad := func(format string, a ...any) error {
		return errorf(http.StatusBadRequest, "invalid_config", "config: "+format, a...)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, bad("must be a JSON object: %v", err)
	}
	var unknown []string
	for k := range fields {
		if !addFields[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, bad("unknown field %s (allowed: type, command, environment, cwd, url, headers, oauth, enabled, timeout)", strings.Join(unknown, ", "))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c struct {
		Type        string            `json:"type"`
		Command     []string          `json:"command"`
		Environment map[string]string `json:"environment"`
		Cwd         string            `json:"cwd"`
		URL         string            `json:"url"`
		Headers     map[string]string `json:"headers"`
		OAuth       json.RawMessage   `json:"oauth"`
		Enabled     *bool             `json:"enabled"`
		Timeout     *int64            `json:"timeout"`
	}
	if err := dec.Decode(&c); err != nil {
		return nil, bad("%v", err)
	}
	e := &config.Entry{Type: c.Type, Enabled: c.Enabled == nil || *c.Enabled}
	if c.Timeout != nil {
		if *c.Timeout <= 0 {
			return nil, bad("timeout must be a positive number of milliseconds, got %d", *c.Timeout)
		}
		e.Timeout = time.Duration(*c.Timeout) * time.Millisecond
	}
	switch c.Type {
	case config.TypeLocal:
		if c.URL != "" || c.Headers != nil || len(c.OAuth) > 0 {
			return nil, bad(`"url", "headers" and "oauth" are for remote servers ("type": "remote")`)
		}
		if len(c.Command) == 0 {
			return nil, bad(`a local server needs "command", the program and its arguments, e.g. ["npx", "-y", "some-server"]`)
		}
		e.Command, e.Environment, e.Cwd = c.Command, c.Environment, c.Cwd
	case config.TypeRemote:
		if c.Command != nil || c.Environment != nil || c.Cwd != "" {
			return nil, bad(`"command", "environment" and "cwd" are for local servers ("type": "local")`)
		}
		if c.URL == "" {
			return nil, bad(`a remote server needs "url"`)
		}
		e.URL, e.Headers = c.URL, c.Headers
		switch o := bytes.TrimSpace(c.OAuth); {
		case len(o) == 0:
		case bytes.Equal(o, []byte("false")):
			e.OAuthDisabled = true
		case len(o) > 0 && o[0] == '{':
			// encoding/json matches keys case-insensitively; the config
			// file does not, so neither does this.
			var keys map[string]json.RawMessage
			if err := json.Unmarshal(o, &keys); err != nil {
				return nil, bad("oauth: %v", err)
			}
			for k := range keys {
				if !oauthFields()[k] {
					return nil, bad("oauth: unknown field %q", k)
				}
			}
			var oa config.OAuth
			od := json.NewDecoder(bytes.NewReader(o))
			od.DisallowUnknownFields()
			if err := od.Decode(&oa); err != nil {
				return nil, bad("oauth: %v", err)
			}
			e.OAuth = &oa
		default:
			return nil, bad(`"oauth" must be false or an object such as {"clientId": "...", "scope": "..."}, got %s`, o)
		}
	default:
		return nil, bad(`"type" must be "local" or "remote", got %q`, c.Type)
	}
	return e, nil
}

// oauthFields returns the JSON names of config.OAuth's fields.
func oauthFields() map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeFor[config.OAuth]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

// relativeFileRE finds {file:path} placeholders with a relative path.
var relativeFileRE = regexp.MustCompile(`\{file:([^/~{}][^{}]*)\}`)

// loadAdded validates raw, the entry of name to be written to path, with
// mcplink's config loader (every check a config file gets) and returns the
// entry as it will be used, placeholders substituted.
func (s *Server) loadAdded(name string, raw *config.Entry, path string) (*config.Entry, error) {
	body, err := config.MarshalEntry(raw)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "invalid_config", "config: %v", err)
	}
	if m := relativeFileRE.FindSubmatch(body); m != nil && !filepath.IsAbs(string(m[1])) {
		return nil, errorf(http.StatusBadRequest, "invalid_config", "config: {file:%s}: give an absolute path (or one starting with ~/) when adding a server through the API", m[1])
	}
	doc, err := json.Marshal(map[string]map[string]json.RawMessage{"mcp": {name: body}})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mcplink-add-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "mcplink.json")
	if err := os.WriteFile(tmp, doc, 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Load(config.LoadOptions{File: tmp, HomeDir: s.opts.Add.HomeDir, Getenv: s.opts.Add.Getenv})
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "invalid_config", "config: %s", configMessages(err, tmp))
	}
	e := cfg.Servers[name]
	if e == nil {
		return nil, errorf(http.StatusBadRequest, "invalid_config", "config: server %q was not read back", name)
	}
	// A relative "cwd" is relative to the file the entry is written to.
	if raw.Cwd != "" && !filepath.IsAbs(raw.Cwd) && raw.Cwd != "~" && !strings.HasPrefix(raw.Cwd, "~/") {
		e.Cwd = filepath.Join(filepath.Dir(path), raw.Cwd)
	}
	e.Source, e.Pos = path, config.Position{File: path}
	return e, nil
}

// configMessages words a load error of the temporary file without its
// name or positions (they point into a file the client never saw).
func configMessages(err error, tmp string) string {
	var list config.ErrorList
	var one *config.Error
	switch {
	case errors.As(err, &list):
		msgs := make([]string, 0, len(list))
		for _, e := range list {
			msgs = append(msgs, e.Msg)
		}
		return strings.Join(msgs, "; ")
	case errors.As(err, &one):
		return one.Msg
	default:
		return strings.ReplaceAll(err.Error(), tmp, "config")
	}
}

// install makes e the running server name in place of an earlier added or
// a configured one (manager.Add) and connects it when it is enabled; the
// outcome is in its status. It reports false when the API is closing.
func (s *Server) install(ctx context.Context, name string, e *config.Entry) bool {
	select {
	case <-s.closing:
		return false
	default:
	}
	s.added.add(name)
	s.invalidateAuth(name)
	s.changed()
	ctx, cancel := context.WithTimeout(ctx, addTimeout)
	defer cancel()
	_, err := s.m.Add(ctx, name, e) // the outcome is in the status
	s.invalidateAuth(name)
	s.changed()
	return !errors.Is(err, manager.ErrClosed)
}
