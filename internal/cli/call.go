package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/internal/termtext"
	"github.com/mcplink/mcplink/manager"
)

// CallOptions are the options of `mcplink call`.
type CallOptions struct {
	IO         *IOStreams
	Config     configFunc
	NewManager newManagerFunc

	Server   string
	Tool     string
	Pairs    []string // key=value
	ArgsJSON string
	JSON     bool
	// Timeout bounds the wait for the tool's result; when given on the
	// command line (TimeoutSet) it is also the connect timeout.
	Timeout    time.Duration
	TimeoutSet bool
	// Progress shows progress on stderr even when it is not a terminal;
	// NoValidate skips the argument check (progress.go, validate.go).
	Progress   bool
	NoValidate bool
}

// defaultCallTimeout is how long `mcplink call` waits for a tool's result.
const defaultCallTimeout = 2 * time.Minute

// NewCmdCall builds `mcplink call`.
func NewCmdCall(f *Factory, runF func(context.Context, *CallOptions) error) *cobra.Command {
	opts := &CallOptions{IO: f.IO, Config: f.Config, NewManager: f.newManager}
	cmd := &cobra.Command{
		Use:   "call <server> <tool> [key=value ...]",
		Short: "Call a tool and print its result",
		Long: `Call a tool on a server and print its content: text parts as they are, and a
one-line note for every non-text part (images, audio, resources).

Arguments come from key=value pairs and/or --args JSON (pairs win). A value is
taken as a string when the tool's schema says the property is a string, and
otherwise parsed as JSON when it is valid JSON (numbers, true/false, objects).

The arguments are checked against the tool's input schema before the call is
sent: a missing required argument, an unknown one, a wrong type or a value
outside an enum is a usage error (exit 2) naming the argument (--no-validate
sends them unchecked).

Progress the server reports is shown on stderr when it is a terminal (or
always with --progress). Ctrl-C cancels the call (notifications/cancelled)
and exits with status 130.

A tool result with isError exits with status 1.`,
		Example: `  mcplink call demo add a=2 b=3
  mcplink call demo echo text='hello world'
  mcplink call github search_issues --args '{"query": "is:open label:bug"}'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError("call: expected <server> <tool> [key=value ...] (see 'mcplink call --help')")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server, opts.Tool, opts.Pairs = args[0], args[1], args[2:]
			opts.TimeoutSet = cmd.Flags().Changed("timeout")
			if opts.Timeout <= 0 {
				return usageError("--timeout must be positive")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return whenInterrupted(cmd.Context(), callRun(cmd.Context(), opts))
		},
	}
	cmd.Flags().StringVar(&opts.ArgsJSON, "args", "", "tool arguments as a JSON object")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the raw CallToolResult as JSON")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", defaultCallTimeout, "how long to wait for the tool's result; when given, also for the server to connect (else its \"timeout\", 30s)")
	addCallFlags(cmd, opts)
	return cmd
}

func callRun(ctx context.Context, opts *CallOptions) error {
	args := map[string]any{}
	if opts.ArgsJSON != "" {
		if err := json.Unmarshal([]byte(opts.ArgsJSON), &args); err != nil {
			return usageError("--args must be a JSON object: %v", err)
		}
	}
	for _, p := range opts.Pairs {
		if k, _, ok := strings.Cut(p, "="); !ok || k == "" {
			return usageError("argument %q is not key=value (use --args for JSON)", p)
		}
	}
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	if _, err := cfg.Lookup(opts.Server); err != nil {
		return usageError("%w", err)
	}
	var connectTimeout time.Duration // the entry's
	if opts.TimeoutSet {
		connectTimeout = opts.Timeout
	}
	m, _, closeM, err := opts.NewManager(cfg, connectTimeout)
	if err != nil {
		return err
	}
	defer closeM()
	st, err := m.Connect(ctx, opts.Server)
	if st.Status != manager.StatusConnected {
		if st.Status == "" && err != nil {
			return err
		}
		return notConnectedError(st)
	}
	var schema map[string]any
	tools, err := m.Tools(ctx, opts.Server)
	if err != nil {
		return fmt.Errorf("%s: listing tools: %w", opts.Server, err)
	}
	found := false
	for _, t := range tools {
		if t.Name == opts.Tool {
			found = true
			schema = schemaMap(t.InputSchema)
		}
	}
	if !found {
		names := make([]string, 0, len(tools))
		for _, t := range tools {
			names = append(names, t.Name)
		}
		return usageError("server %q has no tool %q (its tools: %s)", opts.Server, opts.Tool, strings.Join(names, ", "))
	}
	if m.TaskSupport(opts.Server, opts.Tool) == manager.TaskRequired {
		// The manager refuses it too; said before the arguments are checked.
		return &manager.TaskRequiredError{Server: opts.Server, Tool: opts.Tool}
	}
	for _, p := range opts.Pairs {
		k, v, _ := strings.Cut(p, "=")
		args[k] = parseArgValue(schema, k, v)
	}
	if !opts.NoValidate {
		if err := validateArgs(schema, opts.Server, opts.Tool, args); err != nil {
			return err
		}
	}

	cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	res, err := callTool(cctx, opts.IO, m, opts.Server, opts.Tool, args, opts.Progress)
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return err // interrupted
		}
		if errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("calling %s on %s: no result within %s (the call was cancelled); pass --timeout to wait longer", opts.Tool, opts.Server, opts.Timeout)
		}
		if h := limitHint(err, opts.Server); h != "" {
			return fmt.Errorf("calling %s on %s: %w; %s", opts.Tool, opts.Server, err, h)
		}
		return fmt.Errorf("calling %s on %s: %w", opts.Tool, opts.Server, err)
	}
	if opts.JSON {
		if err := writeJSON(opts.IO.Out, res); err != nil {
			return err
		}
	} else {
		printContent(opts.IO, res)
	}
	if res.IsError {
		return &exitError{code: ExitError, err: fmt.Errorf("tool %s on %s returned an error: %w", opts.Tool, opts.Server, errReported)}
	}
	return nil
}

// parseArgValue turns the text of key=value into a JSON value, guided by the schema.
func parseArgValue(schema map[string]any, key, v string) any {
	if props, ok := schema["properties"].(map[string]any); ok {
		if p, ok := props[key].(map[string]any); ok {
			if t, _ := p["type"].(string); t == "string" {
				return v
			}
		}
	}
	var x any
	if err := json.Unmarshal([]byte(v), &x); err == nil {
		return x
	}
	return v
}

// printContent prints a tool result for a person. The text is the server's:
// it goes out without terminal controls (termtext); --json keeps it exact.
func printContent(ios *IOStreams, res *mcp.CallToolResult) {
	w := ios.Out
	if res.IsError {
		w = ios.ErrOut
	}
	w = termtext.Writer(w)
	for _, c := range res.Content {
		printOneContent(w, c)
	}
	if len(res.Content) == 0 && res.StructuredContent != nil {
		b, _ := json.MarshalIndent(res.StructuredContent, "", "  ")
		fmt.Fprintln(w, string(b))
	}
}
