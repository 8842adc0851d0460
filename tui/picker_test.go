package tui

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

func TestPickerKeys(t *testing.T) {
	items := []PickItem{{Label: "alpha", Hint: "needs sign-in"}, {Label: "beta\x1b[31m", Hint: "expired"}, {Label: "gamma"}}
	p := NewPicker("Sign in to which server?", items)
	send := func(keys ...string) {
		for _, k := range keys {
			p.Update(keyPress(k))
		}
	}
	if !regexp.MustCompile(`(?m)^> alpha +needs sign-in$`).MatchString(p.Render()) {
		t.Fatalf("first item not selected:\n%s", p.Render())
	}
	if strings.Contains(p.Render(), "\x1b") {
		t.Fatal("a control character from a label reached the terminal")
	}
	send("down", "down", "down") // wraps to the first
	send("j", "up", "k", "k")    // 1, 0, 2, 1
	send("enter")
	if i, err := p.Chosen(); err != nil || i != 1 {
		t.Fatalf("Chosen = %d, %v; want 1", i, err)
	}
	if r := p.Render(); !strings.HasPrefix(r, "? Sign in to which server? beta") || strings.Contains(r, "gamma") {
		t.Fatalf("after choosing:\n%s", r)
	}
	send("down") // ignored once done
	if i, _ := p.Chosen(); i != 1 {
		t.Fatal("a key after the choice changed it")
	}

	for _, k := range []string{"esc", "q", "ctrl+c"} {
		p := NewPicker("x", items)
		p.Update(keyPress("down"))
		_, cmd := p.Update(keyPress(k))
		if _, err := p.Chosen(); !errors.Is(err, ErrPickCanceled) || cmd == nil {
			t.Errorf("%s: err %v, quit %v", k, err, cmd != nil)
		}
	}
	if _, cmd := NewPicker("x", items).Update(tea.WindowSizeMsg{Width: 10, Height: 3}); cmd != nil {
		t.Error("a non-key message quit the picker")
	}
}

func TestPickNeedsTerminal(t *testing.T) {
	if _, err := Pick(context.Background(), "x", []PickItem{{Label: "a"}}, RunOptions{In: strings.NewReader(""), Out: &bytes.Buffer{}}); !errors.Is(err, ErrNotTerminal) {
		t.Fatalf("err = %v", err)
	}
	if _, err := Pick(context.Background(), "x", nil, RunOptions{}); !errors.Is(err, ErrPickCanceled) {
		t.Fatalf("no items: err = %v", err)
	}
}
