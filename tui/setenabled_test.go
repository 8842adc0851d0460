package tui

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/manager"
)

// TestSetEnabledReplacesServer: SetEnabled replaces the server in the
// backend's one manager (manager.Add). Enabling a running local server ends
// its process group before SetEnabled returns and connects the server again
// with a new process; disabling ends it; the other servers keep their
// connections; and the replaced server's events keep arriving on Events,
// which Close closes.
func TestSetEnabledReplacesServer(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	e := newEnv(t, []string{exe}, map[string]string{mcptest.EnvChild: mcptest.ModeGrandchild, mcptest.EnvPIDFile: pidFile})
	b := e.backend(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range []string{"local", "demo"} {
		if st, err := b.Connect(ctx, name); err != nil || st.Status != manager.StatusConnected {
			t.Fatalf("Connect(%s) = %+v, %v", name, st, err)
		}
	}
	pid1 := mcptest.ReadPID(t, pidFile)
	if mcptest.Gone(pid1) {
		t.Fatalf("grandchild %d of the running server is gone", pid1)
	}
	// The connects' own events come first: up to local's connected.
	waitStatus(t, b.Events(), "local", manager.StatusConnected)
	// The next server writes the file anew before it answers initialize.
	if err := os.Remove(pidFile); err != nil {
		t.Fatal(err)
	}

	st, err := b.SetEnabled(ctx, "local", true)
	if err != nil || st.Status != manager.StatusConnected || len(st.Tools) == 0 {
		t.Fatalf("SetEnabled(local, true) = %+v, %v; want connected with tools", st, err)
	}
	if !mcptest.Gone(pid1) {
		t.Fatalf("the replaced server's grandchild %d still runs", pid1)
	}
	pid2 := mcptest.ReadPID(t, pidFile)
	if pid2 == pid1 || mcptest.Gone(pid2) {
		t.Fatalf("new grandchild %d (old %d) is not running", pid2, pid1)
	}
	for _, want := range []manager.Status{manager.StatusConnecting, manager.StatusConnected} {
		if ev := nextEvent(t, b.Events(), "local"); ev.State.Status != want {
			t.Fatalf("event %+v, want %s", ev, want)
		}
	}
	if st := stateOf(t, b, "demo"); st.Status != manager.StatusConnected {
		t.Fatalf("demo after toggling local: %+v", st)
	}

	st, err = b.SetEnabled(ctx, "local", false)
	if err != nil || st.Status != manager.StatusDisabled {
		t.Fatalf("SetEnabled(local, false) = %+v, %v; want disabled", st, err)
	}
	if !mcptest.Gone(pid2) {
		t.Fatalf("the disabled server's grandchild %d still runs", pid2)
	}
	if ev := nextEvent(t, b.Events(), "local"); ev.State.Status != manager.StatusDisabled {
		t.Fatalf("event %+v, want disabled", ev)
	}
	if _, err := b.Connect(ctx, "local"); !errors.Is(err, manager.ErrDisabled) {
		t.Fatalf("Connect of the disabled server = %v", err)
	}
	if cfg, err := e.load(); err != nil || cfg.Servers["local"].Enabled {
		t.Fatalf("config after disabling: %v", err)
	}

	if err := os.Remove(pidFile); err != nil {
		t.Fatal(err)
	}
	if st, err := b.SetEnabled(ctx, "local", true); err != nil || st.Status != manager.StatusConnected {
		t.Fatalf("SetEnabled(local, true) again = %+v, %v", st, err)
	}
	pid3 := mcptest.ReadPID(t, pidFile)
	if st := stateOf(t, b, "demo"); st.Status != manager.StatusConnected {
		t.Fatalf("demo after toggling local: %+v", st)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !mcptest.Gone(pid3) {
		t.Fatalf("grandchild %d still runs after Close", pid3)
	}
	for range b.Events() { // Close closed it: this ends
	}
	if _, err := b.SetEnabled(ctx, "local", false); !errors.Is(err, ErrBackendClosed) {
		t.Fatalf("SetEnabled after Close = %v", err)
	}
}

// nextEvent returns the next event of server name on events, bounded.
func nextEvent(t *testing.T, events <-chan manager.Event, name string) manager.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("events closed")
			}
			if ev.Server == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("no event of %s", name)
		}
	}
}

// waitStatus reads events until one reports server name with status.
func waitStatus(t *testing.T, events <-chan manager.Event, name string, status manager.Status) {
	t.Helper()
	for nextEvent(t, events, name).State.Status != status {
	}
}

func stateOf(t *testing.T, b Backend, name string) manager.State {
	t.Helper()
	for _, st := range b.States() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no state of %s", name)
	return manager.State{}
}

// TestToggleOffWhileEnabling: enabling a server connects it inside
// SetEnabled; while that connect hangs, the row shows it connecting and e
// disables the server again, as for any connect. The superseded enable
// reports nothing.
func TestToggleOffWhileEnabling(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, []string{exe}, map[string]string{mcptest.EnvChild: mcptest.ModeHang})
	h := newHarness(t, e.backend(t, nil), Options{})
	h.until("off disabled", 10*time.Second, func() bool { return h.status("off") == manager.StatusDisabled })
	h.selectServer("off")
	h.press("e")
	if h.m.busy["off"] != "saving" {
		t.Fatalf("busy = %v, want off saving", h.m.busy)
	}
	h.until("off connecting", 10*time.Second, func() bool {
		return h.status("off") == manager.StatusConnecting && h.m.busy["off"] == "connecting"
	})
	if _, word := h.m.dot(manager.State{Name: "off", Status: manager.StatusConnecting}); word != "connecting" {
		t.Fatalf("off shows %q while connecting", word)
	}
	h.press("e")
	h.until("both toggles answered", 40*time.Second, func() bool { return h.seen["tui.enabledMsg"] == 2 })
	if h.status("off") != manager.StatusDisabled || h.m.message != "Disabled off (config updated)" || h.m.msgErr {
		t.Fatalf("off %s, message %q (error %v); want disabled", h.status("off"), h.m.message, h.m.msgErr)
	}
	if _, busy := h.m.busy["off"]; busy {
		t.Fatalf("busy = %v", h.m.busy)
	}
	if cfg, err := e.load(); err != nil || cfg.Servers["off"].Enabled {
		t.Fatalf("config: off still enabled (%v)", err)
	}
}
