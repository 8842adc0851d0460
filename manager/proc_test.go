package manager_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/manager"
)

// TestCloseKillsProcessGroup: closing or disconnecting a local server ends
// the processes it started too (its process group on Unix, its job object
// on Windows; gone is per OS). It runs here on Linux; on Windows it is only
// compiled (no Windows runner).
func TestCloseKillsProcessGroup(t *testing.T) {
	for _, how := range []string{"close", "disconnect"} {
		t.Run(how, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			e := local(t, "tree", mcptest.ModeGrandchild)
			e.Environment[mcptest.EnvPIDFile] = pidFile
			m := newManager(t, manager.Options{}, e)
			st, _ := m.Connect(context.Background(), "tree")
			wantStatus(t, st, manager.StatusConnected)
			pid := mcptest.ReadPID(t, pidFile)
			if mcptest.Gone(pid) {
				t.Fatal("grandchild not running before close")
			}
			start := time.Now()
			var err error
			if how == "close" {
				err = m.Close()
			} else {
				err = m.Disconnect("tree")
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("%s took %v", how, d)
			}
			if !mcptest.Gone(pid) {
				t.Fatalf("grandchild %d survived %s", pid, how)
			}
		})
	}
}
