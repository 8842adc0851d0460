package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/oauthtest"
)

// DemoOptions are the options of `mcplink demo`.
type DemoOptions struct {
	IO *IOStreams
	// Executable is this binary (the demo's local server runs it).
	Executable string
	// Run runs an mcplink command line in the demo's own world: its
	// config file, its data directory, and its browser (nil: the demo
	// follows the authorization URL itself).
	Run func(ctx context.Context, env demoEnv, args []string) int

	Browser bool
	Keep    bool
}

// NewCmdDemo builds `mcplink demo`.
func NewCmdDemo(f *Factory, runF func(context.Context, *DemoOptions) error) *cobra.Command {
	opts := &DemoOptions{IO: f.IO, Executable: f.Executable, Run: f.runDemoStep}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a guided tour against embedded MCP and OAuth servers (no network needed)",
		Long: `Start an embedded pair of servers on loopback ephemeral ports — a plain MCP
server, and an OAuth authorization server in front of a protected MCP server — plus a
local stdio server, write a temporary config, and walk through list → tools → call →
auth → call with narration. Nothing outside a temporary directory is touched, and no
browser or network is needed: the demo follows the authorization URL itself unless
--browser is given.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return demoRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Browser, "browser", false, "open a real browser on a consent page for the OAuth step")
	cmd.Flags().BoolVar(&opts.Keep, "keep", false, "keep the temporary directory (config and credentials) for inspection")
	return cmd
}

// demoEnv is where the demo's commands run.
type demoEnv struct {
	ConfigFile, DataDir string
	// OpenURL opens the sign-in URL; nil uses the real browser.
	OpenURL func(ctx context.Context, url string) error
}

// runDemoStep runs args as mcplink would, but against env's config file
// and data directory, with env's browser.
func (f *Factory) runDemoStep(ctx context.Context, env demoEnv, args []string) int {
	df := *f
	df.store = nil // the demo has its own data directory
	df.ConfigFile = env.ConfigFile
	df.Getenv = func(k string) string {
		switch k {
		case "MCPLINK_DATA_DIR":
			return env.DataDir
		case "MCPLINK_CREDENTIALS_STORE":
			// The demo's throwaway tokens stay in its data directory (the
			// 0600 file it shows), never in the user's keyring, where they
			// would outlive the demo.
			return "file"
		}
		return f.Getenv(k)
	}
	if env.OpenURL != nil {
		df.OpenURL = env.OpenURL
	}
	return Run(ctx, &df, args)
}

func demoRun(ctx context.Context, opts *DemoOptions) error {
	out := opts.IO.Out
	say := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }

	dir, err := os.MkdirTemp("", "mcplink-demo-")
	if err != nil {
		return fmt.Errorf("creating a temporary directory: %w", err)
	}
	if opts.Keep {
		defer say("\nKept %s (config and credentials) for inspection.", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	say("== mcplink demo ==")
	say("Starting embedded servers on loopback (nothing leaves this machine)…")
	plain, err := mcptest.StartHTTP(mcptest.HTTPOptions{})
	if err != nil {
		return fmt.Errorf("starting the demo MCP server: %w", err)
	}
	defer plain.Close()
	as, err := oauthtest.Start(oauthtest.Options{ConsentPage: opts.Browser})
	if err != nil {
		return fmt.Errorf("starting the demo OAuth server: %w", err)
	}
	defer as.Close()
	port, err := freePort()
	if err != nil {
		return err
	}
	say("  • demo       plain MCP server           %s", plain.URL)
	say("  • protected  OAuth-protected MCP server  %s", as.MCPURL)
	say("               its authorization server    %s", as.IssuerURL)
	say("  • local      stdio server (a child process of this binary)")

	cfgPath := filepath.Join(dir, "mcplink.json")
	cfgText := fmt.Sprintf(`{
  // Written by 'mcplink demo'. JSONC: comments and trailing commas are fine.
  "mcp": {
    "demo": { "type": "remote", "url": %q },
    "local": { "type": "local", "command": [%q, "__test-server", "stdio"] },
    "protected": {
      "type": "remote",
      "url": %q,
      // A free port for this run; the default is 19876.
      "oauth": { "callbackPort": %d },
    },
  },
}
`, plain.URL, opts.Executable, as.MCPURL, port)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		return fmt.Errorf("writing the demo config: %w", err)
	}
	say("\nConfig (%s):\n%s", cfgPath, indent(cfgText))

	env := demoEnv{ConfigFile: cfgPath, DataDir: filepath.Join(dir, "data")}
	if !opts.Browser {
		env.OpenURL = func(fctx context.Context, u string) error { return oauthtest.FollowRedirects(fctx, u) }
	}

	steps := []struct {
		note string
		args []string
	}{
		{"Every enabled server is connected concurrently. 'protected' answers 401, so it needs auth:", []string{"list"}},
		{"Tools with descriptions and argument schemas:", []string{"tools", "demo"}},
		{"Call a tool; key=value pairs are typed by the tool's schema:", []string{"call", "demo", "add", "a=2", "b=3"}},
		{"The local stdio server works the same way:", []string{"call", "local", "echo", "text=hello from a child process"}},
		{authNote(opts.Browser), []string{"auth", "protected", "--timeout", "2m"}},
		{"Now every server is connected, with the token stored (0600) and refreshed when needed:", []string{"list"}},
		{"A call on the protected server carries the token:", []string{"call", "protected", "whoami"}},
	}
	for _, s := range steps {
		say("\n# %s", s.note)
		say("$ mcplink %s", shellJoin(s.args))
		if code := opts.Run(ctx, env, s.args); code != ExitOK {
			return fmt.Errorf("demo step 'mcplink %s' failed with exit status %d", shellJoin(s.args), code)
		}
	}
	say("\nDone. Try it on your own servers: 'mcplink add <name> --url <url>', then 'mcplink list'.")
	return nil
}

func authNote(browser bool) string {
	if browser {
		return "Sign in: a browser opens on the authorization server's consent page. Approve it:"
	}
	return "Sign in: discovery, dynamic client registration, PKCE, and the redirect to our loopback callback (the demo's \"browser\" follows the authorization URL itself):"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n")
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " '\"$\\") {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		} else {
			q[i] = a
		}
	}
	return strings.Join(q, " ")
}

// newCmdTestServer is a hidden command that runs the embedded test MCP server
// over stdio; the demo and the end-to-end tests use it as a real local server.
func newCmdTestServer(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "__test-server stdio",
		Hidden: true,
		Args:   exactArgs(1, "the transport (stdio)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "stdio" {
				return usageError("__test-server: unknown transport %q", args[0])
			}
			return mcptest.ServeStdio(cmd.Context(), f.IO.In, f.IO.Out)
		},
	}
}
