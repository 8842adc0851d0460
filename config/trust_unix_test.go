//go:build unix

package config

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTrustFileFIFO: a FIFO in place of the trust file is refused at once,
// not waited on.
func TestTrustFileFIFO(t *testing.T) {
	ts := NewTrustStore(t.TempDir())
	if err := syscall.Mkfifo(ts.Path(), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := ts.Check(filepath.Join(t.TempDir(), "mcplink.json"), nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Check blocked on a FIFO trust file")
	}
}
