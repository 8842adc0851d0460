package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/clients"
	"github.com/mcplink/mcplink/config"
)

// ImportOptions are the options of `mcplink import`.
type ImportOptions struct {
	IO   *IOStreams
	Diag diagFunc
	// For opencode's credentials: the config, opencode's auth file, and
	// mcplink's store.
	Config       configFunc
	OpencodeAuth func() clients.OpencodeAuth
	Store        func() (authstore.Store, error)
	// For other clients' servers: where their files are, the variables
	// they use, and the config file to write.
	Getenv      func(string) string
	LookupEnv   func(string) (string, bool)
	HomeDir     string
	WorkDir     string
	EditFile    func(global bool) string
	EditOptions func(path string) []config.EditOption

	Client string
	DryRun bool
	JSON   bool
	// Global and Force apply to importing servers (every client but
	// opencode): write the global file; replace entries of the same name.
	Global bool
	Force  bool
}

// NewCmdImport builds `mcplink import`.
func NewCmdImport(f *Factory, runF func(context.Context, *ImportOptions) error) *cobra.Command {
	opts := &ImportOptions{IO: f.IO, Diag: f.diag, Config: f.Config, OpencodeAuth: f.opencodeAuth, Store: f.Store,
		Getenv: f.Getenv, LookupEnv: f.lookupEnv, HomeDir: f.HomeDir, WorkDir: f.WorkDir, EditFile: f.EditFile, EditOptions: f.editOptions}
	cmd := &cobra.Command{
		Use:   "import <client>",
		Short: "Copy another MCP client's servers (or opencode's sign-ins) into mcplink",
		Long: `Copy the MCP servers of another client into mcplink's config: the project
file (mcplink.json found from the working directory, or created there), or
the global file with --global; with --config, that file. Clients and the
files read (their user files, then the project's in the working directory;
later ones win by name):

  claude-code     ~/.claude.json's user servers, .mcp.json, then this
                  directory's entry under "projects" in ~/.claude.json
                  (Claude Code's order: local over project over user)
  claude-desktop  claude_desktop_config.json (per OS)
  cursor          ~/.cursor/mcp.json, .cursor/mcp.json
  vscode          the user profile's mcp.json (per OS), .vscode/mcp.json
  windsurf        ~/.codeium/windsurf/mcp_config.json
  gemini          ~/.gemini/settings.json, .gemini/settings.json
  codex           ~/.codex/config.toml ($CODEX_HOME)

The client's files are only read. Comments in mcplink's file are kept.
Variable references are copied as references ({env:VAR}), never their
values. Each server is reported as added, unchanged (already there, the
same), or skipped with the reason: a server of that name already in the
file with other settings (--force replaces it), or one that cannot be
copied (a VS Code ${input:...}); an envFile is copied as its path, never its
values, and read when the server starts. Running it again changes
nothing.

"import opencode" instead copies the OAuth credentials opencode stored for
its MCP servers ($XDG_DATA_HOME/opencode/mcp-auth.json) into mcplink's
credential store, for every server configured in mcplink under the same
name and URL (mcplink reads opencode's config files in place, so its
servers need no import). mcplink already uses opencode's credentials
without importing them, as long as it has none of its own for a server;
importing makes them mcplink's, so they stay when opencode signs out. Each
entry is reported as copied, unchanged (already imported) or skipped with
the reason: no such server configured, a different URL, expired without a
refresh token, mcplink signed in on its own.`,
		Example: `  mcplink import claude-code --dry-run
  mcplink import cursor --global
  mcplink import vscode --force
  mcplink import opencode`,
		Args:      exactArgs(1, "the client to import from ("+strings.Join(importClients(), ", ")+")"),
		ValidArgs: importClients(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != clients.Opencode && !clients.Known(args[0]) {
				return usageError("import: unknown client %q; supported: %s", args[0], strings.Join(importClients(), ", "))
			}
			if args[0] == clients.Opencode && (opts.Global || opts.Force) {
				return usageError("import opencode copies sign-ins, not servers (mcplink reads opencode's config in place); --global and --force do not apply")
			}
			opts.Client = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.Client != clients.Opencode {
				return importServersRun(opts)
			}
			return importRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "report what would be copied; change nothing")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array")
	cmd.Flags().BoolVar(&opts.Global, "global", false, "write the global config file instead of the project's")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "replace servers of the same name that differ")
	return cmd
}

// importJSON is the stable --json shape of one entry.
type importJSON struct {
	Name string `json:"name"`
	// Action is, for credentials, "copied" ("would copy" with --dry-run),
	// "unchanged" or "skipped"; for servers "added", "replaced" ("would
	// add", "would replace"), "unchanged" or "skipped".
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	// From is the client's file a server was read from (servers only).
	From string `json:"from,omitempty"`
}

