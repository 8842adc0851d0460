package manager

import (
	"errors"
	"strings"
	"testing"
)

// The Windows command resolution and cmd.exe quoting are pure functions, so
// they are tested here on every OS; proc_windows.go only wires them up.

func TestWindowsLookPath(t *testing.T) {
	files := map[string]bool{
		`C:\Program Files\nodejs\npx.cmd`:  true,
		`C:\Program Files\nodejs\node.exe`: true,
		`C:\Users\u\.local\bin\uvx.exe`:    true,
		`C:\tools\run.BAT`:                 true,
		`C:\tools\plain`:                   true, // no extension: not runnable by name
		`C:\tools\ver.1.2.exe`:             true,
		`D:\srv\server.py`:                 true,
		`.\npx.cmd`:                        true, // in the current directory: never found by name
	}
	isFile := func(p string) bool { return files[p] }
	path := `C:\Windows\system32;"C:\Program Files\nodejs";;C:\Users\u\.local\bin\;C:\tools`
	cases := []struct {
		name, pathext, want string
	}{
		{"npx", "", `C:\Program Files\nodejs\npx.cmd`},
		{"npx", ".COM;.EXE;.BAT;.CMD;.VBS", `C:\Program Files\nodejs\npx.cmd`},
		{"node", ".COM;.EXE;.BAT;.CMD", `C:\Program Files\nodejs\node.exe`},
		{"node.exe", "", `C:\Program Files\nodejs\node.exe`},
		{"uvx", ".exe", `C:\Users\u\.local\bin\uvx.exe`},
		{"run", "", `C:\tools\run.bat`},             // PATHEXT's case is used for the candidate ...
		{"run", ".BAT", `C:\tools\run.bat`},         // ... lowered, as os/exec does
		{"ver.1.2", ".exe", `C:\tools\ver.1.2.exe`}, // has a dot, but no such file: extensions are still tried
		{`D:\srv\server.py`, "", `D:\srv\server.py`},
		{`C:\tools\run`, ".bat", `C:\tools\run.bat`},
	}
	// The fake file system is case-sensitive where Windows is not; add the
	// lowered spellings the lookup produces.
	files[`C:\tools\run.bat`] = true
	for _, c := range cases {
		got, err := windowsLookPath(c.name, path, c.pathext, isFile)
		if err != nil || got != c.want {
			t.Errorf("windowsLookPath(%q, PATHEXT=%q) = %q, %v; want %q", c.name, c.pathext, got, err, c.want)
		}
	}

	for _, name := range []string{"plain", "npx.exe", "missing"} {
		_, err := windowsLookPath(name, path, "", isFile)
		var nf *CommandNotFoundError
		if !errors.As(err, &nf) || nf.Name != name || len(nf.Tried) != 4 || !strings.Contains(err.Error(), `full path in "command"`) {
			t.Errorf("windowsLookPath(%q): %v (%+v), want a CommandNotFoundError over 4 directories", name, err, nf)
		}
	}
	// The current directory is not searched, even with an empty PATH.
	if got, err := windowsLookPath("npx", "", "", isFile); err == nil {
		t.Errorf("found npx with an empty PATH: %q", got)
	}
	// PATHEXT entries without a leading dot are ignored, not used as suffixes.
	if got, err := windowsLookPath("npx", path, "cmd;;EXE", isFile); err == nil {
		t.Errorf("PATHEXT without dots found %q", got)
	}
	if _, err := windowsLookPath("", path, "", isFile); err == nil {
		t.Error("empty name: no error")
	}
}

