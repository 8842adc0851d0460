// Package paths picks mcplink's configuration and data directories for an
// operating system, as pure functions of (GOOS, environment, home
// directory), so the choice for every OS is tested on any OS.
//
// The choice is the same on Linux, macOS and Windows: the XDG layout under
// the home directory, which is what opencode (through the xdg-basedir npm
// package, which has no per-OS branches) and gh on macOS use, so
// mcplink's files sit beside theirs:
//
//	config  $XDG_CONFIG_HOME/mcplink, else <home>/.config/mcplink
//	data    $MCPLINK_DATA_DIR, else $XDG_DATA_HOME/mcplink, else <home>/.local/share/mcplink
//
// On Windows <home> is %USERPROFILE% (os.UserHomeDir), so the files are in
// C:\Users\<name>\.config\mcplink and C:\Users\<name>\.local\share\mcplink,
// not %APPDATA%. XDG_* values that are not absolute paths on that OS are
// ignored, as the XDG spec requires.
package paths

import "strings"

// ConfigHome returns the directory that holds mcplink's global config
// directory (the "mcplink" directory is below it): $XDG_CONFIG_HOME when
// absolute, else <home>/.config. It returns "" when home is empty and
// XDG_CONFIG_HOME does not decide.
func ConfigHome(goos string, getenv func(string) string, home string) string {
	if x := getenv("XDG_CONFIG_HOME"); x != "" && IsAbs(goos, x) {
		return x
	}
	if home == "" {
		return ""
	}
	return Join(goos, home, ".config")
}

// DataDir returns mcplink's data directory (credentials, locks):
// $MCPLINK_DATA_DIR, else $XDG_DATA_HOME/mcplink when absolute, else
// <home>/.local/share/mcplink. It returns "" when none can be determined.
func DataDir(goos string, getenv func(string) string, home string) string {
	if d := getenv("MCPLINK_DATA_DIR"); d != "" {
		return d
	}
	if x := getenv("XDG_DATA_HOME"); x != "" && IsAbs(goos, x) {
		return Join(goos, x, "mcplink")
	}
	if home == "" {
		return ""
	}
	return Join(goos, home, ".local", "share", "mcplink")
}

// IsAbs reports whether p is an absolute path on goos: on Windows a drive
// path (C:\ or C:/) or a UNC path (\\server\share); elsewhere a path that
// starts with a slash.
func IsAbs(goos, p string) bool {
	if goos != "windows" {
		return strings.HasPrefix(p, "/")
	}
	if len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') {
		c := p[0] | 0x20
		return c >= 'a' && c <= 'z'
	}
	return strings.HasPrefix(p, `\\`) || strings.HasPrefix(p, "//")
}

// Join joins path elements with goos's separator, without doubling a
// separator that dir already ends with. (filepath.Join does the same for the
// running OS; this takes the OS as an argument.)
func Join(goos, dir string, elem ...string) string {
	sep := "/"
	if goos == "windows" {
		sep = `\`
	}
	for _, e := range elem {
		if strings.HasSuffix(dir, "/") || strings.HasSuffix(dir, `\`) {
			dir += e
		} else {
			dir += sep + e
		}
	}
	return dir
}
