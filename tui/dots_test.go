package tui

import (
	"testing"

	"github.com/mcplink/mcplink/manager"
)

// TestStatusDots: each status gets its colour (green connected, amber
// needs_auth, red failed and needs_client_registration, grey disabled) and
// its word beside the dot; a connecting server gets the spinner, whose frame
// advances on the animation tick.
func TestStatusDots(t *testing.T) {
	_, h := setup(t, nil, Options{})
	m := h.m
	s := m.styles
	for _, tc := range []struct {
		status manager.Status
		want   string
		word   string
	}{
		{manager.StatusConnected, s.green.Render("●"), "connected"},
		{manager.StatusNeedsAuth, s.amber.Render("●"), "needs auth"},
		{manager.StatusFailed, s.red.Render("●"), "failed"},
		{manager.StatusNeedsClientRegistration, s.red.Render("●"), ""},
		{manager.StatusDisabled, s.grey.Render("○"), "disabled"},
	} {
		dot, word := m.dot(manager.State{Name: "x", Status: tc.status})
		if dot != tc.want {
			t.Errorf("%s: dot %q, want %q", tc.status, dot, tc.want)
		}
		if tc.word != "" && word != tc.word {
			t.Errorf("%s: word %q, want %q", tc.status, word, tc.word)
		}
	}
	if s.green.Render("●") == s.red.Render("●") || s.amber.Render("●") == s.green.Render("●") {
		t.Fatal("the status colours render alike")
	}

	connecting := manager.State{Name: "x", Status: manager.StatusConnecting}
	first, _ := m.dot(connecting)
	if first != s.amber.Render(spinnerFrames[m.frame%len(spinnerFrames)]) {
		t.Fatalf("connecting dot %q, want the spinner", first)
	}
	m.tickID++
	m.ticking = true
	m.Update(tickMsg{id: m.tickID})
	if next, _ := m.dot(connecting); next == first {
		t.Fatalf("the spinner did not advance on the tick: %q", next)
	}
}
