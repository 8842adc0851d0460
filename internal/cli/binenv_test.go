package cli_test

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/testenv"
)

// homeEnv is a test environment (testenv) whose home is dir, laid out like
// a script's $WORK: config under dir/.config, data under dir/.data with
// mcplink's data directory the default below it; extra (K=V) is added.
func homeEnv(t testing.TB, dir string, extra ...string) []string {
	t.Helper()
	return testenv.Env(t, append([]string{"MCPLINK_DATA_DIR=", "HOME=" + dir,
		"XDG_CONFIG_HOME=" + filepath.Join(dir, ".config"), "XDG_DATA_HOME=" + filepath.Join(dir, ".data"),
	}, extra...)...)
}

// binEnv is where a test runs the real mcplink binary: this test binary,
// which testscript.Main put first on PATH as mcplink (TestMain runs it as
// mcplink under that name). Commands run in dir with env.
type binEnv struct {
	dir string
	env []string
}

// cmd is `mcplink args...` in e's directory and environment; ctx ends it,
// and Wait then waits at most 5 s for its output.
func (e binEnv) cmd(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, "mcplink", args...)
	c.Env, c.Dir, c.WaitDelay = e.env, e.dir, 5*time.Second
	return c
}

// run runs `mcplink args...` and returns its stdout, stderr and error (an
// *exec.ExitError for an exit status other than 0). It fails t when the
// command does not end within 30 s.
func (e binEnv) run(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return e.runIn(t, nil, args...)
}

// runIn is run with stdin (nil: none).
func (e binEnv) runIn(t testing.TB, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := e.cmd(ctx, args...)
	c.Stdin = stdin
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err = c.Run()
	if ctx.Err() != nil {
		t.Fatalf("mcplink %s did not end within 30s; stderr:\n%s", strings.Join(args, " "), errb.String())
	}
	return out.String(), errb.String(), err
}
