package config

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tailscale/hujson"

	"github.com/mcplink/mcplink/internal/safefile"
	"github.com/mcplink/mcplink/limit"
)

// Field names of an entry, by server type.
var (
	commonFields = []string{"type", "enabled", "timeout", "maxMessageSize"}
	localFields  = []string{"command", "environment", "cwd", "envFile"}
	remoteFields = []string{"url", "headers", "oauth"}
	oauthFields  = []string{"clientId", "clientSecret", "scope", "callbackPort", "redirectUri", "clientMetadataUrl", "callbackHost", "resource",
		"grant", "privateKeyFile", "privateKeyId", "assertionFile", "assertionCommand", "dpop", "idp"}
)

// maxSubstFile bounds what {file:...} reads, so a stray path such as a
// device or a huge file cannot exhaust memory.
const maxSubstFile = 1 << 20

// maxTimeoutMillis keeps timeout*time.Millisecond inside time.Duration.
const maxTimeoutMillis = math.MaxInt64 / int64(time.Millisecond)

// source is one config file's bytes with a line index for positions.
type source struct {
	path  string
	data  []byte
	lines []int // offsets of every '\n'
}

func newSource(path string, data []byte) *source {
	s := &source{path: path, data: data}
	for i, c := range data {
		if c == '\n' {
			s.lines = append(s.lines, i)
		}
	}
	return s
}

// pos converts a byte offset to a 1-based line and (byte) column.
func (s *source) pos(off int) Position {
	off = max(0, min(off, len(s.data)))
	line := sort.SearchInts(s.lines, off) // number of newlines before off
	start := 0
	if line > 0 {
		start = s.lines[line-1] + 1
	}
	return Position{File: s.path, Line: line + 1, Col: off - start + 1}
}

// fileEntry is one server definition as read from one file.
type fileEntry struct {
	entry *Entry
	// bare marks `{"enabled": bool}`, which only toggles an inherited entry.
	bare bool
	// substErrs are substitution failures; they are reported only when the
	// entry that finally wins the merge is enabled.
	substErrs ErrorList
	// keys and oauthKeys are the fields the file sets (of the entry, and of
	// its "oauth" object), and lenient marks an entry of opencode's files:
	// two of those merge field by field, as opencode deep-merges its files
	// (see mergeOpencode).
	keys, oauthKeys map[string]bool
	lenient         bool
}

// decoder turns one parsed file into entries, collecting every problem.
type decoder struct {
	src    *source
	home   string
	getenv func(string) (string, bool)
	errs   ErrorList
	// lenient turns unknown fields into warnings (files of another program,
	// whose schema grows on its own schedule: see OpencodeOptions).
	lenient bool
	warns   ErrorList
	// typos holds the known field names suggested for unknown fields of the
	// current entry, so a misspelt "comand" does not also report a missing
	// "command".
	typos map[string]bool
}

func (d *decoder) errorf(off int, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: d.src.pos(off), Msg: fmt.Sprintf(format, args...)})
}

// unknownField reports a field mcplink does not know (or one of the other
// server type): an error, or in a lenient file a warning, the field ignored.
func (d *decoder) unknownField(off int, format string, args ...any) {
	if d.lenient {
		d.warns = append(d.warns, &Error{Pos: d.src.pos(off), Msg: fmt.Sprintf(format, args...) + "; mcplink ignores it"})
		return
	}
	d.errorf(off, format, args...)
}

var hujsonPosRE = regexp.MustCompile(`^hujson: line (\d+), column (\d+): (.*)$`)

// syntaxError converts a hujson parse error into an *Error with a position.
func syntaxError(path string, err error) *Error {
	msg := err.Error()
	pos := Position{File: path, Line: 1, Col: 1}
	if m := hujsonPosRE.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		pos.Col, _ = strconv.Atoi(m[2])
		msg = m[3]
	}
	msg = strings.Replace(msg, "unexpected EOF", "unexpected end of file", 1)
	return &Error{Pos: pos, Msg: "syntax error: " + msg, Err: err}
}

