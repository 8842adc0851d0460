package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/mcplink/mcplink/internal/termtext"
)

// ErrPickCanceled is returned by Pick when the user leaves without choosing.
var ErrPickCanceled = errors.New("nothing chosen")

// PickItem is one choice of Pick: a label and a dimmer hint beside it
// (such as a server's authentication state).
type PickItem struct {
	Label, Hint string
}

// Pick asks the user at a terminal to choose one of items, like opencode's
// `mcp auth` prompt: ↑/↓ (or k/j) move, Enter chooses, Esc, q or Ctrl+C
// leaves (ErrPickCanceled). It draws inline (no alternate screen), leaves
// the question and the answer on the terminal, and returns the index.
func Pick(ctx context.Context, title string, items []PickItem, ro RunOptions) (int, error) {
	if len(items) == 0 {
		return -1, ErrPickCanceled
	}
	if !IsTerminal(ro.Out) {
		return -1, ErrNotTerminal
	}
	m := NewPicker(title, items)
	popts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithInput(ro.In), tea.WithOutput(ro.Out), tea.WithColorProfile(colorprofile.Ascii)}
	if ro.Env != nil {
		popts = append(popts, tea.WithEnvironment(ro.Env))
	}
	if _, err := tea.NewProgram(m, popts...).Run(); err != nil {
		if errors.Is(err, tea.ErrInterrupted) || errors.Is(err, tea.ErrProgramKilled) {
			return -1, ErrPickCanceled
		}
		return -1, fmt.Errorf("asking which server: %w", err)
	}
	return m.Chosen()
}

// Picker is Pick's model, exported so its keys can be tested without a
// terminal.
type Picker struct {
	title  string
	items  []PickItem
	cursor int
	chosen int
	done   bool
}

// NewPicker returns the model for items (at least one).
func NewPicker(title string, items []PickItem) *Picker {
	return &Picker{title: title, items: items, chosen: -1}
}

// Chosen returns the index chosen, or ErrPickCanceled.
func (p *Picker) Chosen() (int, error) {
	if p.chosen < 0 {
		return -1, ErrPickCanceled
	}
	return p.chosen, nil
}

// Init implements tea.Model.
func (p *Picker) Init() tea.Cmd { return nil }

// Update implements tea.Model.
func (p *Picker) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok || p.done {
		return p, nil
	}
	switch k.String() {
	case "up", "k", "shift+tab":
		p.cursor = (p.cursor - 1 + len(p.items)) % len(p.items)
	case "down", "j", "tab":
		p.cursor = (p.cursor + 1) % len(p.items)
	case "home", "g":
		p.cursor = 0
	case "end", "G":
		p.cursor = len(p.items) - 1
	case "enter", "space":
		p.chosen, p.done = p.cursor, true
		return p, tea.Quit
	case "esc", "q", "ctrl+c":
		p.done = true
		return p, tea.Quit
	}
	return p, nil
}

// View implements tea.Model.
func (p *Picker) View() tea.View { return tea.NewView(p.Render()) }

// Render returns the prompt as text (labels and hints cleaned of control
// characters: server names come from config files).
func (p *Picker) Render() string {
	var b strings.Builder
	b.WriteString("? " + termtext.Line(p.title))
	if p.done {
		if p.chosen >= 0 {
			b.WriteString(" " + termtext.Line(p.items[p.chosen].Label))
		}
		b.WriteString("\n")
		return b.String()
	}
	b.WriteString("  (↑/↓ move, Enter choose, Esc cancel)\n")
	w := 0
	for _, it := range p.items {
		w = max(w, len([]rune(termtext.Line(it.Label))))
	}
	for i, it := range p.items {
		mark := "  "
		if i == p.cursor {
			mark = "> "
		}
		label := termtext.Line(it.Label)
		line := mark + label
		if it.Hint != "" {
			line += strings.Repeat(" ", w-len([]rune(label))+2) + termtext.Line(it.Hint)
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}
