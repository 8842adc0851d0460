package tui

import (
	"context"
	"testing"
	"time"
)

// A disabled server shows no auth state (the details pane has no Auth
// line), as in `mcplink list`; enabling it brings the state back.
func TestDisabledServerHasNoAuthState(t *testing.T) {
	e := newEnv(t, []string{"true"}, nil)
	b := e.backend(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if st, ok, err := b.AuthStatus(ctx, "protected"); err != nil || !ok || st.State == "" {
		t.Fatalf("enabled: %+v ok %t err %v", st, ok, err)
	}
	if _, err := b.SetEnabled(ctx, "protected", false); err != nil {
		t.Fatal(err)
	}
	if st, ok, err := b.AuthStatus(ctx, "protected"); err != nil || ok {
		t.Errorf("disabled: %+v ok %t err %v, want no auth state", st, ok, err)
	}
	if _, err := b.SetEnabled(ctx, "protected", true); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := b.AuthStatus(ctx, "protected"); err != nil || !ok {
		t.Errorf("enabled again: ok %t err %v", ok, err)
	}
}
