package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/internal/fix"
	"github.com/mcplink/mcplink/internal/termtext"
	"github.com/mcplink/mcplink/manager"
)

// ToolsOptions are the options of `mcplink tools`.
type ToolsOptions struct {
	IO         *IOStreams
	Config     configFunc
	Diag       diagFunc
	NewManager newManagerFunc

	Server  string
	JSON    bool
	Timeout time.Duration
}

// NewCmdTools builds `mcplink tools`.
func NewCmdTools(f *Factory, runF func(context.Context, *ToolsOptions) error) *cobra.Command {
	opts := &ToolsOptions{IO: f.IO, Config: f.Config, Diag: f.diag, NewManager: f.newManager}
	cmd := &cobra.Command{
		Use:   "tools [server]",
		Short: "List tools with their descriptions and input schemas",
		Long: `List the tools of one server, or of every connected server when no name is given,
with their descriptions and input schemas, and whether a tool may or must be called as a
task (its execution.taskSupport).`,
		Args: rangeArgs(0, 1, "at most one server name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Server = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return toolsRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON: an object of server name to tool list")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 0, "how long to wait for each server to connect and list its tools (default: its \"timeout\", 30s)")
	return cmd
}

type toolJSON struct {
	Name        string `json:"name"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	InputSchema any    `json:"inputSchema,omitempty"`
	// TaskSupport is the tool's execution.taskSupport: forbidden (also
	// when it declares nothing, as the spec says), optional or required.
	TaskSupport manager.TaskSupport `json:"taskSupport"`
}

func toolsRun(ctx context.Context, opts *ToolsOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	m, _, closeM, err := opts.NewManager(cfg, opts.Timeout)
	if err != nil {
		return err
	}
	defer closeM()

	var states []manager.State
	if opts.Server != "" {
		if _, err := cfg.Lookup(opts.Server); err != nil {
			return usageError("%w", err)
		}
		st, err := m.Connect(ctx, opts.Server)
		if err != nil && st.Status == "" {
			return err
		}
		if st.Status != manager.StatusConnected {
			return notConnectedError(st)
		}
		states = []manager.State{st}
	} else {
		for _, st := range m.ConnectAll(ctx) {
			if st.Status == manager.StatusConnected {
				states = append(states, st)
			} else if st.Status != manager.StatusDisabled {
				opts.Diag("%s: %s%s", st.Name, st.Status, errSuffix(stateError(st)))
			}
		}
	}

	byServer := map[string][]toolJSON{}
	var names []string
	for _, st := range states {
		tools, err := m.Tools(ctx, st.Name)
		if err != nil {
			return fmt.Errorf("%s: listing tools: %w", st.Name, err)
		}
		list := make([]toolJSON, 0, len(tools))
		for _, t := range tools {
			list = append(list, toolJSON{Name: t.Name, Title: t.Title, Description: t.Description, InputSchema: t.InputSchema,
				TaskSupport: m.TaskSupport(st.Name, t.Name)})
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
		byServer[st.Name] = list
		names = append(names, st.Name)
	}
	if opts.JSON {
		return writeJSON(opts.IO.Out, byServer)
	}
	sort.Strings(names)
	// Everything below is the servers' text: one line per tool, no
	// terminal controls (termtext); --json above keeps it exact.
	w := opts.IO.Out
	for i, name := range names {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s (%d tools)\n", termtext.Line(name), len(byServer[name]))
		for _, t := range byServer[name] {
			fmt.Fprintf(w, "  %s", termtext.Line(t.Name))
			if t.Description != "" {
				fmt.Fprintf(w, " — %s", termtext.Line(oneLine(t.Description)))
			}
			fmt.Fprintln(w)
			if args := schemaSummary(t.InputSchema); args != "" {
				fmt.Fprintf(w, "      args: %s\n", termtext.Line(args))
			}
			// One of manager's constants, not the server's text. Forbidden
			// (the default) says nothing.
			switch t.TaskSupport {
			case manager.TaskOptional:
				fmt.Fprintln(w, "      tasks: optional")
			case manager.TaskRequired:
				fmt.Fprintln(w, "      tasks: required (mcplink does not make task-based calls yet)")
			}
		}
	}
	return nil
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return ": " + e
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

// schemaSummary renders an object schema's properties as
// `name:type [enum|values] (required)`.
func schemaSummary(schema any) string {
	m := schemaMap(schema)
	if m == nil {
		return ""
	}
	props, _ := m["properties"].(map[string]any)
	if len(props) == 0 {
		return ""
	}
	required := map[string]bool{}
	if req, ok := m["required"].([]any); ok {
		for _, r := range req {
			if s, ok := r.(string); ok {
				required[s] = true
			}
		}
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		typ := "any"
		if p, ok := props[k].(map[string]any); ok {
			if t, ok := p["type"].(string); ok {
				typ = t
			}
		}
		part := k + ":" + typ + enumSuffix(props[k])
		if required[k] {
			part += " (required)"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}

// schemaMap returns a tool input schema as a generic map.
func schemaMap(schema any) map[string]any {
	switch s := schema.(type) {
	case nil:
		return nil
	case map[string]any:
		return s
	default:
		b, err := json.Marshal(s)
		if err != nil {
			return nil
		}
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			return nil
		}
		return m
	}
}

// notConnectedError explains why a server can't be used and how to fix it.
func notConnectedError(st manager.State) error {
	switch st.Status {
	case manager.StatusNeedsAuth:
		switch {
		case fix.Hint(st.Err, fix.CLI) != "":
			return errors.New(stateError(st)) // it says why and names the fix
		case st.Error != "":
			return fmt.Errorf("server %q needs authentication (%s): run 'mcplink auth %s'", st.Name, st.Error, st.Name)
		}
		return fmt.Errorf("server %q needs authentication: run 'mcplink auth %s'", st.Name, st.Name)
	case manager.StatusDisabled:
		return fmt.Errorf("server %q is disabled: set \"enabled\": true on its entry in the config", st.Name)
	case manager.StatusNeedsClientRegistration:
		return fmt.Errorf("server %q needs a client registration: %s", st.Name, stateError(st))
	default:
		return fmt.Errorf("server %q %s%s", st.Name, st.Status, errSuffix(stateError(st)))
	}
}
