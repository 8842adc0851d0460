//go:build unix

package authstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCredentialsFIFOIsAnErrorAtOnce: a FIFO where credentials.json belongs
// fails every operation at once — no read blocks waiting for a writer —
// with an error naming the file and the fix, and the FIFO is neither read,
// moved aside nor replaced. Auto store selection does not block on it
// either.
func TestCredentialsFIFOIsAnErrorAtOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, fileName)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	s, n := newTestStore(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ops := map[string]func() error{
		"Load": func() error { _, err := s.Load(ctx, "x"); return err },
		"List": func() error { _, err := s.List(ctx); return err },
		"Update": func() error {
			return s.Update(ctx, "x", func(*Credentials) (*Credentials, error) {
				return &Credentials{ServerURL: "https://example.com/mcp"}, nil
			})
		},
		"Delete": func() error { return s.Delete(ctx, "x") },
	}
	for name, op := range ops {
		done := make(chan error, 1)
		go func() { done <- op() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s blocked on a FIFO", name)
		}
		var nr *NotRegularError
		if !errors.As(err, &nr) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: err = %v, want a *NotRegularError", name, err)
		}
		for _, want := range []string{path, "named pipe (FIFO)", "remove it", "MCPLINK_DATA_DIR"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q lacks %q", name, err, want)
			}
		}
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v, %v", fi, err)
	}
	if ents, _ := filepath.Glob(path + corruptInfix + "*"); len(ents) > 0 {
		t.Fatalf("the FIFO was moved aside: %v", ents)
	}
	if len(n.msgs) > 0 {
		t.Errorf("notices: %v", n.msgs)
	}
	done := make(chan bool, 1)
	go func() { done <- fileHasEntries(dir) }()
	select {
	case has := <-done:
		if has {
			t.Error("fileHasEntries: a FIFO holds entries")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("fileHasEntries blocked on a FIFO")
	}
}

// TestLockFileFIFOIsAnErrorAtOnce: a FIFO at credentials.json.lock would
// block the lock library's open; every operation that locks fails at once
// naming it instead.
func TestLockFileFIFOIsAnErrorAtOnce(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, fileName+lockSuffix)
	if err := syscall.Mkfifo(lock, 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := newTestStore(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, "x", func(*Credentials) (*Credentials, error) {
			return &Credentials{ServerURL: "https://example.com/mcp"}, nil
		})
	}()
	select {
	case err := <-done:
		var nr *NotRegularError
		if !errors.As(err, &nr) || !strings.Contains(err.Error(), "lock file "+lock+" is a named pipe (FIFO)") {
			t.Fatalf("Update: err = %v, want a NotRegularError naming the lock file", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Update blocked on a FIFO lock file")
	}
	if _, err := os.Stat(filepath.Join(dir, fileName)); err == nil {
		t.Error("credentials were written without the lock")
	}
}
