package clients

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/mcplink/mcplink/config"
)

// VSCodeInput is one of the "inputs" of VS Code's mcp.json: a value VS Code
// asks the user for, referenced as ${input:ID}.
type VSCodeInput struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	Description string `json:"description"`
	Password    bool   `json:"password"`
	Default     string `json:"default"`
}

// vscodeServer is one entry of VS Code's "servers".
type vscodeServer struct {
	Type    string            `json:"type"` // stdio, http, sse
	Command string            `json:"command"`
	Args    []string          `json:"args"`
	Env     map[string]any    `json:"env"` // strings, numbers or null
	EnvFile string            `json:"envFile"`
	Cwd     string            `json:"cwd"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// vscode reads VS Code's mcp.json (.vscode/mcp.json, or the user profile's
// mcp.json).
func (r *reader) vscode(root map[string]json.RawMessage) []*config.Entry {
	r.inputs = map[string]VSCodeInput{}
	if raw, ok := root["inputs"]; ok {
		var inputs []VSCodeInput
		if err := json.Unmarshal(raw, &inputs); err != nil {
			r.errorf("", `"inputs" must be an array of inputs: %v`, jsonReason(err))
		}
		for _, in := range inputs {
			r.inputs[in.ID] = in
		}
	}
	var servers map[string]json.RawMessage
	if err := json.Unmarshal(root["servers"], &servers); err != nil {
		r.errorf("", `"servers" must be an object mapping server names to entries`)
		return nil
	}
	// ${workspaceFolder} of .vscode/mcp.json is the folder holding .vscode.
	base := filepath.Dir(r.path)
	if filepath.Base(base) == ".vscode" {
		base = filepath.Dir(base)
		r.vars.WorkDir = base
	}
	byName := map[string]*config.Entry{}
	for name, msg := range servers {
		var s vscodeServer
		if err := json.Unmarshal(msg, &s); err != nil {
			r.errorf(name, "the entry does not decode: %v", jsonReason(err))
			continue
		}
		env := map[string]string{}
		var unset []string
		for k, v := range s.Env {
			switch v := v.(type) {
			case nil: // VS Code: unset
				unset = append(unset, k)
			case string:
				env[k] = v
			case float64:
				env[k] = strconv.FormatFloat(v, 'f', -1, 64)
			case bool:
				env[k] = strconv.FormatBool(v)
			default:
				r.errorf(name, `"env" value %q must be a string or a number`, k)
			}
		}
		var e *config.Entry
		switch typ := strings.ToLower(s.Type); {
		case typ == "stdio" || (typ == "" && s.Command != ""):
			e = r.local(name, s.Command, s.Args, env, s.Cwd, base)
			if e != nil && s.EnvFile != "" {
				if !r.withEnvFile(e, name, s.EnvFile, base) {
					continue
				}
				if r.vars.Translate && len(unset) > 0 {
					sort.Strings(unset)
					r.errorf(name, `"env" %q is null, which removes the envFile's value; mcplink's "environment" cannot remove a variable of its "envFile" — drop the null or the variable from the file, then import again`, unset[0])
					continue
				}
				for _, k := range unset { // null in "env" unsets the envFile's value too
					delete(e.Environment, k)
				}
			}
		case typ == "http" || typ == "sse" || (typ == "" && s.URL != ""):
			e = r.remote(name, s.URL, s.Headers)
		default:
			r.errorf(name, `"type" must be "stdio", "http" or "sse", got %q`, s.Type)
		}
		if e != nil {
			byName[name] = e
		}
	}
	return sorted(byName)
}

// asType is errors.As for a pointer to an error type.
func asType[T error](err error, target *T) bool { return errors.As(err, target) }
