package clients

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/tailscale/hujson"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/safefile"
)

// Scopes of an installed entry.
const (
	ScopeUser    = "user"
	ScopeProject = "project"
)

// Target is the file `mcplink install` writes a client's entry to, and
// its shape.
type Target struct {
	Client string
	Path   string
	// Key is the top-level object of a JSON file holding the servers
	// ("mcpServers", VS Code's "servers"); "" for Codex's TOML.
	Key string
	// Type is written as "type": "stdio" (Claude Code, VS Code); the
	// other clients' entries are {command, args, env} alone.
	Type bool
}

// ErrNoProjectFile is InstallTarget's error for the project scope of a
// client that reads no project-level file (the user's scope works).
var ErrNoProjectFile = errors.New("has no project-level MCP file")

// InstallTarget returns where client reads servers without asking the user
// to approve them: the user's file (scope "user"), or the project's at
// workDir (scope "project"; Claude Code asks once before it uses a
// project's .mcp.json). See Files for the paths.
func InstallTarget(client, scope, goos string, getenv func(string) string, home, workDir string) (Target, error) {
	files, ok := Files(client, goos, getenv, home, workDir)
	if !ok {
		return Target{}, fmt.Errorf("unknown client %q; supported: %s", client, strings.Join(Names, ", "))
	}
	// Files lists the user's files first; the project's carry Project.
	i := slices.IndexFunc(files, func(f File) bool { return f.Project == (scope == ScopeProject) })
	switch {
	case scope != ScopeUser && scope != ScopeProject:
		return Target{}, fmt.Errorf("unknown scope %q; use %q or %q", scope, ScopeUser, ScopeProject)
	case i < 0 && scope == ScopeProject:
		return Target{}, fmt.Errorf("%s %w", client, ErrNoProjectFile)
	case i < 0:
		return Target{}, fmt.Errorf("%s's user file is unknown (no home directory)", client)
	}
	t := Target{Client: client, Path: files[i].Path, Key: "mcpServers"}
	switch client {
	case ClaudeCode:
		t.Type = true
	case VSCode:
		t.Key, t.Type = "servers", true
	case Codex:
		t.Key = ""
	}
	return t, nil
}

// StdioEntry is the entry install registers: a command the client starts.
type StdioEntry struct {
	Command string
	Args    []string
	Env     map[string]string
}

// Marshal returns the entry as it is written to the target: JSON, or a
// TOML table for Codex.
func (t Target) Marshal(name string, e StdioEntry) []byte {
	if t.Key == "" {
		return codexTable(name, e)
	}
	var b bytes.Buffer
	b.WriteString("{")
	if t.Type {
		b.WriteString(`"type":"stdio",`)
	}
	cmd, _ := json.Marshal(e.Command)
	args, _ := json.Marshal(append([]string{}, e.Args...))
	fmt.Fprintf(&b, `"command":%s,"args":%s`, cmd, args)
	if len(e.Env) > 0 {
		env, _ := json.Marshal(e.Env) // sorted keys
		fmt.Fprintf(&b, `,"env":%s`, env)
	}
	b.WriteString("}")
	var out bytes.Buffer
	_ = json.Indent(&out, b.Bytes(), "", "  ")
	return out.Bytes()
}

// Entry returns the server name's entry in the target file — its command
// line, enough to tell an mcplink proxy — or nil when there is none (or no
// file). A file without servers yet (a Gemini settings.json, a Codex
// config.toml without [mcp_servers]) has none.
func (t Target) Entry(name string) (*config.Entry, error) {
	data, err := safefile.ReadRegular(t.Path, config.MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(bytes.TrimSpace(data)) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	bad := func(msg string, err error) error {
		return &config.Error{Pos: config.Position{File: t.Path}, Msg: msg + ": " + err.Error() + " (fix it first; nothing was written)", Err: err}
	}
	var s struct {
		Command string   `json:"command" toml:"command"`
		Args    []string `json:"args" toml:"args"`
	}
	if t.Key == "" {
		var file struct {
			MCPServers map[string]toml.Primitive `toml:"mcp_servers"`
		}
		md, err := toml.Decode(string(data), &file)
		if err != nil {
			return nil, bad("not valid TOML", err)
		}
		p, ok := file.MCPServers[name]
		if !ok {
			return nil, nil
		}
		_ = md.PrimitiveDecode(p, &s) // a table that does not decode is not ours
	} else {
		std, err := hujson.Standardize(append([]byte(nil), data...))
		if err != nil {
			return nil, bad("not valid JSON", err)
		}
		var root map[string]json.RawMessage
		if err := json.Unmarshal(std, &root); err != nil {
			return nil, bad("not a JSON object", err)
		}
		var servers map[string]json.RawMessage
		if raw, ok := root[t.Key]; ok {
			if err := json.Unmarshal(raw, &servers); err != nil {
				return nil, bad(fmt.Sprintf("%q is not an object", t.Key), err)
			}
		}
		raw, ok := servers[name]
		if !ok {
			return nil, nil
		}
		_ = json.Unmarshal(raw, &s) // an entry that does not decode is not ours
	}
	e := &config.Entry{Name: name}
	if s.Command != "" {
		e.Type, e.Command = config.TypeLocal, append([]string{s.Command}, s.Args...)
	}
	return e, nil
}

// Install writes the entry under name, keeping the rest of the file;
// changed is false when an equal entry is there already.
func (t Target) Install(name string, e StdioEntry) (changed bool, err error) {
	if t.Key == "" {
		return t.codexInstall(name, e)
	}
	return config.SetMember(t.Path, t.Key, name, t.Marshal(name, e))
}

// Uninstall removes the entry under name, keeping the rest of the file;
// changed is false when there is none.
func (t Target) Uninstall(name string) (changed bool, err error) {
	if t.Key == "" {
		return t.codexRemove(name)
	}
	return config.RemoveMember(t.Path, t.Key, name)
}

var bareKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func tomlKey(k string) string {
	if bareKeyRE.MatchString(k) {
		return k
	}
	return tomlString(k)
}

// tomlString is a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func codexTable(name string, e StdioEntry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "[mcp_servers.%s]\n", tomlKey(name))
	fmt.Fprintf(&b, "command = %s\n", tomlString(e.Command))
	args := make([]string, len(e.Args))
	for i, a := range e.Args {
		args[i] = tomlString(a)
	}
	fmt.Fprintf(&b, "args = [%s]\n", strings.Join(args, ", "))
	if len(e.Env) > 0 {
		keys := make([]string, 0, len(e.Env))
		for k := range e.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		kv := make([]string, len(keys))
		for i, k := range keys {
			kv[i] = tomlKey(k) + " = " + tomlString(e.Env[k])
		}
		fmt.Fprintf(&b, "env = { %s }\n", strings.Join(kv, ", "))
	}
	return b.Bytes()
}

