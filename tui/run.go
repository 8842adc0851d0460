package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/term"
)

// ErrNotTerminal means the dashboard was started without a terminal.
var ErrNotTerminal = errors.New("mcplink tui needs a terminal; use 'mcplink list' for scripts")

// RunOptions are the terminal streams for Run.
type RunOptions struct {
	In  io.Reader
	Out io.Writer
	// Env is the environment (TERM, COLORTERM, ...) for terminal detection;
	// nil means the process environment.
	Env []string
}

// Run shows the dashboard until the user quits or ctx ends. Every running
// command is cancelled and a sign-in in progress abandoned before it returns;
// closing the backend (which stops the servers) is the caller's job.
func Run(ctx context.Context, b Backend, opts Options, ro RunOptions) error {
	if !IsTerminal(ro.Out) {
		return ErrNotTerminal
	}
	m := New(b, opts)
	popts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithInput(ro.In), tea.WithOutput(ro.Out)}
	if ro.Env != nil {
		popts = append(popts, tea.WithEnvironment(ro.Env))
	}
	if opts.NoColor {
		popts = append(popts, tea.WithColorProfile(colorprofile.Ascii))
	}
	p := tea.NewProgram(m, popts...)
	_, err := p.Run()
	m.Shutdown()
	if err != nil {
		if errors.Is(err, tea.ErrInterrupted) || (errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil) {
			return nil // interrupted: a clean exit
		}
		return fmt.Errorf("running the dashboard: %w", err)
	}
	return nil
}

// IsTerminal reports whether w is a terminal the dashboard can draw on.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}