func kindName(v *hujson.Value) string {
	switch v.Value.Kind() {
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "unknown value"
}

func memberName(m *hujson.ObjectMember) string {
	if lit, ok := m.Name.Value.(hujson.Literal); ok {
		return litString(lit)
	}
	return ""
}

// litString is hujson.Literal.String with a fast path for strings without
// escapes (the common case; the general path goes through encoding/json).
func litString(lit hujson.Literal) string {
	if n := len(lit); n >= 2 && lit[0] == '"' && lit[n-1] == '"' && bytes.IndexByte(lit, '\\') < 0 && utf8.Valid(lit) {
		return string(lit[1 : n-1])
	}
	return lit.String()
}

// parseFileWarn decodes one file. It returns the server names in file order
// and their definitions; problems are returned as an ErrorList (possibly
// with some entries decoded). When lenient, unknown and misplaced fields
// are warnings (the fields are ignored) instead of errors.
func parseFileWarn(src *source, home string, getenv func(string) (string, bool), lenient bool) ([]string, map[string]*fileEntry, ErrorList, ErrorList) {
	names, entries, errs, d := parseWith(&decoder{src: src, home: home, getenv: getenv, lenient: lenient})
	return names, entries, errs, d.warns
}

func parseWith(d *decoder) ([]string, map[string]*fileEntry, ErrorList, *decoder) {
	src := d.src
	entries := map[string]*fileEntry{}
	if len(bytes.TrimSpace(src.data)) == 0 {
		return nil, entries, nil, d // an empty file defines nothing
	}
	root, err := hujson.Parse(src.data)
	if err != nil {
		return nil, entries, ErrorList{syntaxError(src.path, err)}, d
	}
	rootObj, ok := root.Value.(*hujson.Object)
	if !ok {
		d.errorf(root.StartOffset, "top level must be an object, got %s", kindName(&root))
		return nil, entries, d.errs, d
	}
	var mcp *hujson.Value
	for i := range rootObj.Members {
		m := &rootObj.Members[i]
		if memberName(m) != "mcp" {
			continue // other keys (opencode settings) are ignored
		}
		if mcp != nil {
			d.errorf(m.Name.StartOffset, `duplicate key "mcp"`)
			continue
		}
		mcp = &m.Value
	}
	if mcp == nil {
		return nil, entries, nil, d
	}
	mcpObj, ok := mcp.Value.(*hujson.Object)
	if !ok {
		d.errorf(mcp.StartOffset, `"mcp" must be an object mapping server names to entries, got %s`, kindName(mcp))
		return nil, entries, d.errs, d
	}
	var names []string
	for i := range mcpObj.Members {
		m := &mcpObj.Members[i]
		name := memberName(m)
		switch {
		case name == "":
			d.errorf(m.Name.StartOffset, "server name must not be empty")
			continue
		case entries[name] != nil:
			d.errorf(m.Name.StartOffset, "duplicate server %q", name)
			continue
		}
		fe := d.entry(name, m)
		if fe == nil {
			continue
		}
		entries[name] = fe
		names = append(names, name)
	}
	return names, entries, d.errs, d
}

// entry decodes one server definition. It returns nil when the value is not
// even an object.
func (d *decoder) entry(name string, m *hujson.ObjectMember) *fileEntry {
	val := &m.Value
	obj, ok := val.Value.(*hujson.Object)
	if !ok {
		d.errorf(val.StartOffset, "server %q must be an object, got %s", name, kindName(val))
		return nil
	}
	fields := map[string]*hujson.Value{}
	keys := map[string]int{} // field name -> offset of its key
	var order []string
	for i := range obj.Members {
		f := &obj.Members[i]
		fname := memberName(f)
		if _, dup := fields[fname]; dup {
			d.errorf(f.Name.StartOffset, "duplicate field %q", fname)
			continue
		}
		fields[fname] = &f.Value
		keys[fname] = f.Name.StartOffset
		order = append(order, fname)
	}

	e := &Entry{Name: name, Enabled: true, Source: d.src.path, Pos: d.src.pos(m.Name.StartOffset)}
	fe := &fileEntry{entry: e, lenient: d.lenient}
	if d.lenient { // only opencode's files merge field by field
		fe.keys = make(map[string]bool, len(fields))
		for f := range fields {
			fe.keys[f] = true
		}
	}
	enabledOK := true
	if v := fields["enabled"]; v != nil {
		e.Enabled, enabledOK = d.boolean("enabled", v)
		if !enabledOK {
			e.Enabled = true
		}
	}
	if len(fields) == 1 && fields["enabled"] != nil {
		if !enabledOK {
			return nil // reported; nothing to merge
		}
		fe.bare = true
		return fe
	}

	// Type decides which fields are valid.
	d.typos = map[string]bool{}
	all := append(append(append([]string{}, commonFields...), localFields...), remoteFields...)
	for _, f := range order {
		if !slices.Contains(all, f) && suggest(f, all) == "type" && !d.lenient {
			d.typos["type"] = true
		}
	}
	typ := ""
	if v := fields["type"]; v == nil && d.typos["type"] {
		// already reported as a misspelt field
	} else if v == nil {
		d.errorf(m.Name.StartOffset, `server %q is missing "type"; set it to "local" or "remote"`, name)
	} else if lit, ok := v.Value.(hujson.Literal); !ok || lit.Kind() != '"' {
		d.errorf(v.StartOffset, `"type" must be "local" or "remote", got %s`, kindName(v))
	} else if s := litString(lit); s != TypeLocal && s != TypeRemote {
		d.errorf(v.StartOffset, `"type" must be "local" or "remote", got %q`, s)
	} else {
		typ = s
	}
	e.Type = typ

	valid := all
	switch typ {
	case TypeLocal:
		valid = append(append([]string{}, commonFields...), localFields...)
	case TypeRemote:
		valid = append(append([]string{}, commonFields...), remoteFields...)
	}
	for _, f := range order {
		switch {
		case slices.Contains(valid, f):
		case typ == TypeLocal && slices.Contains(remoteFields, f):
			d.unknownField(keys[f], `%q is only valid for remote servers (this one has "type": "local")`, f)
		case typ == TypeRemote && slices.Contains(localFields, f):
			d.unknownField(keys[f], `%q is only valid for local servers (this one has "type": "remote")`, f)
		default:
			d.unknownField(keys[f], "unknown field %q%s", f, didYouMean(f, valid))
			if m := suggest(f, valid); m != "" && !d.lenient {
				d.typos[m] = true
			}
		}
	}

	if v := fields["timeout"]; v != nil {
		if ms, ok := d.positiveInt("timeout", "a number of milliseconds", "a positive whole number of milliseconds", v, maxTimeoutMillis); ok {
			e.Timeout = time.Duration(ms) * time.Millisecond
		}
	}
	if v := fields["maxMessageSize"]; v != nil {
		if n, ok := d.positiveInt("maxMessageSize", "a number of bytes", "a whole number of bytes from 1024 to 2^40", v, limit.MaxMessageSize); ok {
			if n < 1024 {
				d.errorf(v.StartOffset, "%q must be %s, got %d", "maxMessageSize", "a whole number of bytes from 1024 to 2^40", n)
			} else {
				e.MaxMessageSize = n
			}
		}
	}

	switch typ {
	case TypeLocal:
		d.local(fe, m, fields)
	case TypeRemote:
		d.remote(fe, m, fields)
	}
	return fe
}

func (d *decoder) local(fe *fileEntry, m *hujson.ObjectMember, fields map[string]*hujson.Value) {
	e := fe.entry
	const example = `e.g. ["npx", "-y", "some-mcp-server"]`
	if v := fields["command"]; v == nil && d.typos["command"] {
		// already reported as a misspelt field
	} else if v == nil {
		d.errorf(m.Name.StartOffset, `server %q is missing "command"; set it to the program and its arguments, %s`, e.Name, example)
	} else if arr, ok := v.Value.(*hujson.Array); !ok {
		d.errorf(v.StartOffset, `"command" must be an array of strings, got %s`, kindName(v))
	} else if len(arr.Elements) == 0 {
		d.errorf(v.StartOffset, `"command" must not be empty; give the program and its arguments, %s`, example)
	} else {
		cmd := make([]string, 0, len(arr.Elements))
		good := true
		for i := range arr.Elements {
			s, ok := d.str(fe, `elements of "command"`, &arr.Elements[i])
			good = good && ok
			cmd = append(cmd, s)
		}
		if good {
			e.Command = cmd
		}
	}
	if v := fields["environment"]; v != nil {
		e.Environment = d.stringMap(fe, "environment", v)
	}
	if v := fields["cwd"]; v != nil {
		e.Cwd = d.localPath(fe, "cwd", v)
	}
	if v := fields["envFile"]; v != nil {
		// Only the path: the manager reads the file when it starts the
		// server, so its values never enter the config.
		e.EnvFile = d.localPath(fe, "envFile", v)
	}
}

// localPath reads a path field ("cwd", "envFile"): substituted, "~/"
// expanded, relative to the config file's directory, cleaned; "" when
// empty or after reporting a problem.
func (d *decoder) localPath(fe *fileEntry, field string, v *hujson.Value) string {
	s, ok := d.str(fe, `"`+field+`"`, v)
	if !ok || s == "" {
		return ""
	}
	p, ok := d.expandHome(s)
	if !ok {
		d.errorf(v.StartOffset, `%q %q starts with ~ but the home directory is unknown; use an absolute path`, field, s)
		return ""
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(d.src.path), p)
	}
	return filepath.Clean(p)
}

