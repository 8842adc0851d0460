package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/mcplink/mcplink/authstore"
)

// signInLockRetry is how often a process waiting for another one's sign-in
// tries the lock again.
const signInLockRetry = 100 * time.Millisecond

// signInLock is the per-server file lock that lets one mcplink process at a
// time sign in to a server, so that proxies started together (a client
// starting its servers, or two clients) run one browser sign-in instead of
// one each: the others wait, then find the credentials the first stored.
type signInLock struct {
	path string
	// waiting is called (once per acquire) when another process holds
	// the lock.
	waiting func()
	// warn reports a lock that cannot be used (an unwritable data
	// directory, say): signing in goes on without it.
	warn func(error)
}

// newSignInLock returns the lock for server name in f's data directory
// (<data dir>/locks/<name>.lock), or nil when there is no data directory.
func newSignInLock(f *Factory, name string, waiting func()) *signInLock {
	dir := authstore.DefaultDir(f.Getenv, f.HomeDir)
	if dir == "" {
		return nil
	}
	return &signInLock{
		path:    filepath.Join(dir, "locks", lockFileName(name)+".lock"),
		waiting: waiting,
		warn: func(err error) {
			f.diag("mcplink proxy: warning: %v; signing in without it (other mcplink processes may sign in at the same time)", err)
		},
	}
}

// lockFileName maps a server name to a file name: the name itself when it
// is made of letters, digits, '.', '_' and '-' (and does not start with
// '.'), else those characters with a hash of the name appended, so two
// names never share a lock file.
func lockFileName(name string) string {
	safe := name != "" && !strings.HasPrefix(name, ".")
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
			safe = false
		}
	}
	if safe && len(b) <= 100 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	s := strings.TrimLeft(string(b), ".")
	if len(s) > 60 {
		s = s[:60]
	}
	return s + "-" + hex.EncodeToString(sum[:4])
}

// acquire takes the lock, waiting (within ctx) while another process holds
// it, and returns the function that releases it. It fails only with ctx's
// error: a lock that cannot be used is reported through warn and treated as
// taken. A nil lock is always free.
func (l *signInLock) acquire(ctx context.Context) (release func(), err error) {
	nop := func() {}
	if l == nil {
		return nop, nil
	}
	unusable := func(err error) (func(), error) {
		if l.warn != nil {
			l.warn(err)
		}
		return nop, nil
	}
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return unusable(fmt.Errorf("creating the sign-in lock directory: %w", err))
	}
	// A fresh Flock per acquire: flock.Flock tracks "locked" per value.
	fl := flock.New(l.path, flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return unusable(fmt.Errorf("sign-in lock %s: %w", l.path, err))
	}
	if !ok {
		if l.waiting != nil {
			l.waiting()
		}
		ok, err = fl.TryLockContext(ctx, signInLockRetry)
		if ctx.Err() != nil {
			if ok {
				_ = fl.Unlock()
			}
			return nil, ctx.Err()
		}
		if !ok || err != nil {
			if err == nil {
				err = errors.New("lock not acquired")
			}
			return unusable(fmt.Errorf("sign-in lock %s: %w", l.path, err))
		}
	}
	return func() { _ = fl.Unlock() }, nil
}
