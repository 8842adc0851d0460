package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tailscale/hujson"

	"github.com/mcplink/mcplink/internal/atomicfile"
)

// AddEntry writes entry e under "mcp"/name in the file at path, keeping the
// rest of the file (comments, formatting, other keys) byte for byte. The
// file, its directory and the "mcp" object are created when absent. An
// existing entry of that name is an error wrapping ErrExists unless force is
// set, in which case its value is replaced (comments around it are kept).
// e is serialized in the opencode shape (see MarshalEntry); e.Name is not
// used. The write is atomic and keeps the file's mode (new files get 0644).
func AddEntry(path, name string, e *Entry, force bool, opts ...EditOption) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := checkEntry(e); err != nil {
		return err
	}
	body, err := entryJSON(e)
	if err != nil {
		return err
	}
	return edit(path, opts, func(doc *document) (bool, error) {
		mcp, err := doc.mcp(true)
		if err != nil {
			return false, err
		}
		if i := memberIndex(mcp.obj, name); i >= 0 {
			if !force {
				return false, &sentinelError{ErrExists, fmt.Sprintf("server %q already exists in %s", name, doc.path)}
			}
			m := &mcp.obj.Members[i]
			// Keep the old value's shape: one line stays one line.
			ind, _ := lineIndent(m.Name.BeforeExtra)
			multiline := bytes.ContainsRune(hujson.Value{Value: m.Value.Value}.Pack(), '\n')
			v, err := formatValue(body, ind, doc.lay, multiline)
			if err != nil {
				return false, err
			}
			m.Value.Value = v
			return true, nil
		}
		return true, appendMember(mcp.obj, mcp.indent, doc.lay, name, body)
	})
}

// RemoveEntry deletes "mcp"/name from the file at path, together with the
// comments that belong to it, keeping everything else. A missing file or
// name is an error wrapping ErrNotFound that names the file.
func RemoveEntry(path, name string, opts ...EditOption) error {
	return edit(path, opts, func(doc *document) (bool, error) {
		if !doc.exists {
			return false, &sentinelError{ErrNotFound, fmt.Sprintf("server %q not found: %s does not exist", name, doc.path)}
		}
		mcp, err := doc.mcp(false)
		if err != nil {
			return false, err
		}
		if mcp == nil || memberIndex(mcp.obj, name) < 0 {
			return false, &sentinelError{ErrNotFound, fmt.Sprintf("server %q not found in %s%s", name, doc.path, mcp.hint(name))}
		}
		patch := fmt.Sprintf(`[{"op": "remove", "path": %s}]`, quoteJSON("/mcp/"+escapePointer(name)))
		if err := doc.root.Patch([]byte(patch)); err != nil {
			return false, fmt.Errorf("remove server %q from %s: %w", name, doc.path, err)
		}
		if len(mcp.obj.Members) == 0 && len(bytes.TrimSpace(mcp.obj.AfterExtra)) == 0 {
			mcp.obj.AfterExtra = nil // "mcp": {} rather than a brace on its own line
		}
		return true, nil
	})
}

// SetEnabled sets "enabled" on "mcp"/name in the file at path, keeping the
// rest of the file. Enabling drops nothing and adds no key when the entry has
// none (true is the default). When the file does not define name, disabling
// adds a bare {"enabled": false} override (which switches off an entry
// inherited from a lower-precedence file), and enabling is an error wrapping
// ErrNotFound.
func SetEnabled(path, name string, enabled bool, opts ...EditOption) error {
	if err := checkName(name); err != nil {
		return err
	}
	return edit(path, opts, func(doc *document) (bool, error) {
		mcp, err := doc.mcp(!enabled)
		if err != nil {
			return false, err
		}
		i := -1
		if mcp != nil {
			i = memberIndex(mcp.obj, name)
		}
		if i < 0 {
			if enabled {
				return false, &sentinelError{ErrNotFound, fmt.Sprintf("server %q not found in %s%s", name, doc.path, mcp.hint(name))}
			}
			return true, appendMember(mcp.obj, mcp.indent, doc.lay, name, []byte(`{"enabled":false}`))
		}
		m := &mcp.obj.Members[i]
		obj, ok := m.Value.Value.(*hujson.Object)
		if !ok {
			return false, &Error{Pos: doc.src.pos(m.Value.StartOffset), Msg: fmt.Sprintf("server %q must be an object, got %s", name, kindName(&m.Value))}
		}
		if j := memberIndex(obj, "enabled"); j >= 0 {
			obj.Members[j].Value.Value = hujson.Bool(enabled)
			return true, nil
		}
		if enabled {
			return false, nil // already enabled by default
		}
		ind, _ := lineIndent(m.Name.BeforeExtra)
		return true, appendMember(obj, ind, doc.lay, "enabled", []byte("false"))
	})
}

