package authstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// errNoDataDir is returned when no data directory was given.
var errNoDataDir = errors.New("authstore: no data directory: set MCPLINK_DATA_DIR or HOME")

// document is the stored format, shared by both backends. Entries are kept
// raw so that fields added by a newer mcplink of the same format version
// survive rewrites of other entries.
type document struct {
	Version int                        `json:"version"`
	Servers map[string]json.RawMessage `json:"servers"`
}

func newDoc() *document {
	return &document{Version: formatVersion, Servers: map[string]json.RawMessage{}}
}

// docBackend is where a docStore keeps the bytes of its document: a file
// (FileStore) or keyring items (KeyringStore). S is what read learns about
// the stored document that moveAside and write need (the keyring's head
// item); its zero value means "nothing stored".
type docBackend[S any] interface {
	// where names the document in errors.
	where() string
	// mayExist is false when nothing is stored for certain, so a read can
	// skip the lock (and avoid creating the lock file).
	mayExist() bool
	// prepareUpdate runs at the start of every update, under the exclusive
	// lock.
	prepareUpdate()
	// read loads and validates the document; callers hold a lock. For a
	// corrupt document it returns a *CorruptError and the state moveAside
	// needs.
	read(ctx context.Context) (*document, S, error)
	// moveAside keeps a corrupt document where it is never silently
	// overwritten, stamped with now, and returns a notice for the user.
	// Callers hold the exclusive lock.
	moveAside(ctx context.Context, st S, now time.Time) (notice string, err error)
	// write stores doc, replacing the document read as st. Callers hold the
	// exclusive lock. ctx may already be done (see docStore.update).
	write(ctx context.Context, doc *document, st S) error
}

// docStore implements the Store contract (locking, the versioned document,
// UpdatedAt stamps, moving a corrupt document aside) over a docBackend.
// Read-modify-write is serialized across processes by an exclusive flock on
// <Dir>/credentials.json.lock, and reads take it shared.
type docStore[S any] struct {
	b      docBackend[S]
	lock   string
	notify func(string)
	now    func() time.Time
	// sem serializes writers inside this process so they queue on a channel
	// instead of polling the file lock.
	sem chan struct{}
}

// newDocStore returns a docStore over b whose lock file is in dir; nil
// notify and now mean no notices and time.Now.
func newDocStore[S any](b docBackend[S], dir string, notify func(string), now func() time.Time) docStore[S] {
	if notify == nil {
		notify = func(string) {}
	}
	if now == nil {
		now = time.Now
	}
	return docStore[S]{
		b:      b,
		lock:   filepath.Join(dir, fileName+lockSuffix),
		notify: notify,
		now:    now,
		sem:    make(chan struct{}, 1),
	}
}