func importRun(ctx context.Context, opts *ImportOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	file := opts.OpencodeAuth().File
	entries, bad, err := clients.ReadOpencodeAuth(file)
	if err != nil {
		return err
	}
	if _, serr := os.Stat(file); serr != nil {
		opts.Diag("No opencode credentials at %s; nothing to import.", file)
		if opts.JSON {
			return writeJSON(opts.IO.Out, []importJSON{})
		}
		return nil
	}
	st, err := opts.Store()
	if err != nil {
		return err
	}
	now := time.Now()
	out := []importJSON{}
	for _, name := range clients.SortedNames(bad) {
		out = append(out, importJSON{Name: name, Action: "skipped", Reason: bad[name]})
	}
	for _, name := range clients.SortedNames(entries) {
		r := importOne(ctx, st, cfg, name, entries[name], now, opts.DryRun)
		r.Name = name
		out = append(out, r)
	}
	return printImport(opts.IO, out, opts.JSON, 10)
}

// printImport writes import's report: --json, or one line per entry (its
// action in a column of actionWidth, its name, then the reason or the file
// it came from).
func printImport(ios *IOStreams, out []importJSON, asJSON bool, actionWidth int) error {
	if asJSON {
		return writeJSON(ios.Out, out)
	}
	w := 0
	for _, r := range out {
		w = max(w, len(r.Name))
	}
	for _, r := range out {
		line := fmt.Sprintf("%-*s %-*s", actionWidth, r.Action, w, r.Name)
		switch {
		case r.Reason != "":
			line += "  " + r.Reason
		case r.From != "":
			line += "  from " + r.From
		}
		fmt.Fprintln(ios.Out, line)
	}
	return nil
}

// importOne copies one opencode entry into st unless a rule says why not.
func importOne(ctx context.Context, st authstore.Store, cfg *config.Config, name string, oe clients.OpencodeAuthEntry, now time.Time, dryRun bool) importJSON {
	skip := func(format string, a ...any) importJSON {
		return importJSON{Action: "skipped", Reason: fmt.Sprintf(format, a...)}
	}
	c, ok := oe.Credentials()
	switch {
	case oe.ServerURL == "":
		return skip("no serverUrl in the entry (opencode does not use it either)")
	case !ok:
		return skip("no tokens and no client registration in the entry")
	}
	entry, err := cfg.Lookup(name)
	var ue *config.UntrustedError
	switch {
	case errors.As(err, &ue):
		return skip("its project config file %s is not trusted; run \"mcplink trust\" in %s first", ue.File, ue.Dir)
	case err != nil:
		return skip("no server %q is configured in mcplink", name)
	case entry.Type != config.TypeRemote:
		return skip("%q is a local server in mcplink", name)
	case entry.OAuthDisabled:
		return skip("%q has \"oauth\": false in %s", name, entry.Source)
	case entry.URL != c.ServerURL:
		return skip("URL mismatch: opencode signed in to %s, mcplink's %q is %s", c.ServerURL, name, entry.URL)
	case c.Token != nil && !c.Token.Expiry.IsZero() && !now.Before(c.Token.Expiry) && c.Token.RefreshToken == "":
		return skip("the access token expired %s and there is no refresh token; sign in with \"mcplink auth %s\"", c.Token.Expiry.Format(time.RFC3339), name)
	}
	result := importJSON{Action: "copied"}
	if dryRun {
		result.Action = "would copy"
	}
	write := func(cur *authstore.Credentials) (*authstore.Credentials, error) {
		if cur != nil && cur.ForURL(c.ServerURL) {
			switch {
			case cur.Token != nil && c.Token != nil && cur.Token.AccessToken == c.Token.AccessToken:
				result = importJSON{Action: "unchanged", Reason: "already imported"}
				return nil, errNoChange
			case cur.Token != nil && cur.Token.AccessToken != "":
				result = skip("mcplink has its own sign-in for %q (\"mcplink logout %s\" first to use opencode's)", name, name)
				return nil, errNoChange
			}
		}
		if dryRun {
			return nil, errNoChange
		}
		n := *c
		n.From, n.UpdatedAt = "", now
		return &n, nil
	}
	if err := st.Update(ctx, name, write); err != nil && !errors.Is(err, errNoChange) {
		return skip("writing mcplink's credential store failed: %v", err)
	}
	return result
}

// errNoChange aborts a Store.Update without writing.
var errNoChange = errors.New("no change")