func (d *decoder) remote(fe *fileEntry, m *hujson.ObjectMember, fields map[string]*hujson.Value) {
	e := fe.entry
	if v := fields["url"]; v == nil && d.typos["url"] {
		// already reported as a misspelt field
	} else if v == nil {
		d.errorf(m.Name.StartOffset, `server %q is missing "url"; set it to the server's http(s) endpoint`, e.Name)
	} else if s, ok := d.str(fe, `"url"`, v); ok {
		if !isHTTPURL(s, false) {
			d.errorf(v.StartOffset, `"url" must be an absolute http or https URL, got %s`, shown(v, s))
		} else {
			e.URL = s
		}
	}
	if v := fields["headers"]; v != nil {
		e.Headers = d.stringMap(fe, "headers", v)
	}
	e.OAuth = &OAuth{}
	v := fields["oauth"]
	if v == nil {
		return
	}
	switch v.Value.Kind() {
	case 'f':
		e.OAuth, e.OAuthDisabled = nil, true
		return
	case 't':
		d.errorf(v.StartOffset, `"oauth": true is not valid; omit "oauth" for automatic OAuth, or give an object such as {"clientId": "..."}`)
		return
	case '{':
	default:
		d.errorf(v.StartOffset, `"oauth" must be an object or false, got %s`, kindName(v))
		return
	}
	obj := v.Value.(*hujson.Object)
	o := e.OAuth
	seen := map[string]bool{}
	if d.lenient {
		fe.oauthKeys = seen
	}
	var redirect *hujson.Value
	for i := range obj.Members {
		f := &obj.Members[i]
		name := memberName(f)
		if seen[name] {
			d.errorf(f.Name.StartOffset, "duplicate field %q", name)
			continue
		}
		seen[name] = true
		fv := &f.Value
		q := strconv.Quote(name)
		switch name {
		case "clientId":
			o.ClientID, _ = d.str(fe, q, fv)
		case "clientSecret":
			o.ClientSecret, _ = d.str(fe, q, fv)
		case "scope":
			o.Scope, _ = d.str(fe, q, fv)
		case "clientMetadataUrl":
			if s, ok := d.str(fe, q, fv); ok {
				if s != "" && !isHTTPURL(s, false) {
					d.errorf(fv.StartOffset, `"clientMetadataUrl" must be an absolute http or https URL, got %s`, shown(fv, s))
				} else {
					o.ClientMetadataURL = s
				}
			}
		case "callbackHost":
			if s, ok := d.str(fe, q, fv); ok {
				if h := strings.Trim(s, "[]"); h != "localhost" && net.ParseIP(h) == nil {
					d.errorf(fv.StartOffset, `"callbackHost" must be an IP address or "localhost" to listen on (for example "0.0.0.0" inside a container), got %s`, shown(fv, s))
				} else {
					o.CallbackHost = h
				}
			}
		case "resource":
			if fv.Value.Kind() == 'f' {
				o.OmitResource = true
			} else if s, ok := d.str(fe, q, fv); ok {
				if !isHTTPURL(s, false) {
					d.errorf(fv.StartOffset, `"resource" must be an absolute http or https URL, or false to send no resource indicator, got %s`, shown(fv, s))
				} else {
					o.Resource = s
				}
			}
		case "callbackPort":
			if n, ok := d.positiveInt("callbackPort", "a port number", "a port number from 1 to 65535", fv, 65535); ok {
				o.CallbackPort = int(n)
			}
		case "redirectUri":
			if s, ok := d.str(fe, q, fv); ok {
				if !isHTTPURL(s, true) {
					d.errorf(fv.StartOffset, `"redirectUri" must be an absolute http URL on a loopback host (127.0.0.1, localhost or [::1]), got %s`, shown(fv, s))
				} else {
					o.RedirectURI = s
					redirect = fv
				}
			}
		default:
			if !d.grantField(fe, o, name, fv) {
				d.unknownField(f.Name.StartOffset, "unknown field %q in \"oauth\"%s", name, didYouMean(name, oauthFields))
			}
		}
	}
	d.checkGrant(o, v.StartOffset)
	if redirect != nil && o.CallbackPort != 0 {
		u, _ := url.Parse(o.RedirectURI)
		if p := u.Port(); p != "" && p != strconv.Itoa(o.CallbackPort) {
			d.errorf(redirect.StartOffset, `"redirectUri" port %s does not match "callbackPort" %d; make them equal or drop one`, p, o.CallbackPort)
		}
	}
}

