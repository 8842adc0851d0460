//go:build unix

package manager_test

// Process-group behaviour of local servers on Unix (proc_unix.go). The
// Windows job object (proc_windows.go) is only compiled here: there is no
// Windows runner.

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/manager"
)

func TestLocalServerDiesWhileConnected(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	e := local(t, "tree", mcptest.ModeGrandchild)
	e.Environment[mcptest.EnvPIDFile] = pidFile
	m := newManager(t, manager.Options{}, e)
	events, cancel := m.Subscribe(8)
	defer cancel()
	st, _ := m.Connect(context.Background(), "tree")
	wantStatus(t, st, manager.StatusConnected)
	// Kill the server (not the grandchild) from outside.
	cs, _ := m.Session("tree")
	_ = cs
	if err := syscall.Kill(-pgidOf(t, pidFile), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.State.Status == manager.StatusFailed {
				if !strings.Contains(ev.State.Error, "killed by signal") {
					t.Fatalf("error = %q", ev.State.Error)
				}
				return
			}
		case <-deadline:
			t.Fatal("no failed event after the server died")
		}
	}
}

// pgidOf returns the process group of the grandchild recorded in pidFile,
// which is the server's group.
func pgidOf(t *testing.T, pidFile string) int {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	pgid, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatal(err)
	}
	return pgid
}
