// Package cli implements the mcplink command line: thin cobra commands over the
// config, manager, oauth and authstore packages. Only this package imports cobra.
//
// Each command follows one shape: an Options struct, a NewCmdX(f, runF)
// constructor that parses flags into it, and an xRun function doing the work.
// Tests pass runF to check what a command line parses to, and which usage
// errors stop it before any work (options_test.go); everything else passes nil.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/fix"
	"github.com/mcplink/mcplink/internal/termtext"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitError  = 1 // the operation failed (a server error, a tool result with isError, ...)
	ExitConfig = 2 // bad configuration or bad usage (including an untrusted project server); nothing was changed
)

// errSilent carries an exit code for an error that was already reported.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks a command-line usage mistake (exit 2).
func usageError(format string, a ...any) error {
	return &exitError{code: ExitConfig, err: fmt.Errorf(format, a...)}
}

// Main runs mcplink with args (without the program name) and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), shutdownSignals()...)
	defer stop()
	f := NewFactory(stdin, stdout, stderr)
	return Run(ctx, f, args)
}

// Run executes the root command with f and returns the exit code.
func Run(ctx context.Context, f *Factory, args []string) int {
	root := NewCmdRoot(f)
	root.SetArgs(args)
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitError
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case errors.Is(err, config.ErrInvalid), errors.Is(err, config.ErrUntrusted):
		code = ExitConfig
	case unknownCommand(root, args):
		code = ExitConfig
	}
	if !errors.Is(err, errReported) {
		// Errors quote servers (JSON-RPC errors, OAuth error_description,
		// a local server's stderr): no terminal controls from them.
		fmt.Fprintf(f.IO.ErrOut, "mcplink: %s\n", termtext.Clean(fix.Message(err, fix.CLI)))
	}
	return code
}

// unknownCommand reports whether args name no command: cobra's Find fails
// only for that (an unknown first word on the root), and after Execute it
// knows the commands cobra adds itself (help, __complete).
func unknownCommand(root *cobra.Command, args []string) bool {
	_, _, err := root.Find(args)
	return err != nil
}

// errReported marks an error whose message was already printed.
var errReported = errors.New("reported")

// NewCmdRoot builds the command tree.
func NewCmdRoot(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "mcplink <command>",
		Short: "Connect to MCP servers, local or remote, with OAuth done right",
		Long: `mcplink connects to MCP servers — local (stdio) or remote (Streamable HTTP,
SSE fallback) — using an opencode-compatible JSONC config, with OAuth done right.

Config files: opencode's (global, OPENCODE_CONFIG, the project's opencode.json), then
$XDG_CONFIG_HOME/mcplink/mcplink.json (global) and mcplink.json found from the working
directory upwards (project); later files win by server name; 'mcplink config' lists them.
--config or MCPLINK_CONFIG selects one file. A project file is used only after
'mcplink trust' (see 'mcplink trust --help').`,
		Version:       Version(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("mcplink {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%w (see 'mcplink %s --help')", err, c.Name())
	})
	root.PersistentFlags().StringVar(&f.ConfigFile, "config", f.ConfigFile, "use exactly this config `file` (default: global + project files; env MCPLINK_CONFIG)")
	// `mcplink completion bash|zsh|fish|powershell` is cobra's default
	// command; the dynamic completions are in completion.go.

	root.AddCommand(
		NewCmdList(f, nil),
		NewCmdTools(f, nil),
		NewCmdCall(f, nil),
		NewCmdResources(f, nil),
		NewCmdPrompts(f, nil),
		NewCmdAdd(f, nil),
		NewCmdRemove(f, nil),
		NewCmdDemo(f, nil),
		NewCmdServe(f, nil),
		NewCmdProxy(f, nil),
		NewCmdTUI(f, nil),
		NewCmdTrust(f, nil),
		NewCmdConfig(f, nil),
		NewCmdImport(f, nil),
		NewCmdInstall(f),
		NewCmdUninstall(f),
		newCmdTestServer(f),
	)
	addAuthCommands(root, f)
	addCompletions(root, f)
	return root
}

// exactArgs is cobra.ExactArgs with a usage exit code.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s: expected %s, got %d argument(s) (see 'mcplink %s --help')", cmd.Name(), what, len(args), cmd.Name())
		}
		return nil
	}
}

func rangeArgs(min, max int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			return usageError("%s: expected %s, got %d argument(s) (see 'mcplink %s --help')", cmd.Name(), what, len(args), cmd.Name())
		}
		return nil
	}
}
