package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/clients"
	"github.com/mcplink/mcplink/config"
)

// opencodeAuth is opencode's mcp-auth.json, read (never written) for a
// server mcplink has no credentials of its own for.
func (f *Factory) opencodeAuth() clients.OpencodeAuth {
	_, data := clients.OpencodeDirs(f.Getenv, f.HomeDir)
	return clients.OpencodeAuth{File: clients.OpencodeAuthFile(data)}
}

// opencodeOptions says where opencode's config files are, from the same
// environment opencode reads (XDG_CONFIG_HOME, OPENCODE_CONFIG,
// OPENCODE_CONFIG_DIR, OPENCODE_DISABLE_PROJECT_CONFIG). Relative paths are
// relative to the working directory, as for opencode.
func (f *Factory) opencodeOptions() *config.OpencodeOptions {
	abs := func(p string) string {
		if p != "" && !filepath.IsAbs(p) {
			return filepath.Join(f.WorkDir, p)
		}
		return p
	}
	dis := strings.ToLower(f.Getenv("OPENCODE_DISABLE_PROJECT_CONFIG"))
	return &config.OpencodeOptions{
		ConfigHome:     f.configHome(),
		HomeDir:        f.HomeDir,
		File:           abs(f.Getenv("OPENCODE_CONFIG")),
		ConfigDir:      abs(f.Getenv("OPENCODE_CONFIG_DIR")),
		DisableProject: dis == "true" || dis == "1",
	}
}

// ConfigOptions are the options of `mcplink config`.
type ConfigOptions struct {
	IO     *IOStreams
	Config configFunc
	Diag   diagFunc

	JSON bool
}