func TestIsBatchFile(t *testing.T) {
	for p, want := range map[string]bool{
		`C:\n\npx.cmd`:      true,
		`C:\n\NPX.CMD`:      true,
		`C:\t\run.bat`:      true,
		`C:\t\run.bat .`:    true, // Windows strips trailing dots and spaces (CVE-2024-43402)
		`C:\t\run.bat. . .`: true,
		`C:\t\run.exe`:      false,
		`C:\t.cmd\run`:      false, // the dot is in a directory name
		`C:\t\run.cmdx`:     false,
		`run`:               false,
	} {
		if got := isBatchFile(p); got != want {
			t.Errorf("isBatchFile(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestBatchCommandLine(t *testing.T) {
	const cmdExe = `C:\Windows\system32\cmd.exe`
	const script = `C:\Program Files\nodejs\npx.cmd`
	prefix := `"` + cmdExe + `" /e:ON /v:OFF /d /c ""` + script + `"`
	cases := []struct {
		args []string
		want string // after prefix, before the closing quote
	}{
		{[]string{"-y", "@modelcontextprotocol/server-filesystem", `C:\srv\data`}, ` -y @modelcontextprotocol/server-filesystem C:\srv\data`},
		{nil, ``},
		{[]string{""}, ` ""`},
		{[]string{"a b"}, ` "a b"`},
		// Metacharacters stay inside quotes, where cmd.exe takes them as text.
		{[]string{"x&calc.exe"}, ` "x&calc.exe"`},
		{[]string{"a|b", "<in>", "(x)", "^"}, ` "a|b" "<in>" "(x)" "^"`},
		// A quote cannot end the quoted part: it is doubled.
		{[]string{`"&calc.exe`}, ` """&calc.exe"`},
		{[]string{`say "hi"`}, ` "say ""hi"""`},
		// Backslashes before a quote, and at the end of a quoted argument, double.
		{[]string{`a\"b`}, ` "a\\""b"`},
		{[]string{`C:\dir\`}, ` "C:\dir\\"`},
		{[]string{`C:\dir with space\`}, ` "C:\dir with space\\"`},
		// %VAR% is never expanded: each % is preceded by a zero-length %cd:~,%.
		{[]string{"%PATH%"}, ` "%%cd:~,%PATH%%cd:~,%"`},
		{[]string{"%CMDCMDLINE:~-1%&calc.exe"}, ` "%%cd:~,%CMDCMDLINE:~-1%%cd:~,%&calc.exe"`},
		// Delayed expansion is off (/v:OFF), but ! is quoted anyway.
		{[]string{"!x!"}, ` "!x!"`},
		{[]string{"héllo"}, ` héllo`},
		{[]string{"tab\there"}, ` "tab` + "\t" + `here"`},
	}
	for _, c := range cases {
		got, err := batchCommandLine(cmdExe, script, c.args)
		if err != nil {
			t.Errorf("batchCommandLine(%q): %v", c.args, err)
			continue
		}
		if want := prefix + c.want + `"`; got != want {
			t.Errorf("batchCommandLine(%q)\n got %s\nwant %s", c.args, got, want)
		}
		// Whatever the arguments, every cmd.exe metacharacter outside an
		// argument's quotes is absent: count quotes to find them.
		in := false
		for i, r := range got[len(prefix):] {
			if r == '"' {
				in = !in
				continue
			}
			if !in && strings.ContainsRune(`&|<>()^!`, r) {
				t.Errorf("batchCommandLine(%q): unquoted %q at %d in %s", c.args, r, i, got)
			}
		}
	}

	for _, args := range [][]string{{"ok", "line\nbreak"}, {"a\rb"}, {"nul\x00"}} {
		_, err := batchCommandLine(cmdExe, script, args)
		var be *BatchArgError
		if !errors.As(err, &be) || be.Script != script || !strings.Contains(err.Error(), "directly") {
			t.Errorf("batchCommandLine(%q): %v, want a BatchArgError", args, err)
		}
	}
	for _, bad := range []string{`C:\a"b.cmd`, `C:\dir\`} {
		if _, err := batchCommandLine(cmdExe, bad, nil); err == nil {
			t.Errorf("script %q accepted", bad)
		}
	}
}

func TestEnvValue(t *testing.T) {
	env := []string{"Path=C:\\a", "PATHEXT=.EXE", "OTHER=x=y", "PATH=C:\\b", "=C:=C:\\"}
	if got := envValue(env, "PATH"); got != `C:\b` {
		t.Errorf("PATH = %q, want the last of Path/PATH", got)
	}
	if got := envValue(env, "other"); got != "x=y" {
		t.Errorf("OTHER = %q", got)
	}
	if got := envValue(env, "MISSING"); got != "" {
		t.Errorf("MISSING = %q", got)
	}
}
