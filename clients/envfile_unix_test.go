//go:build unix

package clients

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEnvFileFIFO: an envFile that is a named pipe is refused at once,
// never opened for a read that would wait for a writer.
func TestEnvFileFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, ".env"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan *Result, 1)
	go func() {
		res, _ := Read(filepath.Join(dir, ".vscode", "mcp.json"), []byte(`{"servers": {"s": {"command": "x", "envFile": "${workspaceFolder}/.env"}}}`), Vars{})
		done <- res
	}()
	select {
	case res := <-done:
		if res == nil || !strings.Contains(res.Skipped["s"], "named pipe (FIFO)") {
			t.Fatalf("FIFO envFile: %+v", res)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading a FIFO envFile blocked")
	}
}