// makeDataDir returns the absolute data directory, created (0700) if needed.
func makeDataDir(d string) (string, error) {
	if d == "" {
		return "", errNoDataDir
	}
	dir, err := filepath.Abs(d)
	if err != nil {
		return "", fmt.Errorf("authstore: data directory %q: %w", d, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("authstore: create data directory: %w", err)
	}
	return dir, nil
}

func (d *docStore[S]) load(ctx context.Context, name string) (*Credentials, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	doc, err := d.readShared(ctx)
	if err != nil {
		return nil, err
	}
	raw, ok := doc.Servers[name]
	if !ok {
		return nil, fmt.Errorf("%w for server %q", ErrNotFound, name)
	}
	return decodeEntry(d.b.where(), name, raw)
}

func (d *docStore[S]) list(ctx context.Context) (map[string]*Credentials, error) {
	doc, err := d.readShared(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*Credentials, len(doc.Servers))
	for name, raw := range doc.Servers {
		c, err := decodeEntry(d.b.where(), name, raw)
		if err != nil {
			return nil, err
		}
		out[name] = c
	}
	return out, nil
}

func (d *docStore[S]) delete(ctx context.Context, name string) error {
	return d.update(ctx, name, func(*Credentials) (*Credentials, error) { return nil, nil })
}

// update is Store.Update: a corrupt document is moved aside (with a notice)
// and the update continues on an empty store; a document of an unknown
// future version makes it fail without touching the document.
func (d *docStore[S]) update(ctx context.Context, name string, fn func(cur *Credentials) (*Credentials, error)) error {
	if err := checkName(name); err != nil {
		return err
	}
	unlock, err := d.lockExclusive(ctx)
	if err != nil {
		return err
	}
	defer unlock()

	d.b.prepareUpdate()

	doc, st, err := d.b.read(ctx)
	if errors.Is(err, ErrCorrupt) {
		notice, err := d.b.moveAside(ctx, st, d.now())
		if err != nil {
			return err
		}
		if notice != "" {
			d.notify(notice)
		}
		var none S
		doc, st = newDoc(), none
	} else if err != nil {
		return err
	}

	var cur *Credentials
	if raw, ok := doc.Servers[name]; ok {
		if cur, err = decodeEntry(d.b.where(), name, raw); err != nil {
			return err
		}
	}
	next, err := fn(cur)
	if err != nil {
		return err
	}
	if next == nil {
		if cur == nil {
			return nil // nothing to delete; leave the document alone
		}
		delete(doc.Servers, name)
	} else {
		c := *next
		c.UpdatedAt = d.now().UTC()
		raw, err := json.Marshal(&c)
		if err != nil {
			return fmt.Errorf("authstore: encode credentials for %q: %w", name, err)
		}
		doc.Servers[name] = raw
	}
	// ctx is deliberately not checked again here: fn may have obtained a
	// rotated refresh token that would be lost if the write were skipped.
	return d.b.write(ctx, doc, st)
}

// readShared reads the document under a shared lock. A file is only ever
// replaced by rename, so a lock-free read would also see a complete file on
// POSIX; the shared lock keeps readers and writers ordered on Windows too,
// where a file cannot be renamed over while it is open, and keeps keyring
// readers from seeing a half-switched chunked document.
func (d *docStore[S]) readShared(ctx context.Context) (*document, error) {
	if !d.b.mayExist() {
		return newDoc(), nil
	}
	if err := checkLockFile(d.lock); err != nil {
		return nil, err
	}
	fl := flock.New(d.lock, flock.SetPermissions(0o600))
	ok, err := fl.TryRLockContext(ctx, lockRetryDelay)
	if err != nil || !ok {
		return nil, lockErr(ctx, d.lock, err)
	}
	defer fl.Unlock()
	doc, _, err := d.b.read(ctx)
	return doc, err
}

// lockExclusive takes the in-process semaphore and the exclusive file lock,
// respecting ctx while waiting for either.
func (d *docStore[S]) lockExclusive(ctx context.Context) (unlock func(), err error) {
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// A fresh Flock per operation: flock.Flock tracks "locked" per value, so
	// sharing one between goroutines would let a second goroutine believe it
	// holds a lock that the first one owns.
	if err := checkLockFile(d.lock); err != nil {
		<-d.sem
		return nil, err
	}
	fl := flock.New(d.lock, flock.SetPermissions(0o600))
	ok, err := fl.TryLockContext(ctx, lockRetryDelay)
	if err != nil || !ok {
		<-d.sem
		return nil, lockErr(ctx, d.lock, err)
	}
	return func() {
		_ = fl.Unlock()
		<-d.sem
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

func checkName(name string) error {
	if name == "" {
		return errors.New("authstore: empty server name")
	}
	return nil
}

// parseDocument parses and validates a credentials document; empty data is
// an empty store. where names the source in errors.
func parseDocument(data []byte, where string) (*document, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return newDoc(), nil
	}
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, &CorruptError{Path: where, Reason: describeJSONError(err)}
	}
	switch {
	case doc.Version > formatVersion:
		return nil, &VersionError{Path: where, Version: doc.Version}
	case doc.Version < 1:
		return nil, &CorruptError{Path: where, Reason: "missing or invalid format version"}
	}
	if doc.Servers == nil {
		doc.Servers = map[string]json.RawMessage{}
	}
	for name, raw := range doc.Servers {
		if _, err := decodeEntry(where, name, raw); err != nil {
			return nil, err
		}
	}
	return &doc, nil
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
