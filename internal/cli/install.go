package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/clients"
	"github.com/mcplink/mcplink/config"
)

// InstallOptions are the options of `mcplink install` and `uninstall`.
type InstallOptions struct {
	IO     *IOStreams
	Config configFunc
	Diag   diagFunc
	// Target is where the client reads servers (clients.InstallTarget for
	// this machine); ProxyEntry the entry that runs `mcplink proxy`
	// (Factory.proxyEntry).
	Target     func(client, scope string) (clients.Target, error)
	ProxyEntry func(cfg *config.Config, entry *config.Entry, scope string) clients.StdioEntry

	Client, Server string
	Scope          string
	DryRun, Force  bool
}

// NewCmdInstall builds `mcplink install`.
func NewCmdInstall(f *Factory) *cobra.Command {
	opts := newInstallOptions(f)
	cmd := &cobra.Command{
		Use:   "install <client> <server>",
		Short: "Register a server in another MCP client as `mcplink proxy <server>`",
		Long: `Register a server of mcplink's config in another MCP client (` + strings.Join(clients.Names, ", ") + `)
as a stdio server that runs "mcplink proxy <server>": the client gets the
server's tools through mcplink, which signs in with OAuth and keeps the
tokens — what people use mcp-remote for, without Node.

The entry runs this mcplink binary by its absolute path, with --config when
the server comes from an explicit config file (or, for --scope user, from a
project file), and sets XDG_CONFIG_HOME, XDG_DATA_HOME, MCPLINK_DATA_DIR and
MCPLINK_CREDENTIALS_STORE when they differ from the defaults (clients start
servers with a minimal environment). It is written where the client reads
it without asking (--scope user, the default: Claude Code's ~/.claude.json,
~/.cursor/mcp.json, VS Code's user mcp.json, …) or into the project's file
(--scope project: .mcp.json, .cursor/mcp.json, .vscode/mcp.json,
.gemini/settings.json), keeping every other entry, key and comment. An
entry of that name that is not an mcplink proxy is left alone unless
--force. Sign in first ("mcplink auth <server>") so the client connects at
once.`,
		Example: `  mcplink install claude-code github --dry-run
  mcplink install claude-code github
  mcplink install cursor jira --scope project`,
		Args:              exactArgs(2, "a client and a server name"),
		ValidArgsFunction: installCompletion(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client, opts.Server = args[0], args[1]
			return installRun(opts, false)
		},
	}
	cmd.Flags().StringVar(&opts.Scope, "scope", clients.ScopeUser, "user (the client's own file) or project (the working directory's)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print the entry and the file; write nothing")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "replace an entry of that name that is not an mcplink proxy")
	return cmd
}

// NewCmdUninstall builds `mcplink uninstall`.
func NewCmdUninstall(f *Factory) *cobra.Command {
	opts := newInstallOptions(f)
	cmd := &cobra.Command{
		Use:   "uninstall <client> <server>",
		Short: "Remove a server `mcplink install` registered in another MCP client",
		Long: `Remove the entry "mcplink install" wrote for the server from the client's
file (--scope as for install), keeping everything else. An entry of that
name that is not an mcplink proxy is left alone unless --force.`,
		Example:           `  mcplink uninstall claude-code github`,
		Args:              exactArgs(2, "a client and a server name"),
		ValidArgsFunction: installCompletion(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client, opts.Server = args[0], args[1]
			return installRun(opts, true)
		},
	}
	cmd.Flags().StringVar(&opts.Scope, "scope", clients.ScopeUser, "user (the client's own file) or project (the working directory's)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print what would be removed; write nothing")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "remove an entry of that name that is not an mcplink proxy")
	return cmd
}

// newInstallOptions returns install's and uninstall's Options with their
// dependencies taken from f.
func newInstallOptions(f *Factory) *InstallOptions {
	return &InstallOptions{IO: f.IO, Config: f.Config, Diag: f.diag, ProxyEntry: f.proxyEntry,
		Target: func(client, scope string) (clients.Target, error) {
			return clients.InstallTarget(client, scope, runtime.GOOS, f.Getenv, f.HomeDir, f.WorkDir)
		}}
}

