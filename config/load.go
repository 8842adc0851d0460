package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// File names mcplink looks for, in order of preference within a directory.
var fileNames = []string{"mcplink.json", "mcplink.jsonc"}

// LoadOptions tells Load where to look. Load reads no environment variables
// itself; everything comes from here.
type LoadOptions struct {
	// File is an explicit config file (--config or MCPLINK_CONFIG). When set,
	// exactly this file is read and nothing else; it must exist.
	File string
	// WorkDir is where the upward search for a project file starts. Empty
	// means no project file.
	WorkDir string
	// ConfigHome is $XDG_CONFIG_HOME as resolved by the caller. Empty means
	// HomeDir/.config (and no global file when HomeDir is empty too).
	ConfigHome string
	// HomeDir expands "~/" in {file:...} and "cwd".
	HomeDir string
	// Getenv looks up variables for {env:VAR}. Nil means every variable is
	// unset.
	Getenv func(string) (string, bool)
	// Trust holds the project files the user trusted. A project file found
	// by discovery (see ProjectFiles) whose exact content is not trusted
	// there contributes only placeholders (Entry.Untrusted). Nil trusts no
	// project file. The global file and File are always trusted.
	Trust *TrustStore
	// Opencode, when set, also reads opencode's config files, below
	// mcplink's own (see OpencodeOptions). Ignored with File.
	Opencode *OpencodeOptions
	// Foreign, when set, is offered the explicit File first: it reads
	// other MCP clients' formats (Claude Code's .mcp.json, VS Code's
	// mcp.json, Codex's config.toml, …; see package clients). It returns
	// the file's servers with ok true, or ok false to have the file read as
	// mcplink's own. Its entries are used as they are: substituted and
	// checked, with Source and Pos set. Errors should wrap ErrInvalid.
	Foreign ForeignReader
}

// ForeignReader reads a config file of another program; see
// LoadOptions.Foreign. data is the file's content (a regular file of at
// most MaxFileSize bytes).
type ForeignReader func(path string, data []byte) (entries []*Entry, ok bool, err error)

// GlobalFile returns the global config file under configHome
// (configHome/mcplink/mcplink.json or .jsonc, whichever exists, .json
// first), or configHome/mcplink/mcplink.json when neither exists.
func GlobalFile(configHome string) string {
	dir := filepath.Join(configHome, "mcplink")
	if p := existingIn(dir); p != "" {
		return p
	}
	return filepath.Join(dir, fileNames[0])
}

// ProjectFile returns the nearest mcplink.json or mcplink.jsonc found in
// workDir or one of its parents, or workDir/mcplink.json (where a new project
// file would be created) when there is none.
func ProjectFile(workDir string) string {
	if p := findProject(workDir); p != "" {
		return p
	}
	return filepath.Join(workDir, fileNames[0])
}

// ProjectFiles returns the project config files found by discovery from
// workDir upwards, lowest precedence first: opencode's project files (see
// OpencodeOptions), then the nearest mcplink.json or mcplink.jsonc. Every
// file this returns is subject to trust (see TrustStore); `mcplink trust`
// trusts exactly these.
func ProjectFiles(workDir string) []string {
	var out []string
	for _, lf := range discoverFiles(LoadOptions{WorkDir: workDir, Opencode: &OpencodeOptions{}}) {
		if !lf.project {
			continue
		}
		if fi, err := os.Stat(lf.path); err == nil && !fi.IsDir() {
			out = append(out, lf.path)
		}
	}
	return out
}

