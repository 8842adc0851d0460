//go:build unix

package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// lockDir takes an exclusive flock(2) on dir, the edited file's directory, so
// that edits by several mcplink processes (add, remove, the TUI's enable
// toggle) apply one after another instead of one losing the other's change.
// Locking the directory leaves no lock file beside the user's config. A
// directory that does not exist yet needs no lock (unlock is a no-op).
func lockDir(dir string) (unlock func(), err error) {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock config directory: %w", err)
	}
	for {
		err = syscall.Flock(int(d.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.ENOLCK) || errors.Is(err, syscall.EOPNOTSUPP) {
		// A file system without locks (some NFS mounts): edit unlocked, as
		// the atomic write still never leaves a broken file.
		d.Close()
		return func() {}, nil
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("lock config directory %s: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
		d.Close()
	}, nil
}
