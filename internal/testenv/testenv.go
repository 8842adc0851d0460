// Package testenv builds the environment of every process a test starts,
// from scratch: PATH, and a home, XDG base directories and an mcplink data
// directory of the test's own, under its temporary directory. Nothing else
// is inherited, so a test never reads or writes the files of the user
// running it (their config, credentials, keyring or browser profile),
// whatever MCPLINK_*, HOME or XDG_* say in the test's environment.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Dirs are the directories of one test environment.
type Dirs struct {
	Root       string // the directory everything below is in
	Home       string // HOME
	ConfigHome string // XDG_CONFIG_HOME
	DataHome   string // XDG_DATA_HOME
	CacheHome  string // XDG_CACHE_HOME
	StateHome  string // XDG_STATE_HOME
	RuntimeDir string // XDG_RUNTIME_DIR (mode 0700)
	Data       string // MCPLINK_DATA_DIR
}

// UserVars are the variables that point at a user's files: Env sets each
// of them (to a directory of the test's own, or empty) and inherits none.
var UserVars = []string{
	"HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR",
	"MCPLINK_DATA_DIR", "MCPLINK_CONFIG", "MCPLINK_CREDENTIALS_STORE",
}

// New creates the directories of a test environment under a new temporary
// directory of t.
func New(t testing.TB) Dirs {
	t.Helper()
	d, err := In(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// In creates the directories of a test environment under root, an existing
// directory (a testscript work directory, say).
func In(root string) (Dirs, error) {
	d := Dirs{
		Root:       root,
		Home:       filepath.Join(root, "home"),
		ConfigHome: filepath.Join(root, "home", ".config"),
		DataHome:   filepath.Join(root, "home", ".local", "share"),
		CacheHome:  filepath.Join(root, "home", ".cache"),
		StateHome:  filepath.Join(root, "home", ".local", "state"),
		RuntimeDir: filepath.Join(root, "run"),
		Data:       filepath.Join(root, "home", ".local", "share", "mcplink"),
	}
	for _, dir := range []string{d.ConfigHome, d.DataHome, d.CacheHome, d.StateHome, d.RuntimeDir, d.Data} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return Dirs{}, err
		}
	}
	return d, nil
}

// Vars returns d's variables (K=V): PATH (the only one inherited), HOME,
// the XDG base directories, MCPLINK_DATA_DIR, an empty MCPLINK_CONFIG (the
// global config is then the one in d.ConfigHome) and
// MCPLINK_CREDENTIALS_STORE=file (no keyring: there is no D-Bus session in
// it either), with extra (K=V) added; a later value of a variable replaces
// an earlier one.
func (d Dirs) Vars(extra ...string) []string {
	base := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + d.Home,
		"XDG_CONFIG_HOME=" + d.ConfigHome,
		"XDG_DATA_HOME=" + d.DataHome,
		"XDG_CACHE_HOME=" + d.CacheHome,
		"XDG_STATE_HOME=" + d.StateHome,
		"XDG_RUNTIME_DIR=" + d.RuntimeDir,
		"MCPLINK_DATA_DIR=" + d.Data,
		"MCPLINK_CONFIG=",
		"MCPLINK_CREDENTIALS_STORE=file",
	}
	if tmp := os.Getenv("TMPDIR"); tmp != "" {
		base = append(base, "TMPDIR="+tmp)
	}
	return merge(append(base, extra...))
}

// Env returns the environment of a process started by test t: New(t).Vars(extra...).
func Env(t testing.TB, extra ...string) []string {
	t.Helper()
	return New(t).Vars(extra...)
}

