package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"runtime"
	"slices"

	"github.com/tailscale/hujson"

	"github.com/mcplink/mcplink/clients"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/safefile"
)

// importClients are the clients `mcplink import` takes.
func importClients() []string {
	return append(append([]string{}, clients.Names...), clients.Opencode)
}

// importedServer is a server read from the client's files, with the file.
type importedServer struct {
	entry *config.Entry
	from  string
}

// importServersRun copies the servers of opts.Client's files into
// mcplink's config file.
func importServersRun(opts *ImportOptions) error {
	files, _ := clients.Files(opts.Client, runtime.GOOS, opts.Getenv, opts.HomeDir, opts.WorkDir)
	v := clients.Vars{Getenv: opts.LookupEnv, Home: opts.HomeDir, WorkDir: opts.WorkDir, Translate: true}
	found := map[string]importedServer{}
	skipped := map[string]importJSON{}
	read := 0
	for _, file := range files {
		data, err := safefile.ReadRegular(file.Path, config.MaxFileSize)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return &config.Error{Pos: config.Position{File: file.Path}, Msg: "cannot read: " + err.Error(), Err: err}
		}
		read++
		v.Scope = file.Scope
		res, err := clients.Read(file.Path, data, v)
		if err != nil {
			return err
		}
		if res == nil {
			continue // {} or the like: no servers
		}
		for name, why := range res.Skipped {
			delete(found, name)
			skipped[name] = importJSON{Name: name, Action: "skipped", Reason: why, From: file.Path}
		}
		for _, e := range res.Servers {
			delete(skipped, e.Name)
			found[e.Name] = importedServer{entry: e, from: file.Path}
		}
	}
	if read == 0 {
		var paths []string
		for _, file := range files {
			if !slices.Contains(paths, file.Path) {
				paths = append(paths, file.Path)
			}
		}
		opts.Diag("No %s MCP server files found (looked for %v); nothing to import.", opts.Client, paths)
		if opts.JSON {
			return writeJSON(opts.IO.Out, []importJSON{})
		}
		return nil
	}
	target := opts.EditFile(opts.Global)
	existing, err := entriesIn(target)
	if err != nil {
		return err
	}
	out := []importJSON{}
	wrote := false
	for _, n := range clients.SortedNames(skipped) {
		out = append(out, skipped[n])
	}
	for _, n := range clients.SortedNames(found) {
		s := found[n]
		r := importJSON{Name: n, From: s.from}
		want, err := entryValue(s.entry)
		if err != nil {
			r.Action, r.Reason = "skipped", err.Error()
			out = append(out, r)
			continue
		}
		cur, exists := existing[n]
		switch {
		case exists && reflect.DeepEqual(cur, want):
			r.Action, r.Reason = "unchanged", "already in "+target
		case exists && !opts.Force:
			r.Action, r.Reason = "skipped", fmt.Sprintf("%s already has a server %q with other settings; --force replaces it", target, n)
		default:
			r.Action = map[bool]string{false: "added", true: "replaced"}[exists]
			if opts.DryRun {
				r.Action = map[bool]string{false: "would add", true: "would replace"}[exists]
				break
			}
			if err := writeImported(opts.EditOptions(target), target, s.entry, exists); err != nil {
				return err
			}
			wrote = true
		}
		out = append(out, r)
	}
	if opts.JSON {
		return printImport(opts.IO, out, true, 0)
	}
	if err := printImport(opts.IO, out, false, 13); err != nil {
		return err
	}
	if wrote {
		opts.Diag("Config file: %s", target)
	}
	return nil
}

// writeImported adds e to target (replacing an entry of its name), then
// switches it off when the client had it off.
func writeImported(eopts []config.EditOption, target string, e *config.Entry, replace bool) error {
	if err := config.AddEntry(target, e.Name, e, replace, eopts...); err != nil {
		return err
	}
	if !e.Enabled {
		return config.SetEnabled(target, e.Name, false, eopts...)
	}
	return nil
}

// entryValue is e as it would be written, decoded, for comparing with what
// a file holds ("enabled": false included when off).
func entryValue(e *config.Entry) (any, error) {
	b, err := config.MarshalEntry(e)
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	if !e.Enabled {
		v["enabled"] = false
	}
	return v, nil
}

// entriesIn returns the raw entries under "mcp" of an mcplink config file,
// decoded, by name; a missing file has none.
func entriesIn(path string) (map[string]any, error) {
	out := map[string]any{}
	data, err := safefile.ReadRegular(path, config.MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, &config.Error{Pos: config.Position{File: path}, Msg: "cannot read: " + err.Error(), Err: err}
	}
	if err := refuseForeign(path, data); err != nil {
		return nil, err
	}
	std, err := hujson.Standardize(data)
	if err != nil || len(std) == 0 {
		return out, nil //nolint:nilerr // AddEntry reports the syntax error with its position
	}
	var root struct {
		MCP map[string]any `json:"mcp"`
	}
	if err := json.Unmarshal(std, &root); err != nil {
		return out, nil //nolint:nilerr // as above: the edit reports it
	}
	for k, v := range root.MCP {
		out[k] = v
	}
	return out, nil
}