func findProject(workDir string) string {
	if workDir == "" {
		return ""
	}
	dir := filepath.Clean(workDir)
	for range 4096 { // bounded: a path has far fewer components
		if p := existingIn(dir); p != "" {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return ""
}

// existingIn returns the first config file name that exists (as a non
// directory) in dir, or "".
func existingIn(dir string) string {
	for _, n := range fileNames {
		p := filepath.Join(dir, n)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// Load reads, validates and merges the configuration.
//
// With opts.File set only that file is read. Otherwise, with opts.Opencode
// set, opencode's files are read first in opencode's order (see
// OpencodeOptions; unknown fields in them are warnings in Config.Warnings,
// not errors), then mcplink's global file (see GlobalFile) and its project
// file (see ProjectFile); discovered files that do not exist are skipped.
// Config.Sources records every file read. A project entry replaces a
// global entry of the same name as a whole, except that an entry holding only
// "enabled" switches the inherited entry off or on and keeps its settings.
// Such a bare override with nothing to inherit is ignored when it disables
// and an error when it enables.
//
// All problems found are returned together: a single *Error, or an ErrorList
// of them, ordered by file and position. Every error wraps ErrInvalid.
// A project file whose content the user has not trusted (opts.Trust) is
// only scanned for its server names: each becomes a placeholder entry with
// Untrusted set (replacing an inherited entry of the same name), its bare
// overrides are ignored, and nothing in it is validated or substituted.
//
// Substitution failures ({env:...}, {file:...}) are only reported for
// entries that end up enabled, so switching off a server whose secret is not
// available keeps the rest usable.
func Load(opts LoadOptions) (*Config, error) {
	files := discoverFiles(opts)
	explicit := opts.File != ""

	cfg := &Config{Servers: map[string]*Entry{}}
	winners := map[string]*fileEntry{}
	var errs ErrorList
	for _, lf := range files {
		path := lf.path
		data, err := readConfigFile(path) // regular files only, bounded (filecheck.go)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && !explicit {
				continue
			}
			errs = append(errs, readError(path, err))
			continue
		}
		cfg.Files = append(cfg.Files, path)
		cfg.Sources = append(cfg.Sources, Source{Path: path, Kind: lf.kind, Project: lf.project, Trusted: true})
		srcInfo := &cfg.Sources[len(cfg.Sources)-1]
		src := newSource(path, data)
		if e := checkNesting(src); e != nil {
			errs = append(errs, e)
			continue
		}
		// Other clients' files (checked for nesting above, as their
		// parsers recurse too).
		if explicit && opts.Foreign != nil {
			entries, ok, err := opts.Foreign(path, data)
			var list ErrorList
			switch {
			case errors.As(err, &list):
				errs = append(errs, list...)
				continue
			case err != nil:
				errs = append(errs, asConfigError(path, err))
				continue
			}
			if ok {
				srcInfo.Kind = KindForeign
				for _, e := range entries {
					srcInfo.Servers = append(srcInfo.Servers, e.Name)
					winners[e.Name] = &fileEntry{entry: e}
				}
				continue
			}
		}
		if lf.project {
			// The trust gate: the content just read is the content checked,
			// so a file swapped after the check is never decoded as trusted.
			st, err := opts.Trust.Check(path, data)
			if err != nil {
				errs = append(errs, asConfigError(opts.Trust.Path(), err))
				continue
			}
			if st != Trusted {
				ue := untrustedFile(path, data, st)
				names, pos, ferrs := scanUntrusted(src)
				errs = append(errs, ferrs...)
				srcInfo.Trusted, srcInfo.Servers = false, names
				for _, name := range names {
					winners[name] = &fileEntry{entry: &Entry{Name: name, Enabled: true, Source: path, Pos: pos[name], Untrusted: ue}}
				}
				continue
			}
		}
		names, entries, ferrs, warns := parseFileWarn(src, opts.HomeDir, opts.Getenv, lf.lenient())
		errs = append(errs, ferrs...)
		cfg.Warnings = append(cfg.Warnings, warns...)
		srcInfo.Servers = make([]string, 0, len(names))
		for _, name := range names {
			fe := entries[name]
			if fe.bare {
				srcInfo.Overrides = append(srcInfo.Overrides, name)
			} else {
				srcInfo.Servers = append(srcInfo.Servers, name)
			}
			if !fe.bare {
				if prev := winners[name]; prev != nil && prev.lenient && fe.lenient && !prev.bare {
					fe = mergeOpencode(prev, fe) // opencode deep-merges its own files
				}
				winners[name] = fe
				continue
			}
			base := winners[name]
			if base == nil {
				if fe.entry.Enabled {
					errs = append(errs, &Error{Pos: fe.entry.Pos, Msg: fmt.Sprintf(
						`server %q only sets "enabled" but no earlier config file defines it; add "type" and its settings`, name)})
				}
				continue
			}
			merged := *base.entry
			merged.Enabled = fe.entry.Enabled
			merged.Source, merged.Pos = fe.entry.Source, fe.entry.Pos
			winners[name] = &fileEntry{entry: &merged, substErrs: base.substErrs,
				lenient: base.lenient && fe.lenient, keys: base.keys, oauthKeys: base.oauthKeys}
			if winners[name].lenient {
				winners[name].keys = mergedKeys(base.keys, fe.keys)
			}
		}
	}
	for name, fe := range winners {
		if fe.entry.Enabled {
			errs = append(errs, fe.substErrs...)
		}
		cfg.Servers[name] = fe.entry
	}
	if len(errs) > 0 {
		paths := make([]string, len(files))
		for i, lf := range files {
			paths[i] = lf.path
		}
		sortErrors(errs, paths)
		return nil, errs.err()
	}
	return cfg, nil
}

func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// sortErrors orders errors by file (load order), line and column, keeping
// the discovery order for equal positions.
func sortErrors(errs ErrorList, files []string) {
	idx := func(f string) int {
		if i := slices.Index(files, f); i >= 0 {
			return i
		}
		return len(files)
	}
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i].Pos, errs[j].Pos
		if ia, ib := idx(a.File), idx(b.File); ia != ib {
			return ia < ib
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Names returns the configured server names (enabled or not), sorted.
func (c *Config) Names() []string {
	names := make([]string, 0, len(c.Servers))
	for n := range c.Servers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the named entry (which may be disabled). When there is no
// such server the error is an *UnknownServerError (matching ErrNotFound),
// which lists the known names, with a suggestion for a likely typo. A placeholder of an untrusted project file
// is not returned: the error is its *UntrustedError, naming the server.
func (c *Config) Lookup(name string) (*Entry, error) {
	if e, ok := c.Servers[name]; ok {
		if e.Untrusted != nil {
			return nil, e.Untrusted.forServer(name)
		}
		return e, nil
	}
	return nil, &UnknownServerError{Name: name, Known: c.Names()}
}

// UnknownServerError is a name Lookup found no server for. It matches
// ErrNotFound. With no servers configured at all, the way to add one is
// the surface's to name (internal/fix).
type UnknownServerError struct {
	Name  string
	Known []string // the configured names, sorted
}

func (e *UnknownServerError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("unknown server %q: no servers are configured", e.Name)
	}
	return fmt.Sprintf("unknown server %q%s (known servers: %s)", e.Name, didYouMean(e.Name, e.Known), strings.Join(e.Known, ", "))
}

// Is makes errors.Is(err, ErrNotFound) hold.
func (e *UnknownServerError) Is(target error) bool { return target == ErrNotFound }
