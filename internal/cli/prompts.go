package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/internal/termtext"
)

// PromptsOptions are the options of `mcplink prompts`.
type PromptsOptions struct {
	IO         *IOStreams
	ConnectOne connectOneFunc

	Server  string
	Prompt  string   // empty: list
	Pairs   []string // key=value
	JSON    bool
	Timeout time.Duration
}

// NewCmdPrompts builds `mcplink prompts`.
func NewCmdPrompts(f *Factory, runF func(context.Context, *PromptsOptions) error) *cobra.Command {
	opts := &PromptsOptions{IO: f.IO, ConnectOne: f.connectOne}
	cmd := &cobra.Command{
		Use:   "prompts <server> [name] [key=value ...]",
		Short: "List a server's prompts, or render one",
		Long: `Without a name, list the prompts of a server with their arguments.
With one, get that prompt rendered with the key=value arguments given and
print its messages, each under its role.`,
		Example: `  mcplink prompts docs
  mcplink prompts docs summarize topic=oauth`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return usageError("prompts: expected <server> [name] [key=value ...] (see 'mcplink prompts --help')")
			}
			if len(args) > 2 && args[1] == "" {
				return usageError("prompts: arguments need a prompt name")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server = args[0]
			if len(args) > 1 {
				opts.Prompt, opts.Pairs = args[1], args[2:]
			}
			for _, p := range opts.Pairs {
				if k, _, ok := strings.Cut(p, "="); !ok || k == "" {
					return usageError("argument %q is not key=value", p)
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return whenInterrupted(cmd.Context(), promptsRun(cmd.Context(), opts))
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON: the prompt list, or the GetPromptResult")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 0, "connect timeout")
	return cmd
}

func promptsRun(ctx context.Context, opts *PromptsOptions) error {
	m, closeM, err := opts.ConnectOne(ctx, opts.Server, opts.Timeout)
	if err != nil {
		return err
	}
	defer closeM()
	if opts.Prompt == "" {
		ps, err := m.Prompts(ctx, opts.Server)
		if err != nil {
			return unsupported(err)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
		if opts.JSON {
			if ps == nil {
				ps = []*mcp.Prompt{}
			}
			return writeJSON(opts.IO.Out, ps)
		}
		w := opts.IO.Out
		fmt.Fprintf(w, "%s (%d prompts)\n", termtext.Line(opts.Server), len(ps))
		for _, p := range ps {
			fmt.Fprintf(w, "  %s", termtext.Line(p.Name))
			if p.Description != "" {
				fmt.Fprintf(w, " — %s", termtext.Line(oneLine(p.Description)))
			}
			fmt.Fprintln(w)
			if len(p.Arguments) > 0 {
				parts := make([]string, 0, len(p.Arguments))
				for _, a := range p.Arguments {
					s := a.Name
					if a.Required {
						s += " (required)"
					}
					parts = append(parts, s)
				}
				fmt.Fprintf(w, "      args: %s\n", termtext.Line(strings.Join(parts, ", ")))
			}
		}
		return nil
	}

	args := map[string]string{}
	for _, p := range opts.Pairs {
		k, v, _ := strings.Cut(p, "=")
		args[k] = v
	}
	// Check required arguments first: a clear error naming them beats
	// whatever the server answers.
	ps, err := m.Prompts(ctx, opts.Server)
	if err != nil {
		return unsupported(err)
	}
	var prompt *mcp.Prompt
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		names = append(names, p.Name)
		if p.Name == opts.Prompt {
			prompt = p
		}
	}
	if prompt == nil {
		sort.Strings(names)
		return usageError("server %q has no prompt %q (its prompts: %s)", opts.Server, opts.Prompt, termtext.Line(strings.Join(names, ", ")))
	}
	var missing []string
	for _, a := range prompt.Arguments {
		if _, ok := args[a.Name]; a.Required && !ok {
			missing = append(missing, a.Name)
		}
	}
	if len(missing) > 0 {
		return usageError("prompt %s needs %s: pass %s=VALUE", opts.Prompt, strings.Join(missing, ", "), missing[0])
	}
	res, err := m.GetPrompt(ctx, opts.Server, opts.Prompt, args)
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(opts.IO.Out, res)
	}
	w := termtext.Writer(opts.IO.Out)
	if res.Description != "" {
		fmt.Fprintf(w, "# %s\n", termtext.Line(res.Description))
	}
	for i, msg := range res.Messages {
		if i > 0 || res.Description != "" {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "[%s]\n", termtext.Line(string(msg.Role)))
		printOneContent(w, msg.Content)
	}
	return nil
}

// printOneContent prints one content part of a tool result or a prompt
// message for people: text as it is, other kinds as a one-line note
// pointing at --json. w strips terminal controls.
func printOneContent(w io.Writer, c mcp.Content) {
	switch c := c.(type) {
	case *mcp.TextContent:
		fmt.Fprintln(w, c.Text)
	case *mcp.ImageContent:
		fmt.Fprintf(w, "[image: %s, %d bytes; use --json to get it]\n", c.MIMEType, len(c.Data))
	case *mcp.AudioContent:
		fmt.Fprintf(w, "[audio: %s, %d bytes; use --json to get it]\n", c.MIMEType, len(c.Data))
	case *mcp.ResourceLink:
		fmt.Fprintf(w, "[resource link: %s]\n", c.URI)
	case *mcp.EmbeddedResource:
		if c.Resource != nil && c.Resource.Text != "" {
			fmt.Fprintln(w, c.Resource.Text)
		} else if c.Resource != nil {
			fmt.Fprintf(w, "[resource: %s; use --json to get it]\n", c.Resource.URI)
		}
	default:
		fmt.Fprintf(w, "[%T content; use --json to get it]\n", c)
	}
}
