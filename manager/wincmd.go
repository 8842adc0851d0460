package manager

import (
	"errors"
	"fmt"
	"strings"
)

// The pure half of starting a local server on Windows: finding the program
// through PATH and PATHEXT, and quoting arguments for cmd.exe when the
// program is a batch file (npx.cmd, uvx.cmd shims). These functions take
// their inputs as arguments (no OS calls), so they are unit-tested on every
// OS; proc_windows.go wires them to the real environment and file system.

// defaultPathExt is what Windows (and os/exec) assume when PATHEXT is unset.
const defaultPathExt = ".com;.exe;.bat;.cmd"

// CommandNotFoundError reports a local server's command that is not on PATH.
type CommandNotFoundError struct {
	Name string
	// Tried lists the directories searched, in order.
	Tried []string
}

func (e *CommandNotFoundError) Error() string {
	return fmt.Sprintf("%s not found in PATH (%d directories searched); install it or give its full path in \"command\"", e.Name, len(e.Tried))
}

// windowsLookPath finds name the way cmd.exe and os/exec do on Windows: a
// name with a directory part (\, / or a drive colon) is only completed with
// an extension; a bare name is searched in each directory of path (';'
// separated). In every candidate the name as given is tried first when it
// has an extension, then name+ext for each ext of pathext (';' separated,
// case kept, entries without a leading dot ignored). The current directory
// is not searched (as os/exec since Go 1.19), so a file dropped there cannot
// hijack "npx". isFile reports whether a path is an existing regular file.
func windowsLookPath(name, path, pathext string, isFile func(string) bool) (string, error) {
	if name == "" {
		return "", errors.New("empty command name")
	}
	var exts []string
	if pathext == "" {
		pathext = defaultPathExt
	}
	for _, e := range strings.Split(pathext, ";") {
		e = strings.TrimSpace(e)
		if strings.HasPrefix(e, ".") && len(e) > 1 {
			exts = append(exts, strings.ToLower(e))
		}
	}
	find := func(file string) string {
		if winHasExt(file) && isFile(file) {
			return file
		}
		for _, e := range exts {
			if f := file + e; isFile(f) {
				return f
			}
		}
		return ""
	}
	if strings.ContainsAny(name, `:\/`) {
		if f := find(name); f != "" {
			return f, nil
		}
		return "", &CommandNotFoundError{Name: name}
	}
	var tried []string
	for _, dir := range strings.Split(path, ";") {
		dir = strings.Trim(strings.TrimSpace(dir), `"`) // PATH entries may be quoted
		if dir == "" {
			continue
		}
		tried = append(tried, dir)
		if f := find(winJoin(dir, name)); f != "" {
			return f, nil
		}
	}
	return "", &CommandNotFoundError{Name: name, Tried: tried}
}

// winHasExt reports whether the last element of a Windows path has an
// extension.
func winHasExt(file string) bool {
	i := strings.LastIndexByte(file, '.')
	return i >= 0 && strings.LastIndexAny(file, `:\/`) < i
}

// winJoin joins a directory and a file name with a backslash.
func winJoin(dir, file string) string {
	if strings.HasSuffix(dir, `\`) || strings.HasSuffix(dir, "/") {
		return dir + file
	}
	return dir + `\` + file
}

// isBatchFile reports whether Windows runs path through cmd.exe: its
// extension is .bat or .cmd, ignoring case and the trailing dots and spaces
// that Windows strips when it opens a file (CVE-2024-43402: "x.bat ." is a
// batch file too).
func isBatchFile(path string) bool {
	p := strings.TrimRight(path, ". ")
	i := strings.LastIndexByte(p, '.')
	if i < 0 || strings.LastIndexAny(p, `:\/`) > i {
		return false
	}
	ext := strings.ToLower(p[i:])
	return ext == ".bat" || ext == ".cmd"
}

// BatchArgError reports an argument that cannot be passed to a batch file
// safely (cmd.exe has no way to quote a line break or NUL).
type BatchArgError struct {
	Script string
	Index  int // index in the argument list (0 is the script itself)
	Reason string
}

func (e *BatchArgError) Error() string {
	return fmt.Sprintf("cannot run batch file %s: argument %d %s; run the program it wraps (node, python) directly in \"command\"", e.Script, e.Index, e.Reason)
}

// batchCommandLine returns the command line that runs script with args
// through cmdExe without letting cmd.exe interpret anything in them
// (BatBadBut, CVE-2024-24576): os/exec quotes arguments for
// CommandLineToArgvW, which cmd.exe does not use, so a "&" in an argument to
// npx.cmd would start another command (golang/go#27199, #69939).
//
// The shape is the one Rust's std settled on:
//
//	cmd.exe /e:ON /v:OFF /d /c ""<script>" <arg> <arg>"
//
// /d skips AutoRun commands, /v:OFF turns off !delayed! expansion, /e:ON
// keeps the extension the %-trick below relies on. Each argument that holds
// anything but [A-Za-z0-9#$*+-./:?@\_] (or is empty, or ends in a
// backslash) is put in double quotes, in which cmd.exe treats & | < > ( ) ^
// as text; an inner quote is doubled (""), backslashes before a quote are
// doubled as CommandLineToArgvW wants; and every % becomes %%cd:~,% — a
// zero-length substring of %cd% — so %VAR% is never expanded. Line breaks
// and NUL cannot be passed and are an error; so is a script name holding a
// quote or ending in a backslash (no valid file name does).
func batchCommandLine(cmdExe, script string, args []string) (string, error) {
	if strings.ContainsAny(script, "\"\x00\r\n") || strings.HasSuffix(script, `\`) {
		return "", &BatchArgError{Script: script, Index: 0, Reason: "is not a valid file name"}
	}
	var b strings.Builder
	b.WriteString(`"` + cmdExe + `" /e:ON /v:OFF /d /c ""`)
	b.WriteString(script)
	b.WriteString(`"`)
	for i, a := range args {
		if strings.ContainsAny(a, "\x00\r\n") {
			return "", &BatchArgError{Script: script, Index: i + 1, Reason: "contains a line break or NUL"}
		}
		b.WriteByte(' ')
		appendBatchArg(&b, a)
	}
	b.WriteString(`"`)
	return b.String(), nil
}

// batchSafe are the ASCII characters that need no quotes in a batch
// argument (besides letters and digits).
const batchSafe = `#$*+-./:?@\_`

func appendBatchArg(b *strings.Builder, a string) {
	quote := a == "" || strings.HasSuffix(a, `\`)
	for _, r := range a {
		if r < 0x80 && !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(batchSafe, r)) {
			quote = true
		}
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			quote = true
		}
	}
	if quote {
		b.WriteByte('"')
	}
	backslashes := 0
	for _, r := range a {
		switch r {
		case '\\':
			backslashes++
			b.WriteByte('\\')
			continue
		case '"':
			// n backslashes before a quote become 2n, then the quote is doubled.
			b.WriteString(strings.Repeat(`\`, backslashes))
			b.WriteByte('"')
		case '%':
			b.WriteString("%%cd:~,")
		}
		backslashes = 0
		b.WriteRune(r)
	}
	if quote {
		b.WriteString(strings.Repeat(`\`, backslashes))
		b.WriteByte('"')
	}
}

// envValue returns the last value of key in env ("K=V" entries), matching
// the key without regard to case as Windows does.
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		k, val, ok := strings.Cut(kv, "=")
		if ok && strings.EqualFold(k, key) {
			v = val
		}
	}
	return v
}