// NewCmdConfig builds `mcplink config`.
func NewCmdConfig(f *Factory, runF func(context.Context, *ConfigOptions) error) *cobra.Command {
	opts := &ConfigOptions{IO: f.IO, Config: f.Config, Diag: f.diag}
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show which config files were read, in which order, and where each server comes from",
		Long: `Print the config files mcplink read, lowest precedence first — opencode's
(global, OPENCODE_CONFIG, the project's opencode.json/opencode.jsonc up to the
repository root, .opencode directories), then mcplink's global and project
files — with whether each is trusted and the servers it defines, then every
server with the file (and line) it comes from. Later files win by server
name; {"enabled": false} in a later file switches a server off.

Warnings are fields mcplink does not know in opencode's files: ignored.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return configRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// configJSON is the stable --json shape of `mcplink config`.
type configJSON struct {
	Files    []configFileJSON   `json:"files"`
	Servers  []configServerJSON `json:"servers"`
	Warnings []configWarnJSON   `json:"warnings"`
}

type configFileJSON struct {
	Path string `json:"path"`
	// Kind is global, project, explicit, opencode-global, opencode-env,
	// opencode-home or opencode-project.
	Kind string `json:"kind"`
	// Trust is "trusted" or "untrusted" for a project file, "user" for
	// the user's own files (always trusted).
	Trust     string   `json:"trust"`
	Servers   []string `json:"servers"`
	Overrides []string `json:"overrides"`
}

type configServerJSON struct {
	Name    string `json:"name"`
	Type    string `json:"type,omitempty"`
	Enabled bool   `json:"enabled"`
	// File and Line/Column are where the winning definition (or the
	// {"enabled": …} override) is; SettingsFrom, for an override, is the
	// file whose settings it toggles.
	File         string `json:"file"`
	Line         int    `json:"line"`
	Column       int    `json:"column"`
	SettingsFrom string `json:"settingsFrom,omitempty"`
	Untrusted    bool   `json:"untrusted,omitempty"`
}

type configWarnJSON struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

func configRun(opts *ConfigOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	out := configJSON{Files: []configFileJSON{}, Servers: []configServerJSON{}, Warnings: []configWarnJSON{}}
	for _, s := range cfg.Sources {
		trust := "user"
		if s.Project {
			trust = "untrusted"
			if s.Trusted {
				trust = "trusted"
			}
		}
		out.Files = append(out.Files, configFileJSON{Path: s.Path, Kind: s.Kind, Trust: trust,
			Servers: nonNil(s.Servers), Overrides: nonNil(s.Overrides)})
	}
	for _, name := range cfg.Names() {
		e := cfg.Servers[name]
		sj := configServerJSON{Name: name, Type: e.Type, Enabled: e.Enabled, File: e.Source,
			Line: e.Pos.Line, Column: e.Pos.Col, Untrusted: e.Untrusted != nil}
		sj.SettingsFrom = settingsFrom(cfg.Sources, name, e.Source)
		out.Servers = append(out.Servers, sj)
	}
	for _, w := range cfg.Warnings {
		out.Warnings = append(out.Warnings, configWarnJSON{File: w.Pos.File, Line: w.Pos.Line, Column: w.Pos.Col, Message: w.Msg})
	}
	if opts.JSON {
		return writeJSON(opts.IO.Out, out)
	}
	w := opts.IO.Out
	if len(out.Files) == 0 {
		fmt.Fprintln(w, "No config files found.")
	} else {
		fmt.Fprintln(w, "Files, lowest precedence first:")
		pw, kw := 0, 0
		for _, fj := range out.Files {
			pw, kw = max(pw, len(fj.Path)), max(kw, len(fj.Kind))
		}
		for i, fj := range out.Files {
			names := append(slices.Clone(fj.Servers), fj.Overrides...)
			for j := len(fj.Servers); j < len(names); j++ {
				names[j] += " (enabled override)"
			}
			fmt.Fprintf(w, "  %d  %-*s  %-*s  %-9s  %s\n", i+1, pw, fj.Path, kw, fj.Kind, fj.Trust, strings.Join(names, ", "))
		}
	}
	if len(out.Servers) > 0 {
		fmt.Fprintln(w, "Servers:")
		nw := 0
		for _, sj := range out.Servers {
			nw = max(nw, len(sj.Name))
		}
		for _, sj := range out.Servers {
			state := sj.Type
			switch {
			case sj.Untrusted:
				state = "untrusted"
			case !sj.Enabled:
				state = "disabled"
			}
			from := fmt.Sprintf("%s:%d:%d", sj.File, sj.Line, sj.Column)
			if sj.SettingsFrom != "" {
				from += " (settings from " + sj.SettingsFrom + ")"
			}
			fmt.Fprintf(w, "  %-*s  %-9s  %s\n", nw, sj.Name, state, from)
		}
	}
	for _, wj := range out.Warnings {
		opts.Diag("warning: %s:%d:%d: %s", wj.File, wj.Line, wj.Column, wj.Message)
	}
	return nil
}

// settingsFrom returns, when the winning mention of name in winner is a bare
// {"enabled": …} override, the last earlier file defining name in full.
func settingsFrom(sources []config.Source, name, winner string) string {
	def := ""
	for _, s := range sources {
		if s.Path == winner {
			if slices.Contains(s.Overrides, name) && !slices.Contains(s.Servers, name) {
				return def
			}
			return ""
		}
		if slices.Contains(s.Servers, name) {
			def = s.Path
		}
	}
	return ""
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// opencodeDefinition returns where name is defined in one of opencode's
// files, or "" (for messages of add and remove, which never edit them).
func (f *Factory) opencodeDefinition(name string) string {
	cfg, err := f.Config()
	if err != nil {
		return ""
	}
	e, ok := cfg.Servers[name]
	if !ok {
		return ""
	}
	for i := len(cfg.Sources) - 1; i >= 0; i-- {
		s := cfg.Sources[i]
		if slices.Contains(s.Servers, name) {
			if !s.Opencode() {
				return ""
			}
			if s.Path == e.Source {
				return e.Pos.String()
			}
			return s.Path
		}
	}
	return ""
}

// toggleFile is the file the TUI's enable toggle edits for e: the file it
// came from, unless that is one of opencode's (which mcplink never edits;
// opencode reads them too): then mcplink's global file, where a bare
// {"enabled": …} override switches it for mcplink only.
func (f *Factory) toggleFile(e *config.Entry) string {
	if cfg, err := f.Config(); err == nil {
		for _, s := range cfg.Sources {
			if s.Path == e.Source && s.Opencode() {
				return config.GlobalFile(f.configHome())
			}
		}
	}
	return e.Source
}
