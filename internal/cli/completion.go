package cli

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/termtext"
	"github.com/mcplink/mcplink/manager"
)

// Shell completion. `mcplink completion bash|zsh|fish|powershell` is cobra's
// generator; the scripts call the hidden `mcplink __complete ARGS...`, which
// runs the ValidArgsFunctions below.
//
// Server names come from the loaded config only: no network, no prompt, no
// credential store, so completing stays instant and silent. A server of an
// untrusted project file is offered by name alone (its entry was never read).
// Tool names after `call <server>` (and prompt names, resource URIs after
// `prompts`/`resources <server>`) need the server: that one connection is
// bounded by completionTimeout, and any failure completes nothing.

// completionTimeout bounds the connection made to complete tool names.
const completionTimeout = 3 * time.Second

// serverArgCommand reports whether the command named name takes a server
// name as its first argument, and whether only remote (OAuth) servers fit.
func serverArgCommand(name string) (takesServer, remoteOnly bool) {
	switch name {
	case "auth", "logout":
		return true, true
	case "tools", "call", "proxy", "debug", "resources", "prompts", "remove":
		return true, false
	}
	return false, false
}

// addCompletions sets the completion of server (and tool) names on the
// commands of root that take them, leaving any completion a command already
// has. It keeps the commands' own files free of completion code.
func addCompletions(root *cobra.Command, f *Factory) {
	for _, c := range root.Commands() {
		ok, remoteOnly := serverArgCommand(c.Name())
		if !ok || c.ValidArgsFunction != nil {
			continue
		}
		switch c.Name() {
		case "call":
			c.ValidArgsFunction = completeServerThen(f, listToolNames)
			continue
		case "prompts":
			c.ValidArgsFunction = completeServerThen(f, listPromptNames)
			continue
		case "resources":
			c.ValidArgsFunction = completeServerThen(f, listResourceURIs)
			continue
		}
		c.ValidArgsFunction = completeServers(f, remoteOnly)
	}
}

func completeServers(f *Factory, remoteOnly bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return serverNames(f, remoteOnly, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// serverNames returns the configured servers starting with prefix, each
// with a short description (its type; "untrusted" for a server of an
// untrusted project file).
func serverNames(f *Factory, remoteOnly bool, prefix string) []cobra.Completion {
	f.noPrompt = true // completing never asks (VS Code inputs of a --config file)
	cfg, err := f.Config()
	if err != nil || cfg == nil {
		return nil
	}
	var out []cobra.Completion
	for _, name := range cfg.Names() {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		e := cfg.Servers[name]
		var desc string
		switch {
		case e == nil:
		case e.Untrusted != nil:
			desc = "untrusted project server (see mcplink trust)"
		case remoteOnly && e.Type != config.TypeRemote:
			continue
		case !e.Enabled:
			desc = e.Type + ", disabled"
		default:
			desc = e.Type
		}
		out = append(out, cobra.CompletionWithDesc(completionWord(name), desc))
	}
	return out
}

// completionWord keeps a name that a shell would split or act on from
// breaking the completion protocol (one candidate per line, tab before the
// description).
func completionWord(s string) string {
	return strings.NewReplacer("\t", " ", "\n", " ").Replace(termtext.Line(s))
}

// completeServerThen completes a server name, then (second argument) what
// list returns from that server — one connection, bounded by
// completionTimeout — then nothing (key=value pairs).
func completeServerThen(f *Factory, list func(context.Context, *manager.Manager, string) ([][2]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			return serverNames(f, false, toComplete), cobra.ShellCompDirectiveNoFileComp
		case 1:
			return fromServer(cmd.Context(), f, args[0], toComplete, list), cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// fromServer connects to server (within completionTimeout, with stored
// credentials only, never signing in) and returns the names list gives
// that start with prefix, with their descriptions; nil on any failure.
func fromServer(ctx context.Context, f *Factory, server, prefix string, list func(context.Context, *manager.Manager, string) ([][2]string, error)) []cobra.Completion {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	f.noPrompt = true
	m, closeM, err := f.connectOne(ctx, server, completionTimeout)
	if err != nil {
		return nil
	}
	defer closeM()
	items, err := list(ctx, m, server)
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, it := range items {
		if strings.HasPrefix(it[0], prefix) {
			out = append(out, cobra.CompletionWithDesc(completionWord(it[0]), completionWord(oneLine(it[1]))))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Listers for completeServerThen: tool names (call), prompt names (prompts),
// resource URIs (resources).
func listToolNames(ctx context.Context, m *manager.Manager, server string) ([][2]string, error) {
	tools, err := m.Tools(ctx, server)
	var out [][2]string
	for _, t := range tools {
		out = append(out, [2]string{t.Name, t.Description})
	}
	return out, err
}

func listPromptNames(ctx context.Context, m *manager.Manager, server string) ([][2]string, error) {
	ps, err := m.Prompts(ctx, server)
	var out [][2]string
	for _, p := range ps {
		out = append(out, [2]string{p.Name, p.Description})
	}
	return out, err
}

func listResourceURIs(ctx context.Context, m *manager.Manager, server string) ([][2]string, error) {
	rs, _, err := m.Resources(ctx, server)
	var out [][2]string
	for _, r := range rs {
		out = append(out, [2]string{r.URI, r.Name})
	}
	return out, err
}
