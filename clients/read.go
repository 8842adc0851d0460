package clients

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tailscale/hujson"

	"github.com/mcplink/mcplink/config"
)

// Format is the shape of another client's MCP server file.
type Format string

// The formats Read understands.
const (
	// FormatMCPServers is a top-level "mcpServers" object: Claude Code
	// (.mcp.json, ~/.claude.json), Claude Desktop, Cursor, Windsurf and
	// Gemini CLI (settings.json).
	FormatMCPServers Format = "mcpServers"
	// FormatVSCode is VS Code's mcp.json: "servers" and "inputs".
	FormatVSCode Format = "vscode"
	// FormatCodex is Codex's config.toml: [mcp_servers.NAME] tables.
	FormatCodex Format = "codex"
)

// KnownShapes words the formats mcplink reads, for errors about a file
// that is none of them.
const KnownShapes = `mcplink's or opencode's {"mcp": {...}}; {"mcpServers": {...}} (Claude Code .mcp.json and ~/.claude.json, Claude Desktop, Cursor, Windsurf, Gemini CLI settings.json); VS Code's mcp.json {"servers": {...}}; Codex's config.toml [mcp_servers.NAME]`

// Vars resolves the variable references other clients allow in their files:
// ${VAR}, ${VAR:-default} (Claude Code), ${env:VAR}, ${userHome},
// ${workspaceFolder} (VS Code, Cursor), ${input:ID} (VS Code) and, in
// Gemini CLI's files, $VAR.
type Vars struct {
	// Getenv looks up a variable; nil: every variable is unset.
	Getenv func(string) (string, bool)
	// Home is ${userHome}; WorkDir is ${workspaceFolder}.
	Home, WorkDir string
	// Translate writes mcplink's own placeholders instead of values:
	// ${VAR} and ${env:VAR} become {env:VAR}, so `mcplink import` copies
	// references to secrets, never the secrets. ${VAR:-default} becomes
	// {env:VAR} when VAR is set now and the default otherwise.
	Translate bool
	// Scope limits what is read of Claude Code's ~/.claude.json: "user"
	// (top-level "mcpServers" only) or "local" (only the "projects"
	// entry of WorkDir); "": both, local winning (see File.Scope).
	Scope string
	// Input answers a VS Code ${input:ID} (a prompt on a terminal). Nil:
	// such a reference is an error naming the server and the input.
	Input func(in VSCodeInput) (string, error)
}

// ReadFile reads the MCP servers of another client's file, by its
// content and extension (see Format), for --config. ok is false for a file
// that is mcplink's or opencode's own (a top-level "mcp"), an empty JSON
// object or empty file, or JSON(C) that does not parse (config reports
// that with its position). A file of none of the known shapes is a
// *config.Error naming them. Problems with single servers come back
// together as a config.ErrorList; every error wraps config.ErrInvalid.
func ReadFile(path string, data []byte, v Vars) (servers []*config.Entry, ok bool, err error) {
	res, err := Read(path, data, v)
	if err != nil || res == nil {
		return nil, false, err
	}
	if len(res.Problems) > 0 {
		return nil, true, res.Problems
	}
	return res.Servers, true, nil
}

// Result is what Read found in a file.
type Result struct {
	Format Format
	// Servers are the servers that read without a problem, by name.
	Servers []*config.Entry
	// Skipped maps a server that could not be read to the reason.
	Skipped map[string]string
	// Problems are every problem, those of Skipped included, as
	// *config.Error values naming the file.
	Problems config.ErrorList
}

// Read reads the servers of another client's file (see ReadFile). It
// returns nil for a file that is not another client's; a problem with the
// file as a whole is an error, problems with single servers are in the
// Result, the other servers read all the same (for import).
func Read(path string, data []byte, v Vars) (*Result, error) {
	format, root, err := Detect(path, data)
	if err != nil || format == "" {
		return nil, err
	}
	r := reader{path: path, vars: v, bad: map[string]string{}}
	var servers []*config.Entry
	exact := func(want, key string) bool { return want == key }
	switch format {
	case FormatCodex:
		r.pos = tomlPositions(path, data)
		servers = r.codex(data)
	case FormatVSCode:
		r.pos = jsonPositions(path, data, exact, []string{"servers"})
		servers = r.vscode(root)
	case FormatMCPServers:
		var paths [][]string
		if v.Scope != "local" {
			paths = append(paths, []string{"mcpServers"})
		}
		if v.WorkDir != "" && v.Scope != "user" {
			paths = append(paths, []string{"projects", v.WorkDir, "mcpServers"})
		}
		r.pos = jsonPositions(path, data, func(want, key string) bool {
			return want == key || (want == v.WorkDir && sameDir(key, want))
		}, paths...)
		servers = r.mcpServers(root)
	}
	for _, e := range servers {
		if p, ok := r.pos[e.Name]; ok {
			e.Pos = p
		}
	}
	if len(servers) == 0 && len(r.errs) > 0 && len(r.bad) == 0 {
		return nil, r.errs // the file as a whole
	}
	res := &Result{Format: format, Skipped: r.bad, Problems: r.errs}
	for _, e := range servers {
		if _, bad := r.bad[e.Name]; !bad {
			res.Servers = append(res.Servers, e)
		}
	}
	return res, nil
}

