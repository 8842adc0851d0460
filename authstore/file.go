package authstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// File names inside the store directory.
const (
	fileName      = "credentials.json"
	lockSuffix    = ".lock"
	tmpInfix      = ".tmp-"
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
	Path string
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
	Path    string
	Version int
}

// Error names the file, its version and the fix.
func (e *VersionError) Error() string {
	return fmt.Sprintf("credentials file %s has format version %d, newer than this mcplink supports (%d); upgrade mcplink or point MCPLINK_DATA_DIR elsewhere", e.Path, e.Version, formatVersion)
}

// Is makes errors.Is(err, ErrUnsupportedVersion) true.
func (e *VersionError) Is(target error) bool { return target == ErrUnsupportedVersion }

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
	dir    string
	path   string
	lock   string
	notify func(string)
	now    func() time.Time
	// sem serializes writers inside this process so they queue on a channel
	// instead of polling the file lock.
	sem chan struct{}
}

var _ Store = (*FileStore)(nil)

// DefaultDir returns the data directory: $MCPLINK_DATA_DIR, else
// $XDG_DATA_HOME/mcplink (when absolute, as the XDG spec requires), else
// <home>/.local/share/mcplink. It returns "" when none can be determined.
func DefaultDir(getenv func(string) string, home string) string {
	if d := getenv("MCPLINK_DATA_DIR"); d != "" {
		return d
	}
	if x := getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "mcplink")
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "share", "mcplink")
}

// NewFileStore opens (creating if needed, mode 0700) the store directory.
// An existing directory keeps its mode; if it is writable by group or others
// a notice is sent, since others could replace the credentials file.
func NewFileStore(opts FileOptions) (*FileStore, error) {
	if opts.Dir == "" {
		return nil, errors.New("authstore: no data directory: set MCPLINK_DATA_DIR or HOME")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("authstore: data directory %q: %w", opts.Dir, err)
	}
	s := &FileStore{
		dir:    dir,
		path:   filepath.Join(dir, fileName),
		lock:   filepath.Join(dir, fileName+lockSuffix),
		notify: opts.Notify,
		now:    opts.Now,
		sem:    make(chan struct{}, 1),
	}
	if s.notify == nil {
		s.notify = func(string) {}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("authstore: create data directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("authstore: data directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("authstore: data directory %s is not a directory", dir)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o022 != 0 {
		s.notify(fmt.Sprintf("warning: credentials directory %s is writable by other users (mode %#o); fix with: chmod 700 %s", dir, fi.Mode().Perm(), dir))
	}
	return s, nil
}

// Path returns the path of the credentials file.
func (s *FileStore) Path() string { return s.path }

// Load returns the credentials stored under name, or ErrNotFound.
func (s *FileStore) Load(ctx context.Context, name string) (*Credentials, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	doc, err := s.readShared(ctx)
	if err != nil {
		return nil, err
	}
	raw, ok := doc.Servers[name]
	if !ok {
		return nil, fmt.Errorf("%w for server %q", ErrNotFound, name)
	}
	return decodeEntry(s.path, name, raw)
}

// List returns every stored entry by name.
func (s *FileStore) List(ctx context.Context) (map[string]*Credentials, error) {
	doc, err := s.readShared(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*Credentials, len(doc.Servers))
	for name, raw := range doc.Servers {
		c, err := decodeEntry(s.path, name, raw)
		if err != nil {
			return nil, err
		}
		out[name] = c
	}
	return out, nil
}

// Delete removes name's entry; deleting an absent entry is not an error.
func (s *FileStore) Delete(ctx context.Context, name string) error {
	return s.Update(ctx, name, func(*Credentials) (*Credentials, error) { return nil, nil })
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
	if err := checkName(name); err != nil {
		return err
	}
	unlock, err := s.lockExclusive(ctx)
	if err != nil {
		return err
	}
	defer unlock()

	s.removeStaleTemps()

	doc, err := s.readFile()
	if errors.Is(err, ErrCorrupt) {
		if err := s.moveAside(); err != nil {
			return err
		}
		doc, err = newDoc(), nil
	}
	if err != nil {
		return err
	}

	var cur *Credentials
	if raw, ok := doc.Servers[name]; ok {
		cur, err = decodeEntry(s.path, name, raw)
		if err != nil {
			return err
		}
	}
	next, err := fn(cur)
	if err != nil {
		return err
	}
	if next == nil {
		if cur == nil {
			return nil // nothing to delete; leave the file alone
		}
		delete(doc.Servers, name)
	} else {
		c := *next
		c.UpdatedAt = s.now().UTC()
		raw, err := json.Marshal(&c)
		if err != nil {
			return fmt.Errorf("authstore: encode credentials for %q: %w", name, err)
		}
		doc.Servers[name] = raw
	}
	// ctx is deliberately not checked again here: fn may have obtained a
	// rotated refresh token that would be lost if the write were skipped.
	return s.writeFile(doc)
}

// document is the on-disk format. Entries are kept raw so that fields added
// by a newer mcplink of the same format version survive rewrites of other
// entries.
type document struct {
	Version int                        `json:"version"`
	Servers map[string]json.RawMessage `json:"servers"`
}

func newDoc() *document {
	return &document{Version: formatVersion, Servers: map[string]json.RawMessage{}}
}

func checkName(name string) error {
	if name == "" {
		return errors.New("authstore: empty server name")
	}
	return nil
}

func decodeEntry(path, name string, raw json.RawMessage) (*Credentials, error) {
	var c Credentials
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, &CorruptError{Path: path, Reason: fmt.Sprintf("entry %q: %s", name, describeJSONError(err))}
	}
	return &c, nil
}

// describeJSONError explains a decoding error without quoting input (a
// json.SyntaxError's message includes the offending character).
func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q has the wrong type (want %s)", typ.Field, typ.Type)
		}
		return fmt.Sprintf("wrong JSON type (want %s)", typ.Type)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	default:
		return "invalid JSON"
	}
}

