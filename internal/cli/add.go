package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/config"
)

// AddOptions are the options of `mcplink add`.
type AddOptions struct {
	IO     *IOStreams
	Config configFunc
	Diag   diagFunc
	// EditFile is the file add and remove edit (Factory.EditFile);
	// EditOptions the options of an edit of path (lock, trust kept).
	EditFile    func(global bool) string
	EditOptions func(path string) []config.EditOption
	// OpencodeDefinition is where opencode's config defines name ("" if
	// nowhere); NoteUntrusted says that an edited project file is not
	// trusted yet.
	OpencodeDefinition func(name string) string
	NoteUntrusted      func(path string)

	Name         string
	URL          string
	Headers      []string
	NoOAuth      bool
	ClientID     string
	ClientSecret string
	Scope        string
	CallbackPort int
	Env          []string
	Cwd          string
	Command      []string
	Timeout      time.Duration
	Global       bool
	Force        bool
	Disabled     bool
}

// NewCmdAdd builds `mcplink add`.
func NewCmdAdd(f *Factory, runF func(context.Context, *AddOptions) error) *cobra.Command {
	opts := &AddOptions{IO: f.IO, Config: f.Config, Diag: f.diag, EditFile: f.EditFile, EditOptions: f.editOptions,
		OpencodeDefinition: f.opencodeDefinition, NoteUntrusted: f.noteUntrusted}
	cmd := &cobra.Command{
		Use:   "add <name> (--url URL | -- command [args...])",
		Short: "Add a server to the project (or --global) config, keeping comments",
		Long: `Add a remote server (--url) or a local server (a command after --) to the
project config file (mcplink.json found from the working directory upwards, created
in the working directory when there is none), or to the global file with --global.
The file's comments and formatting are kept; the write is atomic. Without
arguments on a terminal, a short form asks for the name, local or remote, the
command or URL, and OAuth or a header.`,
		Example: `  mcplink add notion --url https://mcp.notion.com/mcp
  mcplink add api --url https://api.example.com/mcp --header 'Authorization=Bearer {env:API_TOKEN}' --no-oauth
  mcplink add fs --env ROOT=/tmp -- npx -y @modelcontextprotocol/server-filesystem /tmp`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				if cmd.Flags().NFlag() == 0 && f.interactive() {
					return nil // a terminal gets the guided form (addform.go)
				}
				return usageError("add: expected a server name (see 'mcplink add --help')")
			}
			dash := cmd.ArgsLenAtDash()
			if dash == -1 && len(args) > 1 || dash > 1 {
				return usageError("add: put the local server's command after --, e.g. 'mcplink add %s -- npx -y some-server'", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				if err := askAdd(cmd.Context(), opts); err != nil {
					return err
				}
				if runF != nil {
					return runF(cmd.Context(), opts)
				}
				return addRun(opts)
			}
			opts.Name = args[0]
			if d := cmd.ArgsLenAtDash(); d >= 0 {
				opts.Command = args[d:]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return addRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.URL, "url", "", "remote server URL (Streamable HTTP or SSE)")
	fl.StringArrayVar(&opts.Headers, "header", nil, "HTTP header `K=V` or \"K: V\" sent on every request (repeatable)")
	fl.BoolVar(&opts.NoOAuth, "no-oauth", false, "never use OAuth for this server (\"oauth\": false)")
	fl.StringVar(&opts.ClientID, "client-id", "", "pre-registered OAuth client ID (skips dynamic registration)")
	fl.StringVar(&opts.ClientSecret, "client-secret", "", "OAuth client secret (prefer '{env:VAR}')")
	fl.StringVar(&opts.Scope, "scope", "", "OAuth scopes to always request (space-separated)")
	fl.IntVar(&opts.CallbackPort, "callback-port", 0, "OAuth callback port (default 19876)")
	fl.StringArrayVar(&opts.Env, "env", nil, "environment variable `K=V` for a local server (repeatable)")
	fl.StringVar(&opts.Cwd, "cwd", "", "working directory for a local server")
	fl.DurationVar(&opts.Timeout, "timeout", 0, "connect timeout for this server (e.g. 10s)")
	fl.BoolVar(&opts.Global, "global", false, "edit the global config file instead of the project one")
	fl.BoolVar(&opts.Force, "force", false, "replace an existing entry with the same name")
	fl.BoolVar(&opts.Disabled, "disabled", false, "add the entry switched off (\"enabled\": false)")
	return cmd
}

func addRun(opts *AddOptions) error {
	e, err := opts.entry()
	if err != nil {
		return err
	}
	// A configuration with errors is not edited: the errors are shown
	// (file:line:col, exit 2) and nothing changes. A config file that does
	// not exist yet is fine: add creates it. (remove is allowed on a broken
	// configuration: taking the broken entry out is a way to fix it.)
	if _, err := opts.Config(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	path := opts.EditFile(opts.Global)
	shadowed := opts.OpencodeDefinition(opts.Name) // add never edits opencode's files
	if err := config.AddEntry(path, opts.Name, e, opts.Force, opts.EditOptions(path)...); err != nil {
		if errors.Is(err, config.ErrExists) {
			return usageError("%w (pass --force to replace it, or 'mcplink remove %s' first)", err, opts.Name)
		}
		return err
	}
	what := e.URL
	if e.Type == config.TypeLocal {
		what = strings.Join(e.Command, " ")
	}
	fmt.Fprintf(opts.IO.ErrOut, "Added %s server %q (%s) to %s\n", e.Type, opts.Name, what, path)
	if shadowed != "" {
		opts.Diag("note: for mcplink it takes the place of %q from opencode's config at %s (that file is unchanged)", opts.Name, shadowed)
	}
	opts.NoteUntrusted(path)
	return nil
}

func (opts *AddOptions) entry() (*config.Entry, error) {
	remote := opts.URL != ""
	local := len(opts.Command) > 0
	switch {
	case remote && local:
		return nil, usageError("add: give either --url or a command after --, not both")
	case !remote && !local:
		return nil, usageError("add: give --url URL for a remote server, or a command after -- for a local one")
	}
	e := &config.Entry{Name: opts.Name, Enabled: !opts.Disabled, Timeout: opts.Timeout}
	if remote {
		if opts.Env != nil || opts.Cwd != "" {
			return nil, usageError("add: --env and --cwd are for local servers")
		}
		u, err := url.Parse(opts.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usageError("add: --url %q is not an http(s) URL", opts.URL)
		}
		e.Type, e.URL = config.TypeRemote, opts.URL
		h, err := parseHeaders(opts.Headers)
		if err != nil {
			return nil, err
		}
		e.Headers = h
		hasOAuth := opts.ClientID != "" || opts.ClientSecret != "" || opts.Scope != "" || opts.CallbackPort != 0
		if opts.NoOAuth {
			if hasOAuth {
				return nil, usageError("add: --no-oauth can't be combined with OAuth flags")
			}
			e.OAuthDisabled = true
		} else if hasOAuth {
			if opts.ClientSecret != "" && opts.ClientID == "" {
				return nil, usageError("add: --client-secret needs --client-id")
			}
			e.OAuth = &config.OAuth{ClientID: opts.ClientID, ClientSecret: opts.ClientSecret, Scope: opts.Scope, CallbackPort: opts.CallbackPort}
		}
		return e, nil
	}
	if opts.Headers != nil || opts.NoOAuth || opts.ClientID != "" || opts.ClientSecret != "" || opts.Scope != "" || opts.CallbackPort != 0 {
		return nil, usageError("add: --header and OAuth flags are for remote servers (--url)")
	}
	e.Type, e.Command, e.Cwd = config.TypeLocal, opts.Command, opts.Cwd
	env, err := kvPairs("--env", opts.Env)
	if err != nil {
		return nil, err
	}
	e.Environment = env
	return e, nil
}

func kvPairs(flag string, pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usageError("%s %q: expected K=V", flag, p)
		}
		m[strings.TrimSpace(k)] = v
	}
	return m, nil
}

