package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/tailscale/hujson"
)

// Trust of project files.
//
// A config file found by discovery (walking up from the working directory,
// see ProjectFiles) may come from a cloned repository nobody reviewed, so it
// is untrusted until the user approves its exact content with `mcplink
// trust`, like `direnv allow`. The approval is a record of the file's path
// and SHA-256 content hash in the TrustStore (a small JSON file in mcplink's
// data directory); any change to the content makes the file untrusted again.
//
// An untrusted file contributes only placeholders: for every server it
// defines in full, an Entry with Untrusted set and nothing else that came
// from the file (no command, URL, headers, environment, and no {env:...} or
// {file:...} substitution was done). A bare {"enabled": ...} override in an
// untrusted file is ignored, so such a file can neither switch on a server
// the user disabled nor switch off one they use; a full definition that
// shadows a global entry becomes a placeholder, so mcplink never silently
// uses a different server than the project names. The global file and a file
// named explicitly (LoadOptions.File) are always trusted.

// ErrUntrusted is wrapped by every *UntrustedError.
var ErrUntrusted = errors.New("project config file is not trusted")

// UntrustedError reports a server or file that cannot be used because the
// project file defining it is not trusted.
type UntrustedError struct {
	// Server is the server's name; empty when the error is about the file.
	Server string
	// File is the project file, Dir its directory (where trusting it is
	// done; the surfaces name how: internal/fix).
	File, Dir string
	// Changed is true when the file was trusted with different content.
	Changed bool
	// SHA256 is the hex SHA-256 of the content that was read and found
	// untrusted, so a surface that asks the user can trust exactly that
	// content (see ContentHash).
	SHA256 string
}

// Error implements error. It says what is wrong; the way to trust the file
// is the surface's to name.
func (e *UntrustedError) Error() string {
	var prefix string
	if e.Server != "" {
		prefix = fmt.Sprintf("server %q: ", e.Server)
	}
	why := "is not trusted"
	if e.Changed {
		why = "changed since it was trusted"
	}
	return fmt.Sprintf(`%sproject file %s %s, so its servers are not started or contacted`, prefix, e.File, why)
}

// Is makes errors.Is(err, ErrUntrusted) hold.
func (e *UntrustedError) Is(target error) bool { return target == ErrUntrusted }

// forServer returns a copy of e naming server.
func (e *UntrustedError) forServer(name string) *UntrustedError {
	c := *e
	c.Server = name
	return &c
}

// TrustState is what a TrustStore knows about a file's content.
type TrustState int

// Trust states.
const (
	// TrustUnknown: the file was never trusted (or was forgotten).
	TrustUnknown TrustState = iota
	// TrustChanged: the file was trusted with different content.
	TrustChanged
	// Trusted: the content is exactly what the user trusted.
	Trusted
)

// TrustRecord is one trusted file.
type TrustRecord struct {
	// File is the absolute path the file is used from (see TrustKey).
	File string `json:"-"`
	// SHA256 is the hex SHA-256 of the trusted content.
	SHA256    string    `json:"sha256"`
	TrustedAt time.Time `json:"trustedAt"`
}

// trustDoc is the trust file's content.
type trustDoc struct {
	Version int                    `json:"version"`
	Files   map[string]TrustRecord `json:"files"`
}

const (
	trustFileName    = "trust.json"
	trustFileVersion = 1
	// maxTrustFile bounds what is read of the trust file: one record is
	// well under 200 bytes.
	maxTrustFile = 4 << 20
)

// TrustStore records which project files the user trusted, in trust.json in
// mcplink's data directory (the directory of the credentials file). Writes
// take the directory lock config edits use and replace the file atomically
// with mode 0600. The zero value and a nil *TrustStore trust nothing.
type TrustStore struct {
	dir string
}

// NewTrustStore returns the store in dataDir. It creates nothing until the
// first Trust.
func NewTrustStore(dataDir string) *TrustStore { return &TrustStore{dir: dataDir} }

// Path returns the trust file's path ("" for a store without a directory).
func (s *TrustStore) Path() string {
	if s == nil || s.dir == "" {
		return ""
	}
	return filepath.Join(s.dir, trustFileName)
}

