package paths

import (
	"path/filepath"
	"runtime"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDirsPerOS(t *testing.T) {
	cases := []struct {
		goos, home   string
		env          map[string]string
		config, data string
	}{
		// Linux and macOS: ~/.config and ~/.local/share, as opencode and gh.
		{"linux", "/home/u", nil, "/home/u/.config", "/home/u/.local/share/mcplink"},
		{"darwin", "/Users/u", nil, "/Users/u/.config", "/Users/u/.local/share/mcplink"},
		// Windows: the same layout under %USERPROFILE%, as opencode there.
		{"windows", `C:\Users\u`, nil, `C:\Users\u\.config`, `C:\Users\u\.local\share\mcplink`},
		{"windows", `C:\Users\u\`, nil, `C:\Users\u\.config`, `C:\Users\u\.local\share\mcplink`},
		// XDG_* override on every OS when absolute for that OS.
		{"darwin", "/Users/u", map[string]string{"XDG_CONFIG_HOME": "/cfg", "XDG_DATA_HOME": "/data"}, "/cfg", "/data/mcplink"},
		{"windows", `C:\Users\u`, map[string]string{"XDG_CONFIG_HOME": `D:\cfg`, "XDG_DATA_HOME": `\\srv\share\data`}, `D:\cfg`, `\\srv\share\data\mcplink`},
		{"windows", `C:\Users\u`, map[string]string{"XDG_CONFIG_HOME": `d:/cfg`, "XDG_DATA_HOME": "//srv/share"}, `d:/cfg`, `//srv/share\mcplink`},
		// ... and are ignored when relative, or Unix-style on Windows (an MSYS shell's /c/...).
		{"linux", "/home/u", map[string]string{"XDG_CONFIG_HOME": "cfg", "XDG_DATA_HOME": "data"}, "/home/u/.config", "/home/u/.local/share/mcplink"},
		{"windows", `C:\Users\u`, map[string]string{"XDG_CONFIG_HOME": "/c/cfg", "XDG_DATA_HOME": `data`}, `C:\Users\u\.config`, `C:\Users\u\.local\share\mcplink`},
		{"windows", `C:\Users\u`, map[string]string{"XDG_CONFIG_HOME": `C:cfg`}, `C:\Users\u\.config`, `C:\Users\u\.local\share\mcplink`},
		// MCPLINK_DATA_DIR wins over everything, as given.
		{"windows", `C:\Users\u`, map[string]string{"MCPLINK_DATA_DIR": `E:\mcp`, "XDG_DATA_HOME": `D:\x`}, `C:\Users\u\.config`, `E:\mcp`},
		{"linux", "/home/u", map[string]string{"MCPLINK_DATA_DIR": "rel", "XDG_DATA_HOME": "/x"}, "/home/u/.config", "rel"},
		// No home: only what the environment says.
		{"linux", "", nil, "", ""},
		{"windows", "", map[string]string{"XDG_CONFIG_HOME": `C:\c`, "XDG_DATA_HOME": `C:\d`}, `C:\c`, `C:\d\mcplink`},
	}
	for _, c := range cases {
		if got := ConfigHome(c.goos, env(c.env), c.home); got != c.config {
			t.Errorf("ConfigHome(%s, %v, %q) = %q, want %q", c.goos, c.env, c.home, got, c.config)
		}
		if got := DataDir(c.goos, env(c.env), c.home); got != c.data {
			t.Errorf("DataDir(%s, %v, %q) = %q, want %q", c.goos, c.env, c.home, got, c.data)
		}
	}
}

// TestJoinMatchesFilepath: on the running OS, Join is filepath.Join.
func TestJoinMatchesFilepath(t *testing.T) {
	home := filepath.Join(string(filepath.Separator)+"home", "u")
	if runtime.GOOS == "windows" {
		home = `C:\Users\u`
	}
	if got, want := Join(runtime.GOOS, home, ".local", "share", "mcplink"), filepath.Join(home, ".local", "share", "mcplink"); got != want {
		t.Errorf("Join = %q, filepath.Join = %q", got, want)
	}
	if IsAbs(runtime.GOOS, home) != filepath.IsAbs(home) || IsAbs(runtime.GOOS, "rel") != filepath.IsAbs("rel") {
		t.Error("IsAbs disagrees with filepath.IsAbs on this OS")
	}
}
