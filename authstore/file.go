package authstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/mcplink/mcplink/internal/atomicfile"
	"github.com/mcplink/mcplink/internal/paths"
	"github.com/mcplink/mcplink/internal/safefile"
)

// File names inside the store directory.
const (
	fileName      = "credentials.json"
	lockSuffix    = ".lock"
	corruptInfix  = ".corrupt-"
	formatVersion = 1

	// maxFileSize bounds how much of a credentials file is read; anything
	// larger is treated as corrupt rather than loaded into memory.
	maxFileSize = 16 << 20
	// lockRetryDelay is how often a busy file lock is retried.
	lockRetryDelay = 5 * time.Millisecond
)

// ErrCorrupt is matched (errors.Is) by errors about a credentials file that
// cannot be parsed. Such errors are *CorruptError values.
var ErrCorrupt = errors.New("corrupt credentials file")

// ErrUnsupportedVersion is matched (errors.Is) by errors about a credentials
// file written by a newer mcplink. Such errors are *VersionError values.
var ErrUnsupportedVersion = errors.New("unsupported credentials file version")

// CorruptError reports a credentials file that cannot be parsed. Its message
// names the file and never includes the file's contents.
type CorruptError struct {
	Path string // the credentials file
	// Reason describes what is wrong without quoting file contents.
	Reason string
}

// Error names the file and the problem, never the file's contents.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("credentials file %s is corrupt (%s); the next credential update moves it aside; or remove it and log in again", e.Path, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// VersionError reports a credentials file with a format version this build
// does not understand. The file is never overwritten.
type VersionError struct {
	Path    string // the credentials file
	Version int    // the format version it holds
}

// Error names the file, its version and the fix.
func (e *VersionError) Error() string {
	return fmt.Sprintf("credentials file %s has format version %d, newer than this mcplink supports (%d); upgrade mcplink or point MCPLINK_DATA_DIR elsewhere", e.Path, e.Version, formatVersion)
}

// Is makes errors.Is(err, ErrUnsupportedVersion) true.
func (e *VersionError) Is(target error) bool { return target == ErrUnsupportedVersion }

// NotRegularError reports a credentials file path that holds something
// other than a regular file (a FIFO, a device, a directory). The store
// neither reads it (a FIFO would block) nor replaces it.
type NotRegularError struct {
	// What names the file: "credentials file" (when empty) or "lock file".
	What string
	Path string
	Mode fs.FileMode // what it is (safefile.Kind words it)
}

// Error names the file, what it is and the fix.
func (e *NotRegularError) Error() string {
	what := e.What
	if what == "" {
		what = "credentials file"
	}
	return fmt.Sprintf("%s %s is %s, not a regular file; remove it (mcplink creates a new one) or point MCPLINK_DATA_DIR elsewhere",
		what, e.Path, safefile.Kind(e.Mode))
}

// checkLockFile refuses a lock file path that holds anything but a regular
// file: the lock library opens it for reading, which blocks on a FIFO.
func checkLockFile(path string) error {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return &NotRegularError{What: "lock file", Path: path, Mode: fi.Mode()}
	}
	return nil
}

// FileOptions configures a FileStore.
type FileOptions struct {
	// Dir is the directory holding credentials.json; see DefaultDir.
	Dir string
	// Notify, if set, receives one-line notices meant for the user, such as
	// a corrupt file being moved aside. Notices never contain secrets.
	Notify func(msg string)
	// Now, if set, replaces time.Now (for UpdatedAt stamps and names of
	// moved-aside files).
	Now func() time.Time
}

// FileStore is a Store backed by <Dir>/credentials.json. The file is created
// 0600, replaced atomically (temp file + fsync + rename + directory fsync) and
// every read-modify-write happens under an exclusive lock on
// <Dir>/credentials.json.lock, so several processes can share it.
type FileStore struct {
	dir  string
	path string
	docs docStore[struct{}]
}

var (
	_ Store                = (*FileStore)(nil)
	_ docBackend[struct{}] = (*FileStore)(nil)
)

// DefaultDir returns the data directory: $MCPLINK_DATA_DIR, else
// $XDG_DATA_HOME/mcplink (when absolute, as the XDG spec requires), else
// <home>/.local/share/mcplink — on every OS, Windows included (see
// internal/paths). It returns "" when none can be determined.
func DefaultDir(getenv func(string) string, home string) string {
	return paths.DataDir(runtime.GOOS, getenv, home)
}

