package manager_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/manager"
)

// nextEvent returns the next event of server name, bounded.
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

// TestAdd: a server added to a running manager connects (its tools work,
// its events flow to existing subscribers), replaces a server of the same
// name (ending its process group), and a disabled or untrusted entry is
// reported without connecting.
func TestAdd(t *testing.T) {
	web := startHTTP(t, mcptest.HTTPOptions{})
	other := startHTTP(t, mcptest.HTTPOptions{})
	m := newManager(t, manager.Options{}, remote("web", web.URL))
	events, cancel := m.Subscribe(64)
	defer cancel()
	ctx := context.Background()

	// A new local server, its process recorded.
	pidFile := filepath.Join(t.TempDir(), "pid")
	tree := local(t, "tree", mcptest.ModeGrandchild)
	tree.Environment[mcptest.EnvPIDFile] = pidFile
	st, err := m.Add(ctx, "tree", tree)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, st, manager.StatusConnected)
	if st.Transport != manager.TransportStdio || len(st.Command) != 2 {
		t.Fatalf("added state = %+v", st)
	}
	for _, want := range []manager.Status{manager.StatusConnecting, manager.StatusConnected} {
		if ev := nextEvent(t, events, "tree"); ev.Kind != manager.EventStatus || ev.State.Status != want {
			t.Fatalf("event %+v, want %s", ev, want)
		}
	}
	checkTools(t, m, "tree")
	if e, ok := m.Entry("tree"); !ok || e != tree {
		t.Fatalf("Entry(tree) = %v, %v", e, ok)
	}
	if names := stateNames(m); !slices.Equal(names, []string{"tree", "web"}) {
		t.Fatalf("States = %v", names)
	}
	// Tool list changes of the added server are events too.
	if _, err := m.CallTool(ctx, "tree", "grow", map[string]any{"name": "fresh"}); err != nil {
		t.Fatal(err)
	}
	for {
		ev := nextEvent(t, events, "tree")
		if ev.Kind == manager.EventTools && slices.Contains(toolNames(ev.State.Tools), "fresh") {
			break
		}
	}
	pid := mcptest.ReadPID(t, pidFile)

	// Replacing the local server with a remote one ends its process group
	// before Add returns.
	st, err = m.Add(ctx, "tree", remote("tree", other.URL))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, st, manager.StatusConnected)
	if st.URL != other.URL || st.Type != config.TypeRemote || st.Command != nil || st.Transport != manager.TransportStreamable {
		t.Fatalf("replaced state = %+v", st)
	}
	if !mcptest.Gone(pid) {
		t.Fatalf("the replaced server's grandchild %d still runs", pid)
	}
	checkTools(t, m, "tree")

	// A configured server replaced by a disabled entry: disconnected, one
	// event, Connect refuses it.
	if st, _ := m.Connect(ctx, "web"); st.Status != manager.StatusConnected {
		t.Fatalf("web = %+v", st)
	}
	drain(events)
	off := remote("web", other.URL)
	off.Enabled = false
	st, err = m.Add(ctx, "web", off)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, st, manager.StatusDisabled)
	if ev := nextEvent(t, events, "web"); ev.State.Status != manager.StatusDisabled || ev.State.URL != other.URL {
		t.Fatalf("event after adding a disabled entry = %+v", ev)
	}
	if _, err := m.Connect(ctx, "web"); !errors.Is(err, manager.ErrDisabled) {
		t.Fatalf("Connect of the disabled replacement = %v", err)
	}
	if _, err := m.Tools(ctx, "web"); !errors.Is(err, manager.ErrDisabled) {
		t.Fatalf("Tools of the disabled replacement = %v", err)
	}

	// An untrusted entry is never started.
	ue := &config.Entry{Name: "proj", Untrusted: &config.UntrustedError{File: "/p/mcplink.json"}}
	st, err = m.Add(ctx, "proj", ue)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, st, manager.StatusUntrusted)
	if _, err := m.Connect(ctx, "proj"); !errors.Is(err, config.ErrUntrusted) {
		t.Fatalf("Connect of an untrusted added server = %v", err)
	}

	if _, err := m.Add(ctx, "", remote("x", web.URL)); err == nil {
		t.Fatal("Add without a name succeeded")
	}
	if _, err := m.Add(ctx, "x", nil); err == nil {
		t.Fatal("Add without an entry succeeded")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Add(ctx, "late", remote("late", web.URL)); !errors.Is(err, manager.ErrClosed) {
		t.Fatalf("Add after Close = %v", err)
	}
}

// TestAddConcurrent: Adds of one name racing with Connect, Disconnect,
// States and other Adds (run with -race) leave the server in the state of
// the entry that won, connected to its URL, with no connection left over.
func TestAddConcurrent(t *testing.T) {
	srv := []*mcptest.HTTPServer{startHTTP(t, mcptest.HTTPOptions{}), startHTTP(t, mcptest.HTTPOptions{})}
	m := newManager(t, manager.Options{}, remote("web", srv[0].URL))
	events, cancel := m.Subscribe(1)
	defer cancel()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			e := remote("web", srv[i%2].URL)
			e.Enabled = i%4 != 3
			if _, err := m.Add(ctx, "web", e); err != nil {
				t.Errorf("Add %d: %v", i, err)
			}
		})
		wg.Go(func() {
			_, _ = m.Connect(ctx, "web") // may find a disabled entry
			_ = m.Disconnect("web")
			_ = m.States()
		})
		wg.Go(func() {
			name := fmt.Sprintf("new%d", i)
			st, err := m.Add(ctx, name, remote(name, srv[i%2].URL))
			if err != nil || st.Status != manager.StatusConnected {
				t.Errorf("Add %s = %+v, %v", name, st, err)
			}
		})
	}
	wg.Wait()
	drain(events)
	e, ok := m.Entry("web")
	if !ok {
		t.Fatal("web is gone")
	}
	st, err := m.Connect(ctx, "web")
	switch {
	case !e.Enabled:
		if !errors.Is(err, manager.ErrDisabled) || st.Status != manager.StatusDisabled {
			t.Fatalf("web (disabled entry) = %+v, %v", st, err)
		}
	case err != nil || st.Status != manager.StatusConnected || st.URL != e.URL:
		t.Fatalf("web = %+v, %v; entry URL %s", st, err, e.URL)
	default:
		checkTools(t, m, "web")
	}
	if n := len(m.States()); n != 9 {
		t.Fatalf("%d servers, want 9", n)
	}
	for i := range 8 {
		checkTools(t, m, fmt.Sprintf("new%d", i))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for range events { // Close closed it: this ends
	}
}

func stateNames(m *manager.Manager) []string {
	var out []string
	for _, st := range m.States() {
		out = append(out, st.Name)
	}
	return out
}

// drain empties events without waiting.
func drain(events <-chan manager.Event) {
	for {
		select {
		case <-events:
		default:
			return
		}
	}
}
