package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/cli"
)

// readme returns the repository's README.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// helpOf runs `mcplink <path...> --help` in-process with an environment of
// its own and returns what it printed.
func helpOf(t *testing.T, path []string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	f := cli.NewFactory(strings.NewReader(""), &out, &errOut)
	home := t.TempDir()
	f.Getenv = func(k string) string {
		switch k {
		case "HOME":
			return home
		case "XDG_CONFIG_HOME", "XDG_DATA_HOME", "MCPLINK_DATA_DIR":
			return filepath.Join(home, k)
		}
		return ""
	}
	f.HomeDir, f.WorkDir = home, home
	if code := cli.Run(context.Background(), f, append(append([]string{}, path...), "--help")); code != 0 {
		t.Fatalf("mcplink %s --help: exit %d: %s", strings.Join(path, " "), code, errOut.String())
	}
	return out.String()
}

var (
	backticked = regexp.MustCompile("`([^`]*)`")
	flagRe     = regexp.MustCompile(`--[a-z][a-z-]*`)
	wordRe     = regexp.MustCompile(`^[a-z][a-z-]*$`)
	aliasRe    = regexp.MustCompile("\\(`([a-z]+)`\\)")
)

// TestReadmeCommandTable: every command, alias and flag in the README's
// command table exists in that command's --help.
func TestReadmeCommandTable(t *testing.T) {
	text := readme(t)
	start := strings.Index(text, "\n## Commands\n")
	if start < 0 {
		t.Fatal("README has no ## Commands section")
	}
	section := text[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	rows := 0
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `mcplink") {
			continue
		}
		rows++
		// The first cell ends at the first unescaped "|" after the opening one.
		cell := line[1:]
		if i := regexp.MustCompile(`[^\\]\|`).FindStringIndex(cell); i != nil {
			cell = cell[:i[0]+1]
		}
		var path []string
		flags := map[string][]string{} // command path → flags named with it
		for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
			seg := m[1]
			if strings.HasPrefix(seg, "mcplink ") || seg == "mcplink" {
				path = nil
				for _, w := range strings.Fields(seg)[1:] {
					if !wordRe.MatchString(w) {
						break
					}
					path = append(path, w)
				}
			}
			key := strings.Join(path, " ")
			flags[key] = append(flags[key], flagRe.FindAllString(seg, -1)...)
			if _, ok := flags[key]; !ok {
				flags[key] = nil
			}
		}
		for key, fls := range flags {
			words := strings.Fields(key)
			// An argument word (`import opencode`) is harmless: --help
			// shows the command's help whatever the arguments.
			help := helpOf(t, words)
			for _, fl := range fls {
				if !regexp.MustCompile(`(?m)` + regexp.QuoteMeta(fl) + `\b`).MatchString(help) {
					t.Errorf("README names %s for `mcplink %s`, which its --help does not list:\n%s", fl, key, help)
				}
			}
			if a := aliasRe.FindStringSubmatch(cell); a != nil && len(words) == 1 {
				if !strings.Contains(help, "Aliases:") || !regexp.MustCompile(`\b`+a[1]+`\b`).MatchString(help[strings.Index(help, "Aliases:"):]) {
					t.Errorf("README gives `%s` as an alias of `mcplink %s`; --help does not", a[1], key)
				}
			}
		}
	}
	if rows < 10 {
		t.Fatalf("found %d command rows in the README; the table's format changed?", rows)
	}
}

// TestReadmeJSONCExamplesLoad: every jsonc block in the README is a config
// that loads, with the variables and files it names present.
func TestReadmeJSONCExamplesLoad(t *testing.T) {
	text := readme(t)
	blocks := regexp.MustCompile("(?s)```jsonc\n(.*?)```").FindAllStringSubmatch(text, -1)
	if len(blocks) < 2 {
		t.Fatalf("found %d jsonc blocks in the README", len(blocks))
	}
	envRe := regexp.MustCompile(`\{env:([A-Za-z_][A-Za-z0-9_]*)\}`)
	fileRe := regexp.MustCompile(`\{file:([^}]+)\}`)
	for i, b := range blocks {
		home := t.TempDir()
		dir := t.TempDir()
		for _, m := range fileRe.FindAllStringSubmatch(b[1], -1) {
			p := m[1]
			if strings.HasPrefix(p, "~/") {
				p = filepath.Join(home, p[2:])
			} else if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("secret-from-file\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		named := map[string]bool{}
		for _, m := range envRe.FindAllStringSubmatch(b[1], -1) {
			named[m[1]] = true
		}
		file := filepath.Join(dir, "mcplink.json")
		if err := os.WriteFile(file, []byte(b[1]), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(config.LoadOptions{
			File:    file,
			HomeDir: home,
			Getenv: func(k string) (string, bool) {
				if named[k] {
					return "value-of-" + k, true
				}
				return "", false
			},
		})
		if err != nil {
			t.Errorf("README jsonc block %d does not load: %v\n%s", i+1, err, b[1])
			continue
		}
		if len(cfg.Servers) == 0 {
			t.Errorf("README jsonc block %d defines no server", i+1)
		}
	}
}
