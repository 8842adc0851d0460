// Package envfile reads dotenv files ("envFile" of a stdio server: VS
// Code's, Cursor's and mcplink's own) with VS Code's rules. It is the one
// parser: clients/ reads other clients' envFile with it when their file is
// used with --config, and the manager reads a local entry's "envFile"
// with it each time the server starts.
package envfile

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/mcplink/mcplink/internal/safefile"
)

// MaxSize bounds an envFile: the size mcplink's own {file:} values may
// have.
const MaxSize = 1 << 20

// NULError reports a line holding a NUL byte, which no environment
// variable can hold.
type NULError struct {
	Line int // 1-based
}

func (e *NULError) Error() string {
	return fmt.Sprintf("line %d holds a NUL byte, which no environment variable can hold", e.Line)
}

// Read reads the envFile at path: a regular file (a FIFO or a device is a
// *safefile.NotRegularError, never opened for a read that could block) of
// at most MaxSize bytes (*safefile.TooLargeError), parsed by Parse. A
// missing file is an error wrapping fs.ErrNotExist.
func Read(path string) (map[string]string, error) {
	data, err := safefile.ReadRegular(path, MaxSize)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Parse reads a dotenv file as VS Code does (its parseEnvFile): one
// KEY=VALUE per line (KEY: VALUE too), an optional "export " before the
// key, blank lines and lines starting with # skipped, a # outside quotes
// ending the value, and a value in "double", 'single' or `back` quotes
// taken without them — in double quotes \n and \r are a newline and a
// carriage return. Lines of no such shape (no separator, no key) are
// skipped, as VS Code and dotenv skip them. A later line wins. Values are
// never expanded. A NUL byte is a *NULError naming the line.
func Parse(data []byte) (map[string]string, error) {
	vars := map[string]string{}
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	data = bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))
	for i, raw := range strings.Split(string(data), "\n") {
		if strings.ContainsRune(raw, 0) {
			return nil, &NULError{Line: i + 1}
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