// readShared reads the file under a shared lock. The file is only ever
// replaced by rename, so a lock-free read would also see a complete file on
// POSIX; the shared lock keeps readers and writers ordered on Windows too,
// where a file cannot be renamed over while it is open.
func (s *FileStore) readShared(ctx context.Context) (*document, error) {
	if _, err := os.Stat(s.path); errors.Is(err, fs.ErrNotExist) {
		// Nothing stored yet; avoid creating the lock file for a pure read.
		return newDoc(), nil
	}
	fl := flock.New(s.lock)
	ok, err := fl.TryRLockContext(ctx, lockRetryDelay)
	if err != nil || !ok {
		return nil, lockErr(ctx, s.lock, err)
	}
	defer fl.Unlock()
	return s.readFile()
}

// lockExclusive takes the in-process semaphore and the exclusive file lock,
// respecting ctx while waiting for either.
func (s *FileStore) lockExclusive(ctx context.Context) (unlock func(), err error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// A fresh Flock per operation: flock.Flock tracks "locked" per value, so
	// sharing one between goroutines would let a second goroutine believe it
	// holds a lock that the first one owns.
	fl := flock.New(s.lock, flock.SetPermissions(0o600))
	ok, err := fl.TryLockContext(ctx, lockRetryDelay)
	if err != nil || !ok {
		<-s.sem
		return nil, lockErr(ctx, s.lock, err)
	}
	return func() {
		_ = fl.Unlock()
		<-s.sem
	}, nil
}

func lockErr(ctx context.Context, path string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil {
		err = errors.New("lock not acquired")
	}
	return fmt.Errorf("authstore: lock %s: %w", path, err)
}

// readFile parses the credentials file; a missing or empty file is an empty
// store. Callers hold a lock.
func (s *FileStore) readFile() (*document, error) {
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return newDoc(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("authstore: read credentials: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("authstore: read credentials %s: %w", s.path, err)
	}
	if len(data) > maxFileSize {
		return nil, &CorruptError{Path: s.path, Reason: fmt.Sprintf("larger than %d bytes", maxFileSize)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return newDoc(), nil
	}
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, &CorruptError{Path: s.path, Reason: describeJSONError(err)}
	}
	switch {
	case doc.Version > formatVersion:
		return nil, &VersionError{Path: s.path, Version: doc.Version}
	case doc.Version < 1:
		return nil, &CorruptError{Path: s.path, Reason: "missing or invalid format version"}
	}
	if doc.Servers == nil {
		doc.Servers = map[string]json.RawMessage{}
	}
	for name, raw := range doc.Servers {
		if _, err := decodeEntry(s.path, name, raw); err != nil {
			return nil, err
		}
	}
	return &doc, nil
}

// moveAside renames a corrupt file out of the way so it is never silently
// overwritten. Callers hold the exclusive lock.
func (s *FileStore) moveAside() error {
	stamp := s.now().UTC().Format("20060102T150405Z")
	dst := s.path + corruptInfix + stamp
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if i > 1000 {
			return fmt.Errorf("authstore: cannot find a free name to move corrupt %s aside", s.path)
		}
		dst = fmt.Sprintf("%s%s%s-%d", s.path, corruptInfix, stamp, i)
	}
	if err := os.Rename(s.path, dst); err != nil {
		return fmt.Errorf("authstore: move corrupt credentials file aside: %w", err)
	}
	s.notify(fmt.Sprintf("credentials file %s was corrupt; moved it to %s and started an empty store", s.path, dst))
	return nil
}

// removeStaleTemps deletes temp files left by a writer that died mid-write.
// Only lock holders create temp files, so under the lock any are stale.
func (s *FileStore) removeStaleTemps() {
	matches, _ := filepath.Glob(filepath.Join(s.dir, globEscape(fileName+tmpInfix)+"*"))
	for _, m := range matches {
		_ = os.Remove(m)
	}
}

func globEscape(s string) string {
	return strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`).Replace(s)
}

// createTemp creates a new, exclusive temp file next to the credentials file
// with mode 0600 from the start (the umask can only narrow it).
func (s *FileStore) createTemp() (*os.File, error) {
	var rnd [8]byte
	for range 10 {
		if _, err := rand.Read(rnd[:]); err != nil {
			return nil, err
		}
		name := s.path + tmpInfix + hex.EncodeToString(rnd[:])
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, errors.New("could not create a unique temp file")
}

// writeFile atomically replaces the credentials file with doc. Callers hold
// the exclusive lock.
func (s *FileStore) writeFile(doc *document) (err error) {
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("authstore: encode credentials: %w", err)
	}
	data = append(data, '\n')

	f, err := s.createTemp()
	if err != nil {
		return fmt.Errorf("authstore: create temp file in %s: %w", s.dir, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("authstore: write %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("authstore: sync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("authstore: close %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("authstore: replace %s: %w", s.path, err)
	}
	return syncDir(s.dir)
}

// syncDir makes the rename durable. Windows cannot fsync a directory.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("authstore: sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("authstore: sync directory %s: %w", dir, err)
	}
	return nil
}