// merge keeps the last value of each variable, in the order of first
// appearance.
func merge(kvs []string) []string {
	idx := map[string]int{}
	var out []string
	for _, kv := range kvs {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// Sentinel points every variable of UserVars, in this process (t.Setenv),
// into a new empty directory — the session of a user whose files the tests
// must not touch: HOME, the XDG directories and MCPLINK_DATA_DIR are paths
// in it, MCPLINK_CONFIG a file in it, MCPLINK_CREDENTIALS_STORE "file". It
// returns the check, to call after running child processes, that fails t
// when anything was created in that directory.
func Sentinel(t *testing.T) (check func()) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range UserVars {
		v := filepath.Join(dir, strings.ToLower(k))
		switch k {
		case "MCPLINK_CONFIG":
			v = filepath.Join(dir, "mcplink.json")
		case "MCPLINK_CREDENTIALS_STORE":
			v = "file"
		}
		t.Setenv(k, v)
	}
	return func() {
		t.Helper()
		var found []string
		_ = filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
			if p != dir {
				found = append(found, p)
			}
			return err
		})
		if len(found) > 0 {
			t.Errorf("child processes wrote to the user's directories (HOME, XDG_*, MCPLINK_*):\n  %s", strings.Join(found, "\n  "))
		}
	}
}

// Setenv is Env for a test that runs mcplink in its own process: it sets
// (t.Setenv) every variable of Env(t, extra...) but PATH.
func Setenv(t *testing.T, extra ...string) {
	t.Helper()
	for _, kv := range Env(t, extra...) {
		if k, v, _ := strings.Cut(kv, "="); k != "PATH" {
			t.Setenv(k, v)
		}
	}
}

// Kept are the variables Isolate keeps besides PATH and TMPDIR: whether
// the tests run under CI (which turns a missing browser, keyring or
// identity provider from a skip into a failure), where a coverage run
// writes its data, and the Go toolchain's settings (tests build binaries).
var Kept = []string{
	"CI", "GOCOVERDIR",
	"GOROOT", "GOTOOLCHAIN", "GOFLAGS", "GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE",
	"GONOPROXY", "GOINSECURE", "GOTMPDIR", "CGO_ENABLED", "GOEXPERIMENT",
}

// goFiles returns GOCACHE, GOPATH, GOMODCACHE and GOENV as the go command
// would take them in this environment, defaults spelled out: under a new
// HOME the defaults would move, and every test build would start from an
// empty cache and no module downloads.
func goFiles() []string {
	get := func(k string, def func() string) string {
		if v := os.Getenv(k); v != "" {
			return k + "=" + v
		}
		return k + "=" + def()
	}
	home, _ := os.UserHomeDir()
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		gopath = filepath.Join(home, "go")
	}
	first, _, _ := strings.Cut(gopath, string(os.PathListSeparator))
	return []string{
		get("GOCACHE", func() string {
			d, _ := os.UserCacheDir()
			return filepath.Join(d, "go-build")
		}),
		"GOPATH=" + gopath,
		get("GOMODCACHE", func() string { return filepath.Join(first, "pkg", "mod") }),
		get("GOENV", func() string {
			d, _ := os.UserConfigDir()
			return filepath.Join(d, "go", "env")
		}),
	}
}

// Isolate replaces this whole process's environment with a fresh one from
// In (under a new temporary directory) plus Kept, and returns the function
// that removes that directory. It is for a TestMain whose package's code
// starts processes with the process's own environment — the manager hands
// os.Environ() to a local server, as it must for a user — so that nothing
// any of its tests starts can see the user's HOME, XDG_* or MCPLINK_*.
func Isolate() (cleanup func(), err error) {
	root, err := os.MkdirTemp("", "mcplink-test-env-")
	if err != nil {
		return nil, err
	}
	d, err := In(root)
	if err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	extra := goFiles()
	for _, k := range Kept {
		if v, ok := os.LookupEnv(k); ok {
			extra = append(extra, k+"="+v)
		}
	}
	vars := d.Vars(extra...)
	os.Clearenv()
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			os.RemoveAll(root)
			return nil, err
		}
	}
	return func() { os.RemoveAll(root) }, nil
}

// Main runs m in an environment from Isolate and exits with its status.
func Main(m *testing.M) {
	cleanup, err := Isolate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(2)
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}