// isHTTPURL reports whether s is an absolute http(s) URL with a host. With
// loopback, only http on 127.0.0.1, localhost or [::1] is accepted.
func isHTTPURL(s string, loopback bool) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	if !loopback {
		return scheme == "http" || scheme == "https"
	}
	if scheme != "http" {
		return false
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	h := u.Hostname()
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && (ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv6loopback))
}

func (d *decoder) boolean(field string, v *hujson.Value) (bool, bool) {
	switch v.Value.Kind() {
	case 't':
		return true, true
	case 'f':
		return false, true
	}
	d.errorf(v.StartOffset, "%q must be true or false, got %s", field, kindName(v))
	return false, false
}

// positiveInt reads a whole number in 1..maxVal.
// what describes the expected type, rangeWhat the accepted values.
func (d *decoder) positiveInt(field, what, rangeWhat string, v *hujson.Value, maxVal int64) (int64, bool) {
	lit, ok := v.Value.(hujson.Literal)
	if !ok || lit.Kind() != '0' {
		d.errorf(v.StartOffset, "%q must be %s, got %s", field, what, kindName(v))
		return 0, false
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || f < 1 || f != math.Trunc(f) || f > float64(maxVal) {
		d.errorf(v.StartOffset, "%q must be %s, got %s", field, rangeWhat, lit)
		return 0, false
	}
	return int64(f), true
}

// str reads a string value and applies {env:...}/{file:...} substitution.
// what names the value in messages (already quoted where needed).
func (d *decoder) str(fe *fileEntry, what string, v *hujson.Value) (string, bool) {
	lit, ok := v.Value.(hujson.Literal)
	if !ok || lit.Kind() != '"' {
		d.errorf(v.StartOffset, "%s must be a string, got %s", mustBeSubject(what), kindName(v))
		return "", false
	}
	return d.substitute(fe, litString(lit), v.StartOffset), true
}

// shown quotes a value for an error message. When substitution changed it,
// the text as written is shown instead, so secrets pulled in by {env:...}
// or {file:...} never reach an error message.
func shown(v *hujson.Value, val string) string {
	raw := val
	if lit, ok := v.Value.(hujson.Literal); ok {
		raw = litString(lit)
	}
	if raw == val {
		return strconv.Quote(val)
	}
	return strconv.Quote(raw) + " (before substitution)"
}

// mustBeSubject turns `elements of "command"` into a grammatical subject.
func mustBeSubject(what string) string {
	if strings.HasPrefix(what, "elements of ") {
		return `each element of ` + strings.TrimPrefix(what, "elements of ")
	}
	return what
}

func (d *decoder) stringMap(fe *fileEntry, field string, v *hujson.Value) map[string]string {
	obj, ok := v.Value.(*hujson.Object)
	if !ok {
		d.errorf(v.StartOffset, "%q must be an object of strings, got %s", field, kindName(v))
		return nil
	}
	if len(obj.Members) == 0 {
		return nil // {} says nothing: as if absent (and written back so)
	}
	out := make(map[string]string, len(obj.Members))
	for i := range obj.Members {
		m := &obj.Members[i]
		k := memberName(m)
		if _, dup := out[k]; dup {
			d.errorf(m.Name.StartOffset, "duplicate key %q in %q", k, field)
			continue
		}
		if s, ok := d.str(fe, fmt.Sprintf("%q value %q", field, k), &m.Value); ok {
			out[k] = s
		}
	}
	return out
}

var substRE = regexp.MustCompile(`\{(env|file):([^{}]+)\}`)

// substitute replaces {env:VAR} and {file:path}. Failures are recorded on fe
// (they only matter if the entry ends up enabled) and leave the text as is.
func (d *decoder) substitute(fe *fileEntry, s string, off int) string {
	if !strings.Contains(s, "{") {
		return s
	}
	return substRE.ReplaceAllStringFunc(s, func(match string) string {
		sm := substRE.FindStringSubmatch(match)
		kind, arg := sm[1], sm[2]
		fail := func(cause error, format string, args ...any) string {
			fe.substErrs = append(fe.substErrs, &Error{
				Pos: d.src.pos(off),
				Msg: fmt.Sprintf("server %q: ", fe.entry.Name) + fmt.Sprintf(format, args...),
				Err: cause,
			})
			return match
		}
		if kind == "env" {
			if d.getenv != nil {
				if val, ok := d.getenv(arg); ok {
					return val
				}
			}
			return fail(nil, "environment variable %s is not set (used as %s); set it or change the config", arg, match)
		}
		p, ok := d.expandHome(arg)
		if !ok {
			return fail(nil, "cannot read %s: home directory is unknown", match)
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(d.src.path), p)
		}
		// A regular file only: a FIFO would block, a device never end.
		data, err := safefile.ReadRegular(p, maxSubstFile)
		if err != nil {
			return fail(err, "cannot read %s: %v", match, err)
		}
		return strings.TrimSpace(string(data))
	})
}

// expandHome expands a leading "~/" (or a lone "~"). ok is false when the
// path needs the home directory and none is known.
func (d *decoder) expandHome(p string) (string, bool) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, true
	}
	if d.home == "" {
		return p, false
	}
	return filepath.Join(d.home, p[1:]), true
}
