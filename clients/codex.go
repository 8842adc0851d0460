package clients

import (
	"path/filepath"
	"sort"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/mcplink/mcplink/config"
)

// codexServer is one [mcp_servers.NAME] table of Codex's config.toml
// (codex-rs/core/src/config_types.rs: McpServerConfig). Unknown keys
// (env_vars, enabled_tools, …) are ignored.
type codexServer struct {
	Command           string            `toml:"command"`
	Args              []string          `toml:"args"`
	Env               map[string]string `toml:"env"`
	Cwd               string            `toml:"cwd"`
	URL               string            `toml:"url"`
	BearerTokenEnvVar string            `toml:"bearer_token_env_var"`
	HTTPHeaders       map[string]string `toml:"http_headers"`
	// EnvHTTPHeaders maps a header to the environment variable holding
	// its value.
	EnvHTTPHeaders    map[string]string `toml:"env_http_headers"`
	StartupTimeoutSec float64           `toml:"startup_timeout_sec"`
	StartupTimeoutMs  int64             `toml:"startup_timeout_ms"`
	Enabled           *bool             `toml:"enabled"`
}

// codex reads Codex's config.toml. Each server is decoded on its own, so
// one bad table does not hide the others.
func (r *reader) codex(data []byte) []*config.Entry {
	r.literal = true // Codex expands no variables in its values
	var file struct {
		MCPServers map[string]toml.Primitive `toml:"mcp_servers"`
	}
	md, err := toml.Decode(string(data), &file)
	if err != nil {
		r.errorf("", "not valid TOML: %v", err)
		return nil
	}
	if !md.IsDefined("mcp_servers") {
		r.errorf("", "no [mcp_servers.NAME] tables; mcplink reads %s", KnownShapes)
		return nil
	}
	names := make([]string, 0, len(file.MCPServers))
	for n := range file.MCPServers {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*config.Entry
	for _, name := range names {
		var s codexServer
		if err := md.PrimitiveDecode(file.MCPServers[name], &s); err != nil {
			r.errorf(name, "[mcp_servers.%s] does not decode: %v", name, err)
			continue
		}
		var e *config.Entry
		switch {
		case s.Command != "":
			e = r.local(name, s.Command, s.Args, s.Env, s.Cwd, filepath.Dir(r.path))
		case s.URL != "":
			e = r.remote(name, s.URL, s.HTTPHeaders)
			if e == nil {
				continue
			}
			if e.Headers == nil && (len(s.EnvHTTPHeaders) > 0 || s.BearerTokenEnvVar != "") {
				e.Headers = map[string]string{}
			}
			for k, env := range s.EnvHTTPHeaders {
				e.Headers[k] = r.env(name, "header "+k, env, "env_http_headers "+k+" = "+env)
			}
			if v := s.BearerTokenEnvVar; v != "" {
				e.Headers["Authorization"] = "Bearer " + r.env(name, "header Authorization", v, "bearer_token_env_var = "+v)
			}
		default:
			r.errorf(name, `neither "command" nor "url" is set`)
		}
		if e == nil {
			continue
		}
		switch {
		case s.StartupTimeoutMs > 0:
			e.Timeout = time.Duration(s.StartupTimeoutMs) * time.Millisecond
		case s.StartupTimeoutSec > 0 && s.StartupTimeoutSec < 1e9:
			e.Timeout = time.Duration(s.StartupTimeoutSec * float64(time.Second))
		}
		if s.Enabled != nil {
			e.Enabled = *s.Enabled
		}
		out = append(out, e)
	}
	return out
}
