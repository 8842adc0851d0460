package authstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/zalando/go-keyring"
)

// ErrKeyringUnavailable is matched (errors.Is) by errors about a system
// keyring that is missing, locked or not answering. Such errors are
// *KeyringUnavailableError values.
var ErrKeyringUnavailable = errors.New("system keyring unavailable")

// ErrKeyringLocked is matched (errors.Is) when the keyring exists but is
// locked. It also matches ErrKeyringUnavailable.
var ErrKeyringLocked = errors.New("system keyring locked")

// KeyringUnavailableError reports why the system keyring cannot be used.
// It never contains secrets.
type KeyringUnavailableError struct {
	// Reason says what failed, e.g. "no D-Bus session bus".
	Reason string
	// Locked is true when the keyring exists but is locked.
	Locked bool
	// Err is the underlying error, if any (a D-Bus or context error).
	Err error
}

func (e *KeyringUnavailableError) summary() string {
	s := "system keyring unavailable: " + e.Reason
	if e.Locked {
		s = "system keyring locked: " + e.Reason
	}
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

// Error says what failed and how to fix it (keyringFix words the fix for
// this platform's keyring).
func (e *KeyringUnavailableError) Error() string {
	return fmt.Sprintf("%s; %s, or set %s=file to store credentials in a file (%s)", e.summary(), keyringFix(e.Locked), EnvCredentialsStore, fileProtection(runtime.GOOS))
}

// fileProtection says what protects the credentials file on goos: its mode
// on Unix; on Windows, where file modes do not exist, the ACL of the user's
// profile directory that holds it.
func fileProtection(goos string) string {
	if goos == "windows" {
		return "readable by your Windows account only through your user profile's permissions"
	}
	return "mode 0600"
}

// Is matches ErrKeyringUnavailable, and ErrKeyringLocked when Locked.
func (e *KeyringUnavailableError) Is(target error) bool {
	return target == ErrKeyringUnavailable || (e.Locked && target == ErrKeyringLocked)
}

// Unwrap returns the underlying error.
func (e *KeyringUnavailableError) Unwrap() error { return e.Err }

// Defaults for KeyringStore.
const (
	// DefaultKeyringOpTimeout bounds one keyring call when the caller's
	// context has no earlier deadline.
	DefaultKeyringOpTimeout = 15 * time.Second
	// abortGrace is how long a timed-out call waits for its goroutine after
	// aborting the keyring connection.
	abortGrace = 2 * time.Second
	// diagnoseTimeout bounds the preflight run to explain a failed call.
	diagnoseTimeout = time.Second
	keyringFormat   = 1
)

// KeyringOptions configures a KeyringStore.
type KeyringOptions struct {
	// Dir is the data directory holding the lock file; it also names the
	// keyring item, so each data directory has its own credentials.
	Dir string
	// Service is the keyring service name; DefaultKeyringService when empty.
	Service string
	// Notify receives one-line notices (never secrets).
	Notify func(string)
	// OpTimeout bounds each keyring call; DefaultKeyringOpTimeout when zero.
	OpTimeout time.Duration
	// Now replaces time.Now for UpdatedAt stamps.
	Now func() time.Time

	// chunkSize overrides the platform's maximum item value size (tests).
	chunkSize int
}

// KeyringStore is a Store whose data lives in the system keyring (Secret
// Service on Linux and BSD, Keychain on macOS, Credential Manager on
// Windows) through github.com/zalando/go-keyring.
//
// All entries form one JSON document (the file store's format) kept in the
// keyring item (Service, "credentials@<Dir>"). When the document is larger
// than the platform allows for one item (about 2 KB on macOS and Windows),
// it is split over chunk items "<user>.a.<i>" / "<user>.b.<i>": chunks are
// written to the slot not in use, then the head item is switched to them in
// one write, so a crash never leaves a torn document.
//
// Read-modify-write is serialized across processes by an exclusive flock on
// <Dir>/credentials.json.lock (the same lock the file store uses) and reads
// take it shared, exactly as in FileStore.
//
// go-keyring calls take no context and can block (a Secret Service that
// does not answer, or an unlock prompt nobody answers). Each call therefore
// runs in its own goroutine that the caller waits for until its context (or
// OpTimeout) ends; then the store aborts the call by closing go-keyring's
// shared D-Bus connection, which fails every pending call and prompt wait,
// so the goroutine returns (a panic inside go-keyring caused by the closed
// connection is recovered). The next call reconnects.
type KeyringStore struct {
	service   string
	user      string
	opTimeout time.Duration
	chunkSize int
	docs      docStore[*keyringHead]
}

var (
	_ Store                    = (*KeyringStore)(nil)
	_ docBackend[*keyringHead] = (*KeyringStore)(nil)
)

// NewKeyringStore creates the data directory (0700) if needed. It does not
// contact the keyring; call Probe (or use Open) to check that it works.
func NewKeyringStore(opts KeyringOptions) (*KeyringStore, error) {
	dir, err := makeDataDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	s := &KeyringStore{
		service:   opts.Service,
		user:      "credentials@" + dir,
		opTimeout: opts.OpTimeout,
		chunkSize: opts.chunkSize,
	}
	s.docs = newDocStore[*keyringHead](s, dir, opts.Notify, opts.Now)
	if s.service == "" {
		s.service = DefaultKeyringService
	}
	if s.opTimeout <= 0 {
		s.opTimeout = DefaultKeyringOpTimeout
	}
	if s.chunkSize <= 0 {
		s.chunkSize = platformChunkSize
	}
	return s, nil
}

// Location describes where the credentials are kept, for messages.
func (s *KeyringStore) Location() string {
	return fmt.Sprintf("system keyring (service %q, account %q)", s.service, s.user)
}

// Probe checks that the keyring is reachable and unlocked, without ever
// triggering an unlock prompt, and that the store's item can be read. It
// returns a *KeyringUnavailableError when not, at the latest when ctx ends.
func (s *KeyringStore) Probe(ctx context.Context) error {
	if err := preflight(ctx); err != nil {
		return err
	}
	_, err := s.get(ctx, s.user)
	if err == nil || errors.Is(err, keyring.ErrNotFound) {
		return nil
	}
	var ue *KeyringUnavailableError
	if errors.As(err, &ue) {
		return err
	}
	return &KeyringUnavailableError{Reason: "reading the keyring failed", Err: err}
}

// Load returns the credentials stored under name, or ErrNotFound.
func (s *KeyringStore) Load(ctx context.Context, name string) (*Credentials, error) {
	return s.docs.load(ctx, name)
}

// List returns every stored entry by name.
func (s *KeyringStore) List(ctx context.Context) (map[string]*Credentials, error) {
	return s.docs.list(ctx)
}

// Delete removes name's entry; deleting an absent entry is not an error.
func (s *KeyringStore) Delete(ctx context.Context, name string) error {
	return s.docs.delete(ctx, name)
}

// Update performs a read-modify-write of name's entry under the exclusive
// lock, with the same contract as FileStore.Update. A corrupt keyring
// document is copied to the item "<account>.corrupt-<timestamp>" (with a
// notice) and the update continues on an empty store.
func (s *KeyringStore) Update(ctx context.Context, name string, fn func(cur *Credentials) (*Credentials, error)) error {
	return s.docs.update(ctx, name, fn)
}

func (s *KeyringStore) where() string { return s.Location() }

// mayExist is always true: only the keyring knows, and asking it needs the
// lock.
func (s *KeyringStore) mayExist() bool { return true }

func (s *KeyringStore) prepareUpdate() {}

// keyringHead is the value of the head item.
type keyringHead struct {
	Format int `json:"format"`
	// Doc is the document, when it fits in one item.
	Doc json.RawMessage `json:"doc,omitempty"`
	// Slot, Chunks and SHA256 describe a document split over chunk items.
	Slot   string `json:"slot,omitempty"`
	Chunks int    `json:"chunks,omitempty"`
	SHA256 string `json:"sha256,omitempty"`

	raw string // the head item's value as read
}

func (s *KeyringStore) chunkUser(slot string, i int) string {
	return s.user + "." + slot + "." + strconv.Itoa(i)
}

// read loads the document. Callers hold a lock. For a corrupt document it
// returns a *CorruptError and the head as read (for moveAside).
func (s *KeyringStore) read(ctx context.Context) (*document, *keyringHead, error) {
	raw, err := s.get(ctx, s.user)
	if errors.Is(err, keyring.ErrNotFound) {
		return newDoc(), nil, nil
	}
	if err != nil {
		return nil, nil, s.opErr(ctx, "read", err)
	}
	head := &keyringHead{raw: raw}
	if err := json.Unmarshal([]byte(raw), head); err != nil {
		return nil, head, &CorruptError{Path: s.Location(), Reason: "head item: " + describeJSONError(err)}
	}
	if head.Format > keyringFormat {
		return nil, nil, &VersionError{Path: s.Location(), Version: head.Format}
	}
	data := []byte(head.Doc)
	if head.Chunks > 0 {
		if head.Slot != "a" && head.Slot != "b" || head.Chunks > 1<<16 {
			return nil, head, &CorruptError{Path: s.Location(), Reason: "head item: invalid chunk slot or count"}
		}
		var buf bytes.Buffer
		for i := range head.Chunks {
			part, err := s.get(ctx, s.chunkUser(head.Slot, i))
			if errors.Is(err, keyring.ErrNotFound) {
				return nil, head, &CorruptError{Path: s.Location(), Reason: fmt.Sprintf("chunk %d of %d missing", i, head.Chunks)}
			}
			if err != nil {
				return nil, nil, s.opErr(ctx, "read", err)
			}
			buf.WriteString(part)
		}
		sum := sha256.Sum256(buf.Bytes())
		if hex.EncodeToString(sum[:]) != head.SHA256 {
			return nil, head, &CorruptError{Path: s.Location(), Reason: "chunks do not match their checksum"}
		}
		data = buf.Bytes()
	}
	doc, err := parseDocument(data, s.Location())
	if errors.Is(err, ErrCorrupt) {
		return nil, head, err
	}
	return doc, head, err
}

// write stores doc, replacing the document described by old (nil if none).
// Callers hold the exclusive lock. ctx may be done already (fn may hold a
// rotated refresh token), so the write gets its own bounded context.
func (s *KeyringStore) write(ctx context.Context, doc *document, old *keyringHead) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opTimeout)
	defer cancel()
	data, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("authstore: encode credentials: %w", err)
	}
	slot := "a"
	if old != nil && old.Chunks > 0 && old.Slot == "a" {
		slot = "b"
	}
	head, parts, err := layoutItems(data, s.chunkSize, slot)
	if err != nil {
		return err
	}
	if parts == nil {
		if err := s.set(ctx, s.user, string(head)); err != nil {
			return s.opErr(ctx, "write", err)
		}
		s.removeChunks(ctx, old, "")
		return nil
	}
	n := len(parts)
	for i, part := range parts {
		if err := s.set(ctx, s.chunkUser(slot, i), part); err != nil {
			return s.opErr(ctx, "write", err)
		}
	}
	if err := s.set(ctx, s.user, string(head)); err != nil {
		return s.opErr(ctx, "write", err)
	}
	// Leftovers from an earlier, longer write into this slot.
	for i := n; i < n+1<<16; i++ {
		if err := s.del(ctx, s.chunkUser(slot, i)); err != nil {
			break
		}
	}
	s.removeChunks(ctx, old, slot)
	return nil
}