// NewFileStore opens (creating if needed, mode 0700) the store directory.
// An existing directory keeps its mode; if it is writable by group or others
// a notice is sent, since others could replace the credentials file.
func NewFileStore(opts FileOptions) (*FileStore, error) {
	dir, err := makeDataDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	s := &FileStore{dir: dir, path: filepath.Join(dir, fileName)}
	s.docs = newDocStore[struct{}](s, dir, opts.Notify, opts.Now)
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("authstore: data directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("authstore: data directory %s is not a directory", dir)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o022 != 0 {
		s.docs.notify(fmt.Sprintf("warning: credentials directory %s is writable by other users (mode %#o); fix with: chmod 700 %s", dir, fi.Mode().Perm(), dir))
	}
	return s, nil
}

// Path returns the path of the credentials file.
func (s *FileStore) Path() string { return s.path }

// Load returns the credentials stored under name, or ErrNotFound.
func (s *FileStore) Load(ctx context.Context, name string) (*Credentials, error) {
	return s.docs.load(ctx, name)
}

// List returns every stored entry by name.
func (s *FileStore) List(ctx context.Context) (map[string]*Credentials, error) {
	return s.docs.list(ctx)
}

// Delete removes name's entry; deleting an absent entry is not an error.
func (s *FileStore) Delete(ctx context.Context, name string) error {
	return s.docs.delete(ctx, name)
}

// Update performs a read-modify-write of name's entry under the exclusive
// lock. fn sees the entry as currently on disk (nil when absent) and returns
// the new entry, or nil to delete it; an error from fn is returned unchanged
// and nothing is written. The stored entry's UpdatedAt is set to now.
//
// A corrupt file is moved aside to credentials.json.corrupt-<timestamp>
// (with a notice) and the update continues on an empty store; a file of an
// unknown future version makes Update fail without touching it.
func (s *FileStore) Update(ctx context.Context, name string, fn func(cur *Credentials) (*Credentials, error)) error {
	return s.docs.update(ctx, name, fn)
}

func (s *FileStore) where() string { return s.path }

// mayExist is false when there is no credentials file, so a pure read does
// not create the lock file.
func (s *FileStore) mayExist() bool {
	_, err := os.Stat(s.path)
	return !errors.Is(err, fs.ErrNotExist)
}

func (s *FileStore) prepareUpdate() { s.removeStaleTemps() }

// read parses the credentials file; a missing or empty file is an empty
// store. Anything but a regular file is a *NotRegularError at once (opening
// a FIFO would block until a writer came) and is left as it is. Callers
// hold a lock.
func (s *FileStore) read(context.Context) (*document, struct{}, error) {
	f, _, err := safefile.OpenRegular(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return newDoc(), struct{}{}, nil
	}
	if nr := (*safefile.NotRegularError)(nil); errors.As(err, &nr) {
		return nil, struct{}{}, &NotRegularError{Path: s.path, Mode: nr.Mode}
	}
	if err != nil {
		return nil, struct{}{}, fmt.Errorf("authstore: read credentials: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, struct{}{}, fmt.Errorf("authstore: read credentials %s: %w", s.path, err)
	}
	if len(data) > maxFileSize {
		return nil, struct{}{}, &CorruptError{Path: s.path, Reason: fmt.Sprintf("larger than %d bytes", maxFileSize)}
	}
	doc, err := parseDocument(data, s.path)
	return doc, struct{}{}, err
}

// moveAside renames a corrupt file out of the way so it is never silently
// overwritten. Callers hold the exclusive lock.
func (s *FileStore) moveAside(_ context.Context, _ struct{}, now time.Time) (notice string, err error) {
	stamp := now.UTC().Format("20060102T150405Z")
	dst := s.path + corruptInfix + stamp
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if i > 1000 {
			return "", fmt.Errorf("authstore: cannot find a free name to move corrupt %s aside", s.path)
		}
		dst = fmt.Sprintf("%s%s%s-%d", s.path, corruptInfix, stamp, i)
	}
	if err := os.Rename(s.path, dst); err != nil {
		return "", fmt.Errorf("authstore: move corrupt credentials file aside: %w", err)
	}
	return fmt.Sprintf("credentials file %s was corrupt; moved it to %s and started an empty store", s.path, dst), nil
}

// removeStaleTemps deletes temp files left by a writer that died mid-write.
// Only lock holders create temp files, so under the lock any are stale.
func (s *FileStore) removeStaleTemps() {
	matches, _ := filepath.Glob(atomicfile.TempGlob(s.path))
	for _, m := range matches {
		_ = os.Remove(m)
	}
}

// write atomically replaces the credentials file with doc (0600 from the
// temp file's creation on). Callers hold the exclusive lock. It takes no
// context: a started write is always finished.
func (s *FileStore) write(_ context.Context, doc *document, _ struct{}) error {
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("authstore: encode credentials: %w", err)
	}
	if err := atomicfile.Write(s.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("authstore: %w", err)
	}
	return nil
}