// ContentHash returns the hex SHA-256 of data, as recorded by Trust.
func ContentHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TrustKey returns the key a file is recorded under: its absolute, cleaned
// path, symbolic links NOT resolved. Trust binds content to the place it is
// used from, because relative paths in it ("cwd", {file:...}, a relative
// command) resolve against that place: a repository's mcplink.json that is
// a symbolic link to a file trusted elsewhere is a new, untrusted file.
func TrustKey(file string) (string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", fmt.Errorf("trust: %w", err)
	}
	return abs, nil
}

// Check reports whether data, the content of file as just read, is what the
// user trusted. An unreadable or corrupt trust file is an error (wrapping
// ErrInvalid) naming the file and the fix.
func (s *TrustStore) Check(file string, data []byte) (TrustState, error) {
	if s.Path() == "" {
		return TrustUnknown, nil
	}
	key, err := TrustKey(file)
	if err != nil {
		return TrustUnknown, err
	}
	doc, err := s.read()
	if err != nil {
		return TrustUnknown, err
	}
	rec, ok := doc.Files[key]
	switch {
	case !ok:
		return TrustUnknown, nil
	case rec.SHA256 == ContentHash(data):
		return Trusted, nil
	default:
		return TrustChanged, nil
	}
}

// Trust records data as the trusted content of file and returns the record.
func (s *TrustStore) Trust(file string, data []byte) (TrustRecord, error) {
	key, err := TrustKey(file)
	if err != nil {
		return TrustRecord{}, err
	}
	rec := TrustRecord{File: key, SHA256: ContentHash(data), TrustedAt: time.Now().UTC().Truncate(time.Second)}
	err = s.update(func(doc *trustDoc) bool {
		doc.Files[key] = rec
		return true
	})
	return rec, err
}

// Forget removes file's record and reports whether there was one.
func (s *TrustStore) Forget(file string) (bool, error) {
	key, err := TrustKey(file)
	if err != nil {
		return false, err
	}
	found := false
	err = s.update(func(doc *trustDoc) bool {
		_, found = doc.Files[key]
		delete(doc.Files, key)
		return found
	})
	return found, err
}

