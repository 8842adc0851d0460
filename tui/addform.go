package tui

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/huh/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/mcplink/mcplink/config"
)

// AddAnswers are the answers of the guided `mcplink add`.
type AddAnswers struct {
	Name string
	// Kind is "remote" or "local".
	Kind string
	// URL is the remote server's URL; Command the local server's command
	// line, split on spaces (quotes are not interpreted).
	URL, Command string
	// Auth is "oauth" (automatic), "header" (Header sent on every request,
	// OAuth off) or "none" (OAuth off).
	Auth   string
	Header string
	// Global: the global config file rather than the project's.
	Global bool
}

// AskAdd asks, at a terminal, for what `mcplink add` needs: the name,
// local or remote, the command or URL, and for a remote server OAuth or a
// header — a short form like opencode's `mcp add`. Esc or Ctrl+C leaves
// with ErrPickCanceled. validName checks the name (e.g. not taken).
func AskAdd(ctx context.Context, ro RunOptions, validName func(string) error) (*AddAnswers, error) {
	if !IsTerminal(ro.Out) {
		return nil, ErrNotTerminal
	}
	a := &AddAnswers{Kind: "remote", Auth: "oauth"}
	scope := "project"
	f := huh.NewForm(
		huh.NewGroup(
			huh.NewInput().Title("Server name").Value(&a.Name).Validate(func(s string) error {
				if strings.TrimSpace(s) == "" {
					return errors.New("a name is required")
				}
				if validName != nil {
					return validName(strings.TrimSpace(s))
				}
				return nil
			}),
			huh.NewSelect[string]().Title("Type").Value(&a.Kind).Options(
				huh.NewOption("remote: a URL (Streamable HTTP or SSE)", "remote"),
				huh.NewOption("local: a command speaking MCP on stdio", "local")),
			huh.NewSelect[string]().Title("Save in").Value(&scope).Options(
				huh.NewOption("this project's mcplink.json", "project"),
				huh.NewOption("the global mcplink.json", "global")),
		),
		huh.NewGroup(
			huh.NewInput().Title("URL").Placeholder("https://mcp.example.com/mcp").Value(&a.URL).Validate(checkURL),
			huh.NewSelect[string]().Title("Authentication").Value(&a.Auth).Options(
				huh.NewOption("OAuth (discovered automatically; sign in with mcplink auth)", "oauth"),
				huh.NewOption("a header (API key or token)", "header"),
				huh.NewOption("none", "none")),
		).WithHideFunc(func() bool { return a.Kind != "remote" }),
		huh.NewGroup(
			huh.NewInput().Title("Header").Placeholder("Authorization: Bearer {env:API_TOKEN}").Value(&a.Header).Validate(checkHeader),
		).WithHideFunc(func() bool { return a.Kind != "remote" || a.Auth != "header" }),
		huh.NewGroup(
			huh.NewInput().Title("Command").Placeholder("npx -y @modelcontextprotocol/server-filesystem /tmp").Value(&a.Command).Validate(func(s string) error {
				if len(strings.Fields(s)) == 0 {
					return errors.New("a command is required")
				}
				return nil
			}),
		).WithHideFunc(func() bool { return a.Kind != "local" }),
	).WithInput(ro.In).WithOutput(ro.Out).WithShowHelp(true).
		WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii))
	if ro.Env != nil {
		f = f.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii), tea.WithEnvironment(ro.Env))
	}
	if err := f.RunWithContext(ctx); err != nil {
		if errors.Is(err, huh.ErrUserAborted) || errors.Is(err, tea.ErrInterrupted) || errors.Is(err, context.Canceled) {
			return nil, ErrPickCanceled
		}
		return nil, fmt.Errorf("asking for the server: %w", err)
	}
	a.Name, a.URL, a.Header = strings.TrimSpace(a.Name), strings.TrimSpace(a.URL), strings.TrimSpace(a.Header)
	a.Global = scope == "global"
	return a, nil
}

func checkURL(s string) error {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("an http(s) URL, e.g. https://mcp.example.com/mcp")
	}
	return nil
}

func checkHeader(s string) error {
	if _, _, err := config.SplitHeader(s); err != nil {
		return errors.New(`a header "Name: value", e.g. "Authorization: Bearer {env:API_TOKEN}"`)
	}
	return nil
}
