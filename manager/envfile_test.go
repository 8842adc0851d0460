package manager_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/manager"
)

// envReporter is a local entry whose process (sh, then this test binary
// as a stdio MCP server) first writes the values of API_KEY, MODE and
// MULTI, NUL-separated, to out.
func envReporter(t *testing.T, name, out, envFile string) *config.Entry {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("the server is started through sh")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &config.Entry{Name: name, Type: config.TypeLocal, Enabled: true, Timeout: 10 * time.Second,
		Source: "/p/mcplink.json", EnvFile: envFile,
		Command:     []string{"sh", "-c", `printf '%s\0' "$API_KEY" "$MODE" "$MULTI" > "$OUT" && exec "$0" -test.run='^$'`, exe},
		Environment: map[string]string{mcptest.EnvChild: mcptest.ModeStdio, "OUT": out, "MODE": "fromenv"}}
}

// reported reads what envReporter's process wrote.
func reported(t *testing.T, out string) []string {
	t.Helper()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

func writeEnv(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLocalEnvFile starts a real process: the envFile's variables reach
// it, under "environment" (which wins); the file is read again on every
// start, so a changed file applies on the next one; a missing file fails
// only that server, with an error naming the file, the entry and its
// config file, and the process is not started.
func TestLocalEnvFile(t *testing.T) {
	dir := t.TempDir()
	envPath := filepath.Join(dir, ".env")
	out := filepath.Join(dir, "out")
	writeEnv(t, envPath, "# the project's variables\nexport API_KEY='sk-1 #x'\nMODE=fromfile\nMULTI=\"a\\nb\"\n")
	e := envReporter(t, "withenv", out, envPath)
	m := newManager(t, manager.Options{}, e, local(t, "other", mcptest.ModeStdio))
	ctx := context.Background()

	st, _ := m.Connect(ctx, "withenv")
	wantStatus(t, st, manager.StatusConnected)
	if got, want := reported(t, out), []string{"sk-1 #x", "fromenv", "a\nb"}; !slices.Equal(got, want) {
		t.Fatalf("the server got %q, want %q", got, want)
	}

	// Changed between two starts: the next start sees the new values.
	writeEnv(t, envPath, "API_KEY=sk-2\n")
	if err := m.Disconnect("withenv"); err != nil {
		t.Fatal(err)
	}
	st, _ = m.Connect(ctx, "withenv")
	wantStatus(t, st, manager.StatusConnected)
	if got, want := reported(t, out), []string{"sk-2", "fromenv", ""}; !slices.Equal(got, want) {
		t.Fatalf("after the change the server got %q, want %q", got, want)
	}

	// Gone: this server fails, naming the file and the entry; the process
	// never starts (out is not written again); the other server is fine.
	if err := os.Remove(envPath); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	if err := m.Disconnect("withenv"); err != nil {
		t.Fatal(err)
	}
	st, _ = m.Connect(ctx, "withenv")
	wantStatus(t, st, manager.StatusFailed)
	want := "env file " + envPath + ` of server "withenv" does not exist; fix "envFile" in /p/mcplink.json`
	if st.Error != want {
		t.Errorf("error = %q\nwant    %q", st.Error, want)
	}
	var ee *manager.EnvFileError
	if !errors.As(st.Err, &ee) || ee.File != envPath || ee.Server != "withenv" || !errors.Is(ee, fs.ErrNotExist) {
		t.Errorf("Err = %#v, want an *EnvFileError for %s", st.Err, envPath)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the server was started without its envFile (%v)", err)
	}
	st, _ = m.Connect(ctx, "other")
	wantStatus(t, st, manager.StatusConnected)
}

// TestLocalEnvFileUnusable: a directory, a file over the bound and one
// with a NUL byte fail the server with what is wrong, and nothing starts.
func TestLocalEnvFileUnusable(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.env")
	writeEnv(t, big, "A="+strings.Repeat("x", 1<<20))
	nul := filepath.Join(dir, "nul.env")
	writeEnv(t, nul, "A=1\nB=x\x00y\n")
	for _, c := range []struct{ path, want string }{
		{dir, "is a directory, not a regular file"},
		{big, "is larger than 1048576 bytes"},
		{nul, "cannot be used: line 2 holds a NUL byte"},
	} {
		out := filepath.Join(dir, "out")
		m := newManager(t, manager.Options{}, envReporter(t, "s", out, c.path))
		st, _ := m.Connect(context.Background(), "s")
		wantStatus(t, st, manager.StatusFailed)
		if !strings.HasPrefix(st.Error, "env file "+c.path+` of server "s" `+c.want) {
			t.Errorf("%s: error = %q, want it to say %q", c.path, st.Error, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: the server was started", c.path)
		}
	}
}