func installCompletion(f *Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return clients.Names, cobra.ShellCompDirectiveNoFileComp
		}
		if len(args) == 1 {
			f.noPrompt = true
			cfg, err := f.Config()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []string
			for _, n := range cfg.Names() {
				if e := cfg.Servers[n]; e.Type == config.TypeRemote {
					names = append(names, n)
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// isProxyEntry reports whether e runs `mcplink … proxy …`.
func isProxyEntry(e *config.Entry) bool {
	if e == nil || e.Type != config.TypeLocal || len(e.Command) < 2 {
		return false
	}
	base := strings.ToLower(filepath.Base(e.Command[0]))
	return strings.HasPrefix(base, "mcplink") && slices.Contains(e.Command[1:], "proxy")
}

func installRun(opts *InstallOptions, remove bool) error {
	if !clients.Known(opts.Client) {
		return usageError("unknown client %q; supported: %s", opts.Client, strings.Join(clients.Names, ", "))
	}
	t, err := opts.Target(opts.Client, opts.Scope)
	if errors.Is(err, clients.ErrNoProjectFile) {
		return usageError("%v; use --scope user", err)
	}
	if err != nil {
		return usageError("%v", err)
	}
	cur, err := t.Entry(opts.Server)
	if err != nil {
		return err
	}
	if cur != nil && !isProxyEntry(cur) && !opts.Force {
		return usageError("%s already has a server %q that is not an mcplink proxy; pass --force to %s it", t.Path, opts.Server,
			map[bool]string{false: "replace", true: "remove"}[remove])
	}
	if remove {
		switch {
		case cur == nil:
			opts.Diag("%s has no server %q; nothing to remove.", t.Path, opts.Server)
			return nil
		case opts.DryRun:
			fmt.Fprintf(opts.IO.Out, "Would remove %q from %s\n", opts.Server, t.Path)
			return nil
		}
		if _, err := t.Uninstall(opts.Server); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.Out, "Removed %q from %s\n", opts.Server, t.Path)
		return nil
	}
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	entry, err := cfg.Lookup(opts.Server)
	if err != nil {
		return err
	}
	if entry.Type != config.TypeRemote {
		return usageError("server %q is a local server; register its command in %s directly (install is for remote servers, through mcplink proxy)", opts.Server, opts.Client)
	}
	e := opts.ProxyEntry(cfg, entry, opts.Scope)
	if opts.DryRun {
		fmt.Fprintf(opts.IO.Out, "Would write to %s:\n%s\n", t.Path, strings.TrimRight(string(t.Marshal(opts.Server, e)), "\n"))
		return nil
	}
	changed, err := t.Install(opts.Server, e)
	if err != nil {
		return err
	}
	if !changed {
		fmt.Fprintf(opts.IO.Out, "%q is already installed in %s\n", opts.Server, t.Path)
		return nil
	}
	fmt.Fprintf(opts.IO.Out, "Installed %q in %s: %s %s\n", opts.Server, t.Path, e.Command, strings.Join(e.Args, " "))
	return nil
}

// proxyEntry is the stdio entry that runs `mcplink proxy <server>` as the
// client will start it: from its own working directory, with a minimal
// environment.
func (f *Factory) proxyEntry(cfg *config.Config, entry *config.Entry, scope string) clients.StdioEntry {
	exe := f.Executable
	if abs, err := filepath.Abs(exe); err == nil {
		exe = abs
	}
	var args []string
	if p := f.explicitConfig(); p != "" {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		args = append(args, "--config", p)
	} else if scope == clients.ScopeUser {
		// From another working directory the project file is not found:
		// name it (it was trusted, or Lookup would have refused).
		for _, s := range cfg.Sources {
			if s.Path == entry.Source && s.Project && s.Kind == config.KindProject {
				args = append(args, "--config", s.Path)
			}
		}
	}
	args = append(args, "proxy", entry.Name)
	env := map[string]string{}
	def := map[string]string{
		"XDG_CONFIG_HOME": filepath.Join(f.HomeDir, ".config"),
		"XDG_DATA_HOME":   filepath.Join(f.HomeDir, ".local", "share"),
	}
	for _, k := range []string{"XDG_CONFIG_HOME", "XDG_DATA_HOME", "MCPLINK_DATA_DIR", authstore.EnvCredentialsStore} {
		v := f.Getenv(k)
		if v == "" || v == def[k] || (k == authstore.EnvCredentialsStore && v == "auto") {
			continue
		}
		if k != authstore.EnvCredentialsStore {
			if abs, err := filepath.Abs(v); err == nil {
				v = abs
			}
		}
		env[k] = v
	}
	return clients.StdioEntry{Command: exe, Args: args, Env: env}
}