// Detect names the format of a file: "" for mcplink's or opencode's own
// (and for what is not JSON nor TOML, which config reports). root is the
// decoded top level of a JSON file.
func Detect(path string, data []byte) (Format, map[string]json.RawMessage, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if ext == ".toml" {
		return FormatCodex, nil, nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return "", nil, nil
	}
	std, err := hujson.Standardize(append([]byte(nil), data...))
	if err != nil {
		if ext != ".json" && ext != ".jsonc" && looksTOML(data) {
			return FormatCodex, nil, nil
		}
		return "", nil, nil // config reports the syntax error with its position
	}
	var root map[string]json.RawMessage
	if err := json.Unmarshal(std, &root); err != nil {
		return "", nil, nil // not an object: config says so
	}
	_, hasMCP := root["mcp"]
	switch {
	case hasMCP || len(root) == 0:
		return "", nil, nil
	case isObject(root["mcpServers"]) || isObject(root["projects"]):
		return FormatMCPServers, root, nil
	case isObject(root["servers"]):
		return FormatVSCode, root, nil
	case bytes.Contains(root["$schema"], []byte("opencode.ai")):
		return "", nil, nil // an opencode.json without servers
	}
	keys := make([]string, 0, len(root))
	for k := range root {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 5 {
		keys = append(keys[:5], "…")
	}
	return "", nil, &config.Error{Pos: config.Position{File: path}, Msg: fmt.Sprintf(
		"no MCP servers in a shape mcplink knows (top-level keys: %s); mcplink reads %s", strings.Join(keys, ", "), KnownShapes)}
}

// looksTOML is a cheap test for a TOML file without a .toml extension:
// a table header on a line of its own.
func looksTOML(data []byte) bool {
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if bytes.HasPrefix(line, []byte("[")) && bytes.HasSuffix(line, []byte("]")) && !bytes.HasPrefix(line, []byte("[{")) {
			return true
		}
	}
	return false
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// reader collects the servers of one file and every problem with them.
type reader struct {
	path string
	vars Vars
	errs config.ErrorList
	// inputs are a VS Code file's "inputs" by id, answers those given.
	inputs  map[string]VSCodeInput
	answers map[string]string
	// literal: the format has no variable references (Codex).
	literal bool
	// bad maps a server with a problem to the first one.
	bad map[string]string
	// pos is where each server's key is in the file.
	pos map[string]config.Position
}

func (r *reader) errorf(server, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if server != "" {
		if _, seen := r.bad[server]; !seen && r.bad != nil {
			r.bad[server] = msg
		}
		msg = fmt.Sprintf("server %q: %s", server, msg)
	}
	pos := config.Position{File: r.path}
	if p, ok := r.pos[server]; ok && server != "" {
		pos = p
	}
	r.errs = append(r.errs, &config.Error{Pos: pos, Msg: msg})
}

// ClientOf names the client whose file path is (for messages): "Claude
// Code", "VS Code", …, or "" when the path does not say.
func ClientOf(path string) string {
	p := "/" + filepath.ToSlash(path) // a relative ".gemini/…" too
	switch {
	case strings.Contains(p, "/.gemini/"):
		return "Gemini CLI"
	case strings.Contains(p, "/.cursor/"):
		return "Cursor"
	case strings.Contains(p, "windsurf"):
		return "Windsurf"
	case strings.HasSuffix(p, "claude_desktop_config.json"):
		return "Claude Desktop"
	case strings.HasSuffix(p, ".mcp.json"), strings.HasSuffix(p, ".claude.json"):
		return "Claude Code"
	case strings.Contains(p, "/.vscode/"), strings.Contains(p, "/Code/User/"):
		return "VS Code"
	case strings.Contains(p, "/.codex/"):
		return "Codex"
	}
	return ""
}

// local builds a local entry, or nil after reporting why not.
func (r *reader) local(name, command string, args []string, env map[string]string, cwd, cwdBase string) *config.Entry {
	if command == "" {
		r.errorf(name, `"command" is empty; give the program to run`)
		return nil
	}
	e := &config.Entry{Name: name, Type: config.TypeLocal, Enabled: true, Source: r.path, Pos: config.Position{File: r.path}}
	e.Command = append([]string{r.expand(name, "command", command)}, make([]string, len(args))...)
	for i, a := range args {
		e.Command[i+1] = r.expand(name, fmt.Sprintf("args[%d]", i), a)
	}
	if len(env) > 0 {
		e.Environment = make(map[string]string, len(env))
		for k, v := range env {
			e.Environment[k] = r.expand(name, "env "+k, v)
		}
	}
	if cwd != "" {
		c := r.expand(name, "cwd", cwd)
		if strings.HasPrefix(c, "~/") && r.vars.Home != "" {
			c = filepath.Join(r.vars.Home, c[2:])
		}
		if !filepath.IsAbs(c) && !strings.HasPrefix(c, "{") {
			c = filepath.Join(cwdBase, c)
		}
		e.Cwd = filepath.Clean(c)
	}
	return e
}

// remote builds a remote entry, or nil after reporting why not.
func (r *reader) remote(name, url string, headers map[string]string) *config.Entry {
	u := r.expand(name, "url", url)
	if !r.vars.Translate || !strings.Contains(u, "{env:") {
		if !httpURL(u) {
			r.errorf(name, `"url" must be an absolute http or https URL, got %q`, url)
			return nil
		}
	}
	e := &config.Entry{Name: name, Type: config.TypeRemote, Enabled: true, URL: u, OAuth: &config.OAuth{},
		Source: r.path, Pos: config.Position{File: r.path}}
	if len(headers) > 0 {
		e.Headers = make(map[string]string, len(headers))
		for k, v := range headers {
			e.Headers[k] = r.expand(name, "header "+k, v)
		}
	}
	return e
}

func httpURL(s string) bool {
	l := strings.ToLower(s)
	rest, ok := strings.CutPrefix(l, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(l, "http://")
	}
	return ok && rest != "" && rest[0] != '/'
}