// RemoveOptions are the options of `mcplink remove`.
type RemoveOptions struct {
	IO                 *IOStreams
	EditFile           func(global bool) string
	EditOptions        func(path string) []config.EditOption
	OpencodeDefinition func(name string) string
	NoteUntrusted      func(path string)

	Name   string
	Global bool
}

// NewCmdRemove builds `mcplink remove`.
func NewCmdRemove(f *Factory, runF func(context.Context, *RemoveOptions) error) *cobra.Command {
	opts := &RemoveOptions{IO: f.IO, EditFile: f.EditFile, EditOptions: f.editOptions, OpencodeDefinition: f.opencodeDefinition, NoteUntrusted: f.noteUntrusted}
	cmd := &cobra.Command{
		Use:     "remove <name>",
		Aliases: []string{"rm"},
		Short:   "Remove a server from the project (or --global) config, keeping comments",
		Args:    exactArgs(1, "a server name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return removeRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Global, "global", false, "edit the global config file instead of the project one")
	return cmd
}

func removeRun(opts *RemoveOptions) error {
	path := opts.EditFile(opts.Global)
	if err := config.RemoveEntry(path, opts.Name, opts.EditOptions(path)...); err != nil {
		if errors.Is(err, config.ErrNotFound) {
			if at := opts.OpencodeDefinition(opts.Name); at != "" {
				return usageError("%w; it is defined in opencode's config at %s, which mcplink does not edit (opencode reads it too): remove it there, or switch it off for mcplink with \"%s\": {\"enabled\": false} in %s", err, at, opts.Name, path)
			}
			return usageError("%w", err)
		}
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "Removed %q from %s\n", opts.Name, path)
	opts.NoteUntrusted(path)
	return nil
}
