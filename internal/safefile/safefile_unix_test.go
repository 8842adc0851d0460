//go:build unix

package safefile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/safefile"
)

// readBounded runs ReadRegular and fails the test if it blocks.
func readBounded(t *testing.T, path string, max int64) ([]byte, error) {
	t.Helper()
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() { b, err := safefile.ReadRegular(path, max); ch <- res{b, err} }()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-time.After(5 * time.Second):
		t.Fatalf("ReadRegular(%s) blocked", path)
		return nil, nil
	}
}

func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", 101)), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := filepath.Join(dir, "ok")
	if err := os.WriteFile(ok, []byte(strings.Repeat("x", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, kind string
	}{
		{fifo, "a named pipe (FIFO)"},
		{link, "a named pipe (FIFO)"},
		{"/dev/zero", "a device"},
		{dir, "a directory"},
	} {
		_, err := readBounded(t, tc.path, 100)
		var nr *safefile.NotRegularError
		if !errors.As(err, &nr) || safefile.Kind(nr.Mode) != tc.kind || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: err = %v, want a NotRegularError naming it %s", tc.path, err, tc.kind)
		}
	}
	var tl *safefile.TooLargeError
	if _, err := readBounded(t, big, 100); !errors.As(err, &tl) || tl.Limit != 100 {
		t.Errorf("101 bytes over a 100 byte bound: err = %v", err)
	}
	if b, err := readBounded(t, ok, 100); err != nil || len(b) != 100 {
		t.Errorf("100 bytes within the bound: %d, %v", len(b), err)
	}
	if _, err := readBounded(t, filepath.Join(dir, "missing"), 100); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
}