// codexInstall appends the table at the end of config.toml (after removing
// an older one of that name), the rest of the file byte for byte.
func (t Target) codexInstall(name string, e StdioEntry) (bool, error) {
	table := codexTable(name, e)
	return editText(t.Path, func(data []byte) ([]byte, error) {
		rest, _, err := cutCodexTable(data, name)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(rest, data) {
			// Replace only when different: compare the decoded servers.
			var was, will struct {
				MCPServers map[string]codexServer `toml:"mcp_servers"`
			}
			_, err1 := toml.Decode(string(data), &was)
			_, err2 := toml.Decode(string(table), &will)
			if err1 == nil && err2 == nil && sameCodex(was.MCPServers[name], will.MCPServers[name]) {
				return data, nil
			}
		}
		out := append([]byte{}, rest...)
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
			out = append(out, '\n')
		}
		if len(bytes.TrimSpace(out)) > 0 {
			out = append(out, '\n')
		}
		return append(out, table...), nil
	})
}

func sameCodex(a, b codexServer) bool {
	return a.Command == b.Command && slices.Equal(a.Args, b.Args) && len(a.Env) == len(b.Env) &&
		func() bool {
			for k, v := range a.Env {
				if b.Env[k] != v {
					return false
				}
			}
			return true
		}() && a.URL == "" && a.Cwd == ""
}

func (t Target) codexRemove(name string) (bool, error) {
	return editText(t.Path, func(data []byte) ([]byte, error) {
		rest, _, err := cutCodexTable(data, name)
		return rest, err
	})
}

// cutCodexTable removes the [mcp_servers.NAME] table and its sub-tables
// ([mcp_servers.NAME.env], …) from a TOML text: from its header line to the
// next header of another table. The result is checked by decoding it: the
// server must be gone and everything else still there, else an error (a
// layout this line-based cut does not handle, such as the server defined
// inline in an [mcp_servers] table) and nothing is written.
func cutCodexTable(data []byte, name string) (rest []byte, found bool, err error) {
	var before struct {
		MCPServers map[string]toml.Primitive `toml:"mcp_servers"`
	}
	md, err := toml.Decode(string(data), &before)
	if err != nil {
		return nil, false, fmt.Errorf("not valid TOML (fix it first; nothing was written): %w", err)
	}
	if _, ok := before.MCPServers[name]; !ok {
		return data, false, nil
	}
	prefixes := []string{"mcp_servers." + name, "mcp_servers." + tomlString(name), `"mcp_servers".` + name}
	isOurs := func(header string) bool {
		h := strings.Join(strings.Fields(header), "")
		for _, p := range prefixes {
			if h == p || strings.HasPrefix(h, p+".") {
				return true
			}
		}
		return false
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	var out []byte
	skipping := false
	for _, line := range lines {
		trim := strings.TrimSpace(string(line))
		if strings.HasPrefix(trim, "[") {
			header := strings.Trim(strings.SplitN(trim, "#", 2)[0], " \t[]")
			skipping = isOurs(header)
			if skipping {
				found = true
			}
		}
		if !skipping {
			out = append(out, line...)
		}
	}
	var after struct {
		MCPServers map[string]toml.Primitive `toml:"mcp_servers"`
	}
	md2, err := toml.Decode(string(out), &after)
	_, still := after.MCPServers[name]
	if err != nil || !found || still || len(md2.Keys()) >= len(md.Keys()) {
		return nil, false, fmt.Errorf("cannot remove [mcp_servers.%s] from this file's layout; edit it by hand", name)
	}
	// Drop the blank line left where the table was, at the end.
	return append(bytes.TrimRight(out, "\n"), '\n'), true, nil
}

func editText(path string, change func([]byte) ([]byte, error)) (bool, error) {
	return config.EditText(path, func(data []byte) ([]byte, error) {
		out, err := change(data)
		if err != nil {
			return nil, &config.Error{Pos: config.Position{File: path}, Msg: err.Error(), Err: err}
		}
		return out, nil
	})
}