// MarshalEntry returns e in the opencode JSON shape, indented with two
// spaces: only set fields, "timeout" in milliseconds, "oauth" as false, an
// object, or omitted. e.Name is not included.
func MarshalEntry(e *Entry) ([]byte, error) {
	body, err := entryJSON(e)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// checkName rejects names that cannot be stored faithfully.
func checkName(name string) error {
	switch {
	case name == "":
		return &sentinelError{ErrInvalid, "server name must not be empty"}
	case !utf8.ValidString(name):
		return &sentinelError{ErrInvalid, fmt.Sprintf("server name %q is not valid UTF-8", name)}
	}
	return nil
}

// checkEntry rejects entries that Load would refuse for structural reasons.
// Values are not substituted, so "{env:...}" placeholders are fine.
func checkEntry(e *Entry) error {
	bad := func(format string, args ...any) error {
		return &sentinelError{ErrInvalid, fmt.Sprintf(format, args...)}
	}
	switch {
	case e == nil:
		return bad("no entry given")
	case e.Type == TypeLocal:
		if len(e.Command) == 0 {
			return bad("a local server needs a command")
		}
	case e.Type == TypeRemote:
		if e.URL == "" {
			return bad("a remote server needs a url")
		}
		if e.OAuth != nil && e.OAuth.CallbackPort != 0 && (e.OAuth.CallbackPort < 1 || e.OAuth.CallbackPort > 65535) {
			return bad("oauth callback port %d is out of range 1-65535", e.OAuth.CallbackPort)
		}
	default:
		return bad(`entry type must be "local" or "remote", got %q`, e.Type)
	}
	if e.Timeout < 0 {
		return bad("timeout must not be negative, got %s", e.Timeout)
	}
	return nil
}

// entryJSON serializes e as compact JSON with keys in a fixed, readable
// order.
func entryJSON(e *Entry) ([]byte, error) {
	if err := checkEntry(e); err != nil {
		return nil, err
	}
	var w objWriter
	w.str("type", e.Type)
	switch e.Type {
	case TypeLocal:
		w.raw("command", jsonValue(e.Command))
		if len(e.Environment) > 0 {
			w.raw("environment", sortedMap(e.Environment))
		}
		if e.Cwd != "" {
			w.str("cwd", e.Cwd)
		}
		if e.EnvFile != "" {
			w.str("envFile", e.EnvFile)
		}
	case TypeRemote:
		w.str("url", e.URL)
		if len(e.Headers) > 0 {
			w.raw("headers", sortedMap(e.Headers))
		}
		switch {
		case e.OAuthDisabled:
			w.raw("oauth", []byte("false"))
		case e.OAuth != nil && !reflect.ValueOf(*e.OAuth).IsZero():
			w.raw("oauth", jsonValue(e.OAuth))
		}
	}
	if !e.Enabled {
		w.raw("enabled", []byte("false"))
	}
	if e.Timeout > 0 {
		ms := (e.Timeout + time.Millisecond - 1) / time.Millisecond
		w.raw("timeout", fmt.Appendf(nil, "%d", int64(ms)))
	}
	return w.done(), nil
}

type objWriter struct{ b []byte }

func (w *objWriter) raw(k string, v []byte) {
	if len(w.b) == 0 {
		w.b = append(w.b, '{')
	} else {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, quoteJSON(k)...)
	w.b = append(w.b, ':')
	w.b = append(w.b, v...)
}

func (w *objWriter) str(k, v string) { w.raw(k, []byte(quoteJSON(v))) }

func (w *objWriter) done() []byte {
	if len(w.b) == 0 {
		return []byte("{}")
	}
	return append(w.b, '}')
}

// jsonValue marshals v without HTML escaping. v is always a plain value
// (strings, maps of strings, OAuth), so marshaling cannot fail.
func jsonValue(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte("null")
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func quoteJSON(s string) string { return string(jsonValue(s)) }

func sortedMap(m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var w objWriter
	for _, k := range keys {
		w.str(k, m[k])
	}
	return w.done()
}

// escapePointer escapes a JSON Pointer reference token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// document is a config file being edited.
type document struct {
	path   string // as given, for messages
	real   string // symlinks resolved, for writing
	exists bool
	mode   fs.FileMode
	src    *source
	root   hujson.Value
	lay    layout
}

// layout is how a file is laid out: one indentation level and the line
// ending ("\n" or "\r\n") used for inserted lines.
type layout struct {
	unit, nl string
}

// mcpObject is the "mcp" object of a document and the indentation of the
// line holding its key.
type mcpObject struct {
	obj    *hujson.Object
	indent string
}

// hint lists the names defined in the object, for not-found messages.
func (m *mcpObject) hint(name string) string {
	if m == nil || len(m.obj.Members) == 0 {
		return " (it defines no servers)"
	}
	names := make([]string, 0, len(m.obj.Members))
	for i := range m.obj.Members {
		names = append(names, memberName(&m.obj.Members[i]))
	}
	return didYouMean(name, names) + " (it defines: " + strings.Join(names, ", ") + ")"
}

// mcp returns the "mcp" object, creating it when create is set. Without
// create a missing "mcp" yields nil.
func (doc *document) mcp(create bool) (*mcpObject, error) {
	return doc.object("mcp", create, `"mcp" must be an object mapping server names to entries`)
}

// object returns the top-level object key, creating it when create is set
// (nil when it is absent and create is not). what words a non-object value.
func (doc *document) object(key string, create bool, what string) (*mcpObject, error) {
	rootObj, ok := doc.root.Value.(*hujson.Object)
	if !ok {
		return nil, &Error{Pos: doc.src.pos(doc.root.StartOffset), Msg: fmt.Sprintf("top level must be an object, got %s", kindName(&doc.root))}
	}
	if i := memberIndex(rootObj, key); i >= 0 {
		m := &rootObj.Members[i]
		obj, ok := m.Value.Value.(*hujson.Object)
		if !ok {
			return nil, &Error{Pos: doc.src.pos(m.Value.StartOffset), Msg: fmt.Sprintf(`%s, got %s`, what, kindName(&m.Value))}
		}
		ind, _ := lineIndent(m.Name.BeforeExtra)
		return &mcpObject{obj: obj, indent: ind}, nil
	}
	if !create {
		return nil, nil
	}
	if err := appendMember(rootObj, "", doc.lay, key, []byte("{}")); err != nil {
		return nil, err
	}
	m := &rootObj.Members[len(rootObj.Members)-1]
	ind, _ := lineIndent(m.Name.BeforeExtra)
	return &mcpObject{obj: m.Value.Value.(*hujson.Object), indent: ind}, nil
}

// SetMember writes value (JSON) as member name of the top-level object key
// of the JSON(C) file at path — another client's file, such as Claude
// Code's ~/.claude.json and "mcpServers" — keeping every other byte
// (comments, formatting, keys) as it is. The file and key are created when
// absent; an existing member is replaced unless it already holds an equal
// value. The write is atomic, under the directory's lock, and keeps the
// file's mode (new files get 0600: other clients' files may hold secrets).
// changed reports whether the file was written.
func SetMember(path, key, name string, value []byte) (changed bool, err error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, value); err != nil {
		return false, fmt.Errorf("value for %q is not JSON: %w", name, err)
	}
	err = edit(path, nil, func(doc *document) (bool, error) {
		if !doc.exists {
			doc.mode = 0o600
		}
		obj, err := doc.object(key, true, fmt.Sprintf("%q must be an object", key))
		if err != nil {
			return false, err
		}
		if i := memberIndex(obj.obj, name); i >= 0 {
			m := &obj.obj.Members[i]
			if sameJSON(hujson.Value{Value: m.Value.Value}.Pack(), compact.Bytes()) {
				return false, nil
			}
			ind, _ := lineIndent(m.Name.BeforeExtra)
			multiline := bytes.ContainsRune(hujson.Value{Value: m.Value.Value}.Pack(), '\n')
			v, err := formatValue(compact.Bytes(), ind, doc.lay, multiline)
			if err != nil {
				return false, err
			}
			m.Value.Value = v
			changed = true
			return true, nil
		}
		changed = true
		return true, appendMember(obj.obj, obj.indent, doc.lay, name, compact.Bytes())
	})
	return changed, err
}

// RemoveMember deletes member name of the top-level object key of the
// JSON(C) file at path, with the comments that belong to it, keeping the
// rest (see SetMember). changed is false when there is no such member (or
// file).
func RemoveMember(path, key, name string) (changed bool, err error) {
	err = edit(path, nil, func(doc *document) (bool, error) {
		if !doc.exists {
			return false, nil
		}
		obj, err := doc.object(key, false, fmt.Sprintf("%q must be an object", key))
		if err != nil || obj == nil || memberIndex(obj.obj, name) < 0 {
			return false, err
		}
		n := len(obj.obj.Members)
		trailingComma := obj.obj.Members[n-1].Value.AfterExtra != nil
		patch := fmt.Sprintf(`[{"op": "remove", "path": %s}]`, quoteJSON("/"+escapePointer(key)+"/"+escapePointer(name)))
		if err := doc.root.Patch([]byte(patch)); err != nil {
			return false, fmt.Errorf("remove %q from %s: %w", name, doc.path, err)
		}
		if m := obj.obj.Members; trailingComma && len(m) > 0 && m[len(m)-1].Value.AfterExtra == nil {
			m[len(m)-1].Value.AfterExtra = hujson.Extra{} // keep the trailing-comma style
		}
		if len(obj.obj.Members) == 0 && len(bytes.TrimSpace(obj.obj.AfterExtra)) == 0 {
			obj.obj.AfterExtra = nil
		}
		changed = true
		return true, nil
	})
	return changed, err
}

// EditText rewrites the file at path (a regular file of at most
// MaxFileSize bytes, or none: data is nil) with what change returns, under
// the directory's lock, atomically, keeping the file's mode (new files get
// 0600). Nothing is written when change returns the same bytes or an
// error; changed reports a write. For other clients' files that are not
// JSON (Codex's config.toml).
func EditText(path string, change func(data []byte) ([]byte, error)) (changed bool, err error) {
	real := path
	if r, err := filepath.EvalSymlinks(path); err == nil {
		real = r
	}
	unlock, err := lockDir(filepath.Dir(real))
	if err != nil {
		return false, err
	}
	defer unlock()
	mode := fs.FileMode(0o600)
	data, err := readConfigFile(real)
	switch {
	case err == nil:
		if fi, err := os.Stat(real); err == nil {
			mode = fi.Mode().Perm()
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return false, readError(path, err)
	}
	out, err := change(data)
	if err != nil || bytes.Equal(out, data) {
		return false, err
	}
	return true, writeFileAtomic(real, out, mode)
}

// sameJSON reports whether two JSON(C) texts hold equal values.
func sameJSON(a, b []byte) bool {
	var va, vb any
	sa, err1 := hujson.Standardize(append([]byte(nil), a...))
	if err1 != nil || json.Unmarshal(sa, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

func memberIndex(obj *hujson.Object, name string) int {
	for i := range obj.Members {
		if memberName(&obj.Members[i]) == name {
			return i
		}
	}
	return -1
}

// lineIndent returns the leading whitespace of the last line of extra (the
// indentation of the token that follows it) and whether extra contains a
// newline at all.
func lineIndent(extra []byte) (string, bool) {
	i := bytes.LastIndexByte(extra, '\n')
	if i < 0 {
		return "", false
	}
	line := extra[i+1:]
	n := 0
	for n < len(line) && (line[n] == ' ' || line[n] == '\t') {
		n++
	}
	return string(line[:n]), true
}

// detectUnit guesses one indentation level from the top-level members.
func detectUnit(root hujson.Value) string {
	if obj, ok := root.Value.(*hujson.Object); ok {
		for i := range obj.Members {
			if ind, ok := lineIndent(obj.Members[i].Name.BeforeExtra); ok && ind != "" {
				return ind
			}
		}
	}
	return "  "
}

// formatValue parses compact JSON into a value laid out for a key indented
// by indent: multi-line with unit steps, or on one line.
func formatValue(compact []byte, indent string, lay layout, multiline bool) (hujson.ValueTrimmed, error) {
	var out bytes.Buffer
	if multiline {
		if err := json.Indent(&out, compact, indent, lay.unit); err != nil {
			return nil, err
		}
	} else {
		out.Write(spaced(compact))
	}
	b := out.Bytes()
	if lay.nl != "\n" {
		// Every newline json.Indent writes is structural (strings escape theirs).
		b = bytes.ReplaceAll(b, []byte("\n"), []byte(lay.nl))
	}
	v, err := hujson.Parse(b)
	if err != nil {
		return nil, err
	}
	return v.Value, nil
}

// spaced adds a space after every ':' and ',' outside strings of compact
// JSON, for single-line layouts.
func spaced(compact []byte) []byte {
	var out []byte
	inStr, esc := false, false
	for _, c := range compact {
		out = append(out, c)
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && (c == ':' || c == ','):
			out = append(out, ' ')
		}
	}
	return out
}

// appendMember adds name: value (compact JSON) at the end of obj, whose key
// line is indented by indent. A one-line object stays on one line; otherwise
// the member goes on its own line after any trailing comments, with the
// object's existing member indentation (or indent+unit) and trailing-comma
// style.
func appendMember(obj *hujson.Object, indent string, lay layout, name string, compact []byte) error {
	n := len(obj.Members)
	multiline := n == 0
	memberIndent := indent + lay.unit
	if n > 0 {
		if ind, ok := lineIndent(obj.Members[n-1].Name.BeforeExtra); ok {
			multiline, memberIndent = true, ind
		}
	}
	v, err := formatValue(compact, memberIndent, lay, multiline)
	if err != nil {
		return err
	}
	m := hujson.ObjectMember{
		Name:  hujson.Value{Value: hujson.String(name)},
		Value: hujson.Value{BeforeExtra: hujson.Extra(" "), Value: v},
	}
	if !multiline {
		m.Name.BeforeExtra = hujson.Extra(" ")
		obj.Members = append(obj.Members, m)
		return nil
	}
	after := obj.AfterExtra
	if i := bytes.LastIndexByte(after, '\n'); i >= 0 {
		m.Name.BeforeExtra = append(append(hujson.Extra{}, after[:i+1]...), memberIndent...)
		obj.AfterExtra = append(hujson.Extra(lay.nl), after[i+1:]...)
	} else {
		m.Name.BeforeExtra = append(append(hujson.Extra{}, after...), lay.nl+memberIndent...)
		obj.AfterExtra = hujson.Extra(lay.nl + indent)
	}
	if n > 0 && obj.Members[n-1].Value.AfterExtra != nil {
		m.Value.AfterExtra = hujson.Extra{} // keep the trailing-comma style
	}
	obj.Members = append(obj.Members, m)
	return nil
}

// edit loads path (or an empty document when it does not exist), applies
// change, and writes the result atomically when change reports a
// modification. With KeepTrusted, a file that was trusted (or new) stays
// trusted: the written bytes are recorded after the file's directory lock is
// released (the trust store takes its own directory's lock, which may be the
// same directory).
func edit(path string, opts []EditOption, change func(*document) (bool, error)) error {
	var o editOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.check != nil {
		inner := change
		change = func(doc *document) (bool, error) {
			if err := o.check(doc.path, doc.src.data); err != nil {
				return false, err
			}
			return inner(doc)
		}
	}
	before, existed, after, err := editLocked(path, change)
	if err != nil || after == nil {
		return err
	}
	return o.keepTrusted(path, before, existed, after)
}

// editLocked is edit under the directory lock. It returns the file's content
// before the edit, whether it existed, and the bytes written (nil when
// nothing changed).
func editLocked(path string, change func(*document) (bool, error)) (before []byte, existed bool, after []byte, err error) {
	doc := &document{path: path, real: path, mode: 0o644}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		doc.real = real
	}
	unlock, err := lockDir(filepath.Dir(doc.real))
	if err != nil {
		return nil, false, nil, err
	}
	defer unlock()
	data, err := readConfigFile(doc.real) // never a FIFO or device: no hang, nothing replaced
	switch {
	case err == nil:
		doc.exists = true
		if fi, err := os.Stat(doc.real); err == nil {
			doc.mode = fi.Mode().Perm()
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, false, nil, readError(path, err)
	}
	before = data
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}\n")
	}
	doc.src = newSource(path, data)
	if e := checkNesting(doc.src); e != nil {
		return nil, false, nil, e
	}
	doc.root, err = hujson.Parse(data)
	if err != nil {
		return nil, false, nil, syntaxError(path, err)
	}
	doc.lay = layout{unit: detectUnit(doc.root), nl: "\n"}
	if bytes.Contains(data, []byte("\r\n")) {
		doc.lay.nl = "\r\n"
	}
	changed, err := change(doc)
	if err != nil || !changed {
		return nil, false, nil, err
	}
	out := doc.root.Pack()
	if _, err := hujson.Parse(out); err != nil {
		// A bug in the edit logic; never write a broken file.
		return nil, false, nil, fmt.Errorf("edit of %s produced invalid JSON (file left unchanged): %w", path, err)
	}
	if err := writeFileAtomic(doc.real, out, doc.mode); err != nil {
		return nil, false, nil, err
	}
	return before, doc.exists, out, nil
}

// writeFileAtomic replaces path with data (atomicfile.Write), creating the
// directory if needed.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create config directory: %w", err)
	}
	return atomicfile.Write(path, data, mode)
}
