package clients

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mcplink/mcplink/config"
)

// mcpServer is one entry of an "mcpServers" object, the union of what
// Claude Code, Claude Desktop, Cursor, Windsurf and Gemini CLI write.
// Unknown keys (Gemini's "trust" and "includeTools", …) are ignored.
type mcpServer struct {
	// Type is "stdio", "http", "sse" or "streamable-http"; empty: by
	// which of command and url is set.
	Type    string            `json:"type"`
	Command string            `json:"command"`
	Args    []string          `json:"args"`
	Env     map[string]string `json:"env"`
	Cwd     string            `json:"cwd"`
	URL     string            `json:"url"`
	// HTTPURL is Gemini CLI's Streamable HTTP endpoint (its "url" is SSE).
	HTTPURL string `json:"httpUrl"`
	// ServerURL is Windsurf's remote endpoint.
	ServerURL string            `json:"serverUrl"`
	Headers   map[string]string `json:"headers"`
	// Timeout is Gemini CLI's request timeout in milliseconds, used as
	// the connect timeout.
	Timeout float64 `json:"timeout"`
	// Disabled is Windsurf's and Cline's switch.
	Disabled bool `json:"disabled"`
	// EnvFile is Cursor's file of variables (KEY=VALUE lines) for a stdio
	// server, under "env".
	EnvFile string `json:"envFile"`
}

// mcpServers reads "mcpServers" and, in Claude Code's ~/.claude.json, the
// per-project "mcpServers" of the working directory (Claude Code's local
// scope, which wins over the user scope).
func (r *reader) mcpServers(root map[string]json.RawMessage) []*config.Entry {
	byName := map[string]*config.Entry{}
	if r.vars.Scope != "local" {
		r.serversObject("mcpServers", root["mcpServers"], byName)
	}
	if raw, ok := root["projects"]; ok && r.vars.WorkDir != "" && r.vars.Scope != "user" {
		var projects map[string]struct {
			MCPServers json.RawMessage `json:"mcpServers"`
		}
		if err := json.Unmarshal(raw, &projects); err != nil {
			r.errorf("", `"projects" must be an object of projects: %v`, err)
		} else {
			for dir, p := range projects {
				if len(p.MCPServers) > 0 && sameDir(dir, r.vars.WorkDir) {
					r.serversObject(`"projects".`+dir+`."mcpServers"`, p.MCPServers, byName)
				}
			}
		}
	}
	return sorted(byName)
}

func sameDir(a, b string) bool {
	return filepath.Clean(filepath.FromSlash(a)) == filepath.Clean(b)
}

func sorted(byName map[string]*config.Entry) []*config.Entry {
	out := make([]*config.Entry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (r *reader) serversObject(where string, raw json.RawMessage, into map[string]*config.Entry) {
	if len(raw) == 0 {
		return
	}
	var servers map[string]json.RawMessage
	if err := json.Unmarshal(raw, &servers); err != nil {
		r.errorf("", "%s must be an object mapping server names to entries", where)
		return
	}
	for name, msg := range servers {
		if name == "" {
			r.errorf("", "%s has a server with an empty name", where)
			continue
		}
		var s mcpServer
		if err := json.Unmarshal(msg, &s); err != nil {
			r.errorf(name, "the entry does not decode: %v", jsonReason(err))
			continue
		}
		if e := r.mcpServer(name, s); e != nil {
			into[name] = e
		}
	}
}

func (r *reader) mcpServer(name string, s mcpServer) *config.Entry {
	url := s.URL
	if url == "" {
		url = s.ServerURL
	}
	var e *config.Entry
	switch typ := strings.ToLower(s.Type); {
	case s.HTTPURL != "":
		e = r.remote(name, s.HTTPURL, s.Headers)
	case typ == "stdio" || (typ == "" && s.Command != ""):
		e = r.local(name, s.Command, s.Args, s.Env, s.Cwd, filepath.Dir(r.path))
		if e != nil && s.EnvFile != "" && !r.withEnvFile(e, name, s.EnvFile, filepath.Dir(r.path)) {
			return nil
		}
	case typ == "http" || typ == "sse" || typ == "streamable-http" || (typ == "" && url != ""):
		// SSE too: mcplink tries Streamable HTTP first and falls back to
		// SSE when the endpoint answers as an SSE-only server.
		if url == "" {
			r.errorf(name, `"type": %q needs "url"`, s.Type)
			return nil
		}
		e = r.remote(name, url, s.Headers)
	case typ == "":
		r.errorf(name, `neither "command" nor "url" is set`)
		return nil
	default:
		r.errorf(name, `"type" must be "stdio", "http" or "sse", got %q`, s.Type)
		return nil
	}
	if e == nil {
		return nil
	}
	if s.Timeout > 0 && s.Timeout < float64(1<<53) {
		e.Timeout = time.Duration(s.Timeout) * time.Millisecond
	}
	e.Enabled = !s.Disabled
	return e
}

// jsonReason shortens encoding/json's messages to what the user can fix.
func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if ok := asType(err, &te); ok && te.Field != "" {
		return "\"" + te.Field + "\": " + te.Value + " where " + jsonKind(te.Type.Kind().String()) + " is expected"
	}
	return err.Error()
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice":
		return "an array of strings"
	case "map":
		return "an object of strings"
	case "float64":
		return "a number"
	case "bool":
		return "true or false"
	}
	return k
}
