//go:build unix

package manager_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcplink/mcplink/manager"
)

// TestLocalEnvFileFIFO: an envFile that is a named pipe fails the server
// at once; it is never opened for a read that would wait for a writer.
func TestLocalEnvFileFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, ".env")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	m := newManager(t, manager.Options{}, envReporter(t, "s", out, fifo))
	done := make(chan manager.State, 1)
	go func() {
		st, _ := m.Connect(context.Background(), "s")
		done <- st
	}()
	select {
	case st := <-done:
		wantStatus(t, st, manager.StatusFailed)
		if want := "env file " + fifo + ` of server "s" is a named pipe (FIFO), not a regular file`; !strings.HasPrefix(st.Error, want) {
			t.Errorf("error = %q, want it to start with %q", st.Error, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("starting a server whose envFile is a FIFO blocked")
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the server was started")
	}
}