// windowsBlobMax is the most bytes Windows Credential Manager keeps in one
// credential (CRED_MAX_CREDENTIAL_BLOB_SIZE, 5 × 512); go-keyring refuses a
// longer value with ErrSetDataTooBig.
const windowsBlobMax = 2560

// chunkSizeFor is the largest value the store writes into one keyring item
// on goos where go-keyring does not use the Secret Service: Keychain items
// are written through the security(1) command as base64 (4/3 larger) and
// must stay within about 3000 bytes with service and account; Windows
// Credential Manager keeps at most windowsBlobMax bytes. A document above
// the size is split over chunk items (write), never refused and never sent
// to the file store instead.
func chunkSizeFor(goos string) int {
	if goos == "darwin" {
		return 1500
	}
	return 2000
}

// layoutItems returns the head item's value for the document data and, when
// the document does not fit in the head within size bytes, the values of the
// chunk items (in slot) that hold it; parts is nil when it fits.
func layoutItems(data []byte, size int, slot string) (head []byte, parts []string, err error) {
	head, err = json.Marshal(keyringHead{Format: keyringFormat, Doc: data})
	if err != nil {
		return nil, nil, fmt.Errorf("authstore: encode credentials: %w", err)
	}
	if len(head) <= size {
		return head, nil, nil
	}
	parts = splitChunks(data, size)
	sum := sha256.Sum256(data)
	head, err = json.Marshal(keyringHead{Format: keyringFormat, Slot: slot, Chunks: len(parts), SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		return nil, nil, fmt.Errorf("authstore: encode credentials: %w", err)
	}
	return head, parts, nil
}

// splitChunks cuts data into pieces of at most size bytes (the last one may
// be shorter). Pieces are byte ranges: a UTF-8 sequence may straddle two,
// which every backend stores byte for byte (go-keyring base64-encodes on
// macOS; Windows keeps the blob as bytes).
func splitChunks(data []byte, size int) []string {
	var parts []string
	for off := 0; off < len(data); off += size {
		parts = append(parts, string(data[off:min(off+size, len(data))]))
	}
	return parts
}

// removeChunks best-effort deletes the chunk items of old unless they are in
// keepSlot. Failures only leave unreferenced items behind.
func (s *KeyringStore) removeChunks(ctx context.Context, old *keyringHead, keepSlot string) {
	if old == nil || old.Chunks <= 0 || old.Chunks > 1<<16 || old.Slot == keepSlot || (old.Slot != "a" && old.Slot != "b") {
		return
	}
	for i := range old.Chunks {
		if err := s.del(ctx, s.chunkUser(old.Slot, i)); err != nil && !errors.Is(err, keyring.ErrNotFound) {
			return
		}
	}
}

// moveAside keeps a corrupt head item under another account name so it is
// never silently lost.
func (s *KeyringStore) moveAside(ctx context.Context, head *keyringHead, now time.Time) (notice string, err error) {
	if head == nil {
		return "", nil
	}
	dst := s.user + corruptInfix + now.UTC().Format("20060102T150405.000000000Z")
	if err := s.set(ctx, dst, head.raw); err != nil {
		return "", s.opErr(ctx, "move corrupt credentials aside", err)
	}
	return fmt.Sprintf("credentials in the system keyring (service %q) were corrupt; kept them as account %q and started an empty store", s.service, dst), nil
}

// opErr wraps a failed keyring call. When the failure is not already
// explained, a short preflight tells whether the keyring is now locked or
// gone, so the error names the fix.
func (s *KeyringStore) opErr(ctx context.Context, op string, err error) error {
	var ue *KeyringUnavailableError
	if errors.As(err, &ue) {
		return fmt.Errorf("authstore: keyring %s (service %q): %w", op, s.service, err)
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnoseTimeout)
	defer cancel()
	if perr := preflight(pctx); perr != nil {
		return fmt.Errorf("authstore: keyring %s (service %q) failed (%v): %w", op, s.service, err, perr)
	}
	return fmt.Errorf("authstore: keyring %s (service %q): %w", op, s.service, err)
}

func (s *KeyringStore) get(ctx context.Context, user string) (string, error) {
	var v string
	err := s.call(ctx, func() error {
		var err error
		v, err = keyring.Get(s.service, user)
		return err
	})
	return v, err
}

func (s *KeyringStore) set(ctx context.Context, user, value string) error {
	return s.call(ctx, func() error { return keyring.Set(s.service, user, value) })
}

func (s *KeyringStore) del(ctx context.Context, user string) error {
	return s.call(ctx, func() error { return keyring.Delete(s.service, user) })
}

// call runs one go-keyring call in a goroutine and waits until it returns or
// ctx (bounded by OpTimeout) ends. On timeout it aborts the keyring
// connection so the goroutine returns too, and waits up to abortGrace for it.
func (s *KeyringStore) call(ctx context.Context, fn func() error) error {
	ctx, cancel := context.WithTimeout(ctx, s.opTimeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return &KeyringUnavailableError{Reason: "no time left to call the keyring", Err: err}
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				// The panic value is not included: it is an internal
				// go-keyring failure, typically after an abort.
				done <- errors.New("keyring call aborted")
			}
		}()
		done <- fn()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	abortKeyringCalls()
	select {
	case <-done:
	case <-time.After(abortGrace):
	}
	return &KeyringUnavailableError{Reason: "the keyring did not answer in time", Err: ctx.Err()}
}
