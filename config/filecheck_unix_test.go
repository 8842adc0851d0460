//go:build unix

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bounded runs f and fails the test if it does not return within 5 s.
func bounded(t *testing.T, what string, f func() error) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s blocked", what)
		return nil
	}
}

func mkfifo(t *testing.T, p string) {
	t.Helper()
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLoadRefusesFIFOsAndDevices: a FIFO or a device as the config file —
// named with --config, or found as a project's mcplink.json — is an error at
// once naming the file and what it is; add leaves a FIFO in place; a
// {file:...} naming a FIFO fails without blocking.
func TestLoadRefusesFIFOsAndDevices(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	mkfifo(t, fifo)
	for _, tc := range []struct{ path, kind string }{
		{fifo, "a named pipe (FIFO)"},
		{"/dev/zero", "a device"},
	} {
		err := bounded(t, "Load "+tc.path, func() error { _, err := Load(LoadOptions{File: tc.path}); return err })
		want := tc.path + ": config file is " + tc.kind + ", not a regular file; point to a regular file"
		if err == nil || err.Error() != want || !errors.Is(err, ErrInvalid) {
			t.Errorf("err = %v, want %s", err, want)
		}
	}

	err := bounded(t, "AddEntry on a FIFO", func() error {
		return AddEntry(fifo, "x", &Entry{Type: TypeRemote, URL: "https://example.com/mcp"}, false)
	})
	if err == nil || !strings.Contains(err.Error(), "named pipe") {
		t.Errorf("AddEntry on a FIFO: err = %v", err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v %v", fi, err)
	}

	proj := filepath.Join(dir, "proj")
	if err := os.MkdirAll(proj, 0o755); err != nil {
		t.Fatal(err)
	}
	mkfifo(t, filepath.Join(proj, "mcplink.json"))
	err = bounded(t, "Load of a project FIFO", func() error { _, err := Load(LoadOptions{WorkDir: proj}); return err })
	if err == nil || !strings.Contains(err.Error(), filepath.Join(proj, "mcplink.json")+": config file is a named pipe") {
		t.Errorf("project FIFO: err = %v", err)
	}

	secret := filepath.Join(dir, "secret")
	mkfifo(t, secret)
	cfg := filepath.Join(dir, "subst.json")
	body := `{"mcp": {"s": {"type": "remote", "url": "https://example.com/mcp", "headers": {"Authorization": "Bearer {file:` + secret + `}"}}}}`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	err = bounded(t, "{file:FIFO}", func() error { _, err := Load(LoadOptions{File: cfg}); return err })
	if err == nil || !strings.Contains(err.Error(), secret+" is a named pipe (FIFO), not a regular file") {
		t.Errorf("{file:FIFO}: err = %v", err)
	}
}