// List returns every record, sorted by file.
func (s *TrustStore) List() ([]TrustRecord, error) {
	if s.Path() == "" {
		return nil, nil
	}
	doc, err := s.read()
	if err != nil {
		return nil, err
	}
	out := make([]TrustRecord, 0, len(doc.Files))
	for k, r := range doc.Files {
		r.File = k
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out, nil
}

// errNoDataDir is returned by writes to a store without a directory.
var errNoDataDir = &sentinelError{ErrInvalid, "cannot record trusted files: the data directory is unknown; set MCPLINK_DATA_DIR or HOME"}

// update runs fn on the current document under the directory lock and
// writes the result atomically (mode 0600) when fn reports a change.
func (s *TrustStore) update(fn func(*trustDoc) bool) error {
	if s.Path() == "" {
		return errNoDataDir
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("trust: create data directory: %w", err)
	}
	unlock, err := lockDir(s.dir)
	if err != nil {
		return err
	}
	defer unlock()
	doc, err := s.read()
	if err != nil {
		return err
	}
	if !fn(doc) {
		return nil
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	return writeFileAtomic(s.Path(), append(data, '\n'), 0o600)
}

// read loads the trust file; a missing file is an empty document.
func (s *TrustStore) read() (*trustDoc, error) {
	path := s.Path()
	doc := &trustDoc{Version: trustFileVersion, Files: map[string]TrustRecord{}}
	bad := func(cause error, format string, a ...any) error {
		return &Error{Pos: Position{File: path}, Msg: fmt.Sprintf(format, a...) + "; fix or delete it (deleted, every project file must be trusted again)", Err: cause}
	}
	// Stat first: opening a FIFO would block.
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return doc, nil
	}
	if err != nil {
		return nil, bad(err, "cannot read the trust file: %v", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, bad(nil, "the trust file is not a regular file (%s)", fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, bad(err, "cannot read the trust file: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTrustFile+1))
	if err != nil {
		return nil, bad(err, "cannot read the trust file: %v", err)
	}
	if len(data) > maxTrustFile {
		return nil, bad(nil, "the trust file is larger than %d bytes", maxTrustFile)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return doc, nil
	}
	if err := json.Unmarshal(data, doc); err != nil {
		return nil, bad(err, "the trust file is not valid JSON: %v", err)
	}
	if doc.Version != trustFileVersion {
		return nil, bad(nil, "the trust file has version %d; this mcplink understands version %d", doc.Version, trustFileVersion)
	}
	if doc.Files == nil {
		doc.Files = map[string]TrustRecord{}
	}
	return doc, nil
}

// EditOption changes how AddEntry, RemoveEntry and SetEnabled write.
type EditOption func(*editOptions)

type editOptions struct {
	trust *TrustStore
	check func(path string, data []byte) error
}

// CheckBeforeEdit has AddEntry, RemoveEntry and SetEnabled call check with
// the file's current content (under the lock, before any change) and stop
// with its error: the CLI refuses to write mcplink's "mcp" into another
// client's file named with --config.
func CheckBeforeEdit(check func(path string, data []byte) error) EditOption {
	return func(o *editOptions) { o.check = check }
}

// KeepTrusted keeps a file mcplink edits on the user's command trusted: when
// the file was trusted in ts before the edit, or did not exist, the new
// content's hash is recorded. An untrusted file stays untrusted. Pass it for
// project files (the global file and an explicit --config file are trusted
// anyway and need no record).
func KeepTrusted(ts *TrustStore) EditOption {
	return func(o *editOptions) { o.trust = ts }
}

// keepTrusted records after as the trusted content of path when before (the
// content before the edit) was trusted or the file did not exist.
func (o editOptions) keepTrusted(path string, before []byte, existed bool, after []byte) error {
	if o.trust == nil {
		return nil
	}
	if existed {
		st, err := o.trust.Check(path, before)
		if err != nil || st != Trusted {
			return err
		}
	}
	if _, err := o.trust.Trust(path, after); err != nil {
		return fmt.Errorf("%s was changed but could not be recorded as trusted, so it must be trusted again: %w", path, err)
	}
	return nil
}

// untrustedFile describes the project file at path, with content data, in
// state st.
func untrustedFile(path string, data []byte, st TrustState) *UntrustedError {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return &UntrustedError{File: path, Dir: filepath.Dir(path), Changed: st == TrustChanged, SHA256: ContentHash(data)}
}

// asConfigError makes err (from the trust store) an *Error for an
// ErrorList.
func asConfigError(file string, err error) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	return &Error{Pos: Position{File: file}, Msg: err.Error(), Err: err}
}

// scanUntrusted returns the names of the servers an untrusted file defines
// in full (not bare {"enabled": ...} overrides), with the positions of
// their keys. It only walks the document's structure: no value is decoded,
// validated or substituted, so nothing outside the file is read and no
// error depends on the environment. Only a syntax error, or a document
// whose shape hides the names, is reported.
func scanUntrusted(src *source) ([]string, map[string]Position, ErrorList) {
	pos := map[string]Position{}
	if len(bytes.TrimSpace(src.data)) == 0 {
		return nil, pos, nil
	}
	root, err := hujson.Parse(src.data)
	if err != nil {
		return nil, pos, ErrorList{syntaxError(src.path, err)}
	}
	rootObj, ok := root.Value.(*hujson.Object)
	if !ok {
		return nil, pos, ErrorList{{Pos: src.pos(root.StartOffset), Msg: fmt.Sprintf("top level must be an object, got %s", kindName(&root))}}
	}
	var names []string
	for i := range rootObj.Members {
		m := &rootObj.Members[i]
		if memberName(m) != "mcp" {
			continue
		}
		mcp, ok := m.Value.Value.(*hujson.Object)
		if !ok {
			return nil, pos, ErrorList{{Pos: src.pos(m.Value.StartOffset), Msg: fmt.Sprintf(`"mcp" must be an object mapping server names to entries, got %s`, kindName(&m.Value))}}
		}
		for j := range mcp.Members {
			sm := &mcp.Members[j]
			name := memberName(sm)
			if _, dup := pos[name]; dup || name == "" {
				continue // reported once the file is trusted
			}
			if obj, ok := sm.Value.Value.(*hujson.Object); ok && len(obj.Members) == 1 && memberName(&obj.Members[0]) == "enabled" {
				continue // a bare override: ignored while untrusted
			}
			pos[name] = src.pos(sm.Name.StartOffset)
			names = append(names, name)
		}
	}
	return names, pos, nil
}
