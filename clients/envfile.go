package clients

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/safefile"
)

// maxEnvFile bounds an "envFile": the size mcplink's own {file:} values
// may have.
const maxEnvFile = 1 << 20

// withEnvFile adds the variables of a stdio server's "envFile" to e's
// environment, under its explicit "env" (which wins, as in VS Code); false
// after reporting a problem.
func (r *reader) withEnvFile(e *config.Entry, server, path, base string) bool {
	vars, ok := r.envFile(server, path, base)
	if !ok {
		return false
	}
	for k, v := range vars {
		if _, set := e.Environment[k]; set {
			continue
		}
		if e.Environment == nil {
			e.Environment = map[string]string{}
		}
		e.Environment[k] = v
	}
	return true
}

// envFile returns the variables of a stdio server's "envFile" (VS Code's
// and Cursor's file of KEY=VALUE lines), its path expanded like the other
// values and, when relative, taken from base (where a relative "cwd" is
// taken from). ok is false after reporting a problem. For import
// (Vars.Translate) it is a problem: the file's values, secrets as a rule,
// would be copied into mcplink's config, where import copies references
// only.
func (r *reader) envFile(server, path, base string) (vars map[string]string, ok bool) {
	if r.vars.Translate {
		r.errorf(server, `"envFile" cannot be copied: mcplink would have to write the file's values (secrets, as a rule) into its config; give them as "environment" entries of {env:NAME} references after the import, or use this file with --config, which reads the envFile`)
		return nil, false
	}
	p := r.expand(server, "envFile", path)
	if strings.HasPrefix(p, "~/") && r.vars.Home != "" {
		p = filepath.Join(r.vars.Home, p[2:])
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	p = filepath.Clean(p)
	data, err := safefile.ReadRegular(p, maxEnvFile)
	if err != nil {
		var nr *safefile.NotRegularError
		var tl *safefile.TooLargeError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			r.errorf(server, `"envFile" %s does not exist; create it or remove "envFile"`, p)
		case errors.As(err, &nr), errors.As(err, &tl):
			r.errorf(server, `"envFile": %v`, err)
		default:
			r.errorf(server, `"envFile": cannot read %s: %v`, p, err)
		}
		return nil, false
	}
	vars, err = parseEnvFile(data)
	if err != nil {
		r.errorf(server, `"envFile" %s: %v`, p, err)
		return nil, false
	}
	return vars, true
}

// parseEnvFile reads a dotenv file as VS Code does (its parseEnvFile):
// one KEY=VALUE per line (KEY: VALUE too), an optional "export " before
// the key, blank lines and lines starting with # skipped, a # outside
// quotes ending the value, and a value in "double", 'single' or `back`
// quotes taken without them — in double quotes \n and \r are a newline
// and a carriage return. Lines of no such shape (no separator, no key)
// are skipped, as VS Code and dotenv skip them. A later line wins. Values
// are never expanded. A NUL byte, which no environment can hold, is an
// error naming the line.
func parseEnvFile(data []byte) (map[string]string, error) {
	vars := map[string]string{}
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	data = bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))
	for i, raw := range strings.Split(string(data), "\n") {
		if strings.ContainsRune(raw, 0) {
			return nil, fmt.Errorf("line %d holds a NUL byte, which no environment variable can hold", i+1)
		}
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "export "); ok {
			line = strings.TrimSpace(rest)
		}
		sep := indexOutsideQuotes(line, "=:")
		if sep < 0 {
			continue
		}
		key, value := strings.TrimSpace(line[:sep]), strings.TrimSpace(line[sep+1:])
		if key == "" {
			continue
		}
		if c := indexOutsideQuotes(value, "#"); c >= 0 {
			value = strings.TrimSpace(value[:c])
		}
		if n := len(value); n >= 2 && strings.ContainsRune("\"'`", rune(value[0])) && value[n-1] == value[0] {
			q := value[0]
			value = value[1 : n-1]
			if q == '"' {
				value = strings.NewReplacer(`\n`, "\n", `\r`, "\r").Replace(value)
			}
		}
		vars[key] = value
	}
	return vars, nil
}

// indexOutsideQuotes returns the index of the first byte of s in any that
// is outside quotes ("…", '…', `…`; a quote preceded by a backslash does
// not end one), -1 if none.
func indexOutsideQuotes(s, any string) int {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote && s[i-1] != '\\' {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case strings.IndexByte(any, c) >= 0:
			return i
		}
	}
	return -1
}
