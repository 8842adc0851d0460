//go:build !windows

package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/internal/testwait"
)

// interruptEnv runs the real mcplink (this test binary, first on PATH via
// testscript.Main) with an environment built from scratch (testenv) and a config with
// a remote server ("web", in-process, recording every method it handles)
// and a local one ("local", a subprocess recording them to a file).
type interruptEnv struct {
	dir     string
	env     []string
	web     *mcptest.HTTPServer
	methods string // the local server's record
	hung    string // the hang server's record (what it read)
}

func newInterruptEnv(t *testing.T) *interruptEnv {
	t.Helper()
	web, err := mcptest.StartHTTP(mcptest.HTTPOptions{RecordMethods: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(web.Close)
	dir := t.TempDir()
	methods, hung := filepath.Join(dir, "methods.txt"), filepath.Join(dir, "hung.txt")
	cfg := filepath.Join(dir, "mcplink.json")
	body := fmt.Sprintf(`{"mcp": {
  "web": {"type": "remote", "url": %q},
  "local": {"type": "local", "command": ["mcptest-child", "stdio"], "environment": {%q: %q}},
  "hang": {"type": "local", "command": ["mcptest-child", "hang"], "environment": {%[2]q: %[4]q}}
}}`, web.URL, mcptest.EnvMethodsFile, methods, hung)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	// PATH: testscript.Main put mcplink and mcptest-child first.
	return &interruptEnv{dir: dir, web: web, methods: methods, hung: hung, env: testenv.Env(t, "MCPLINK_CONFIG="+cfg)}
}

func (e *interruptEnv) command(ctx context.Context, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	c := exec.CommandContext(ctx, "mcplink", args...)
	c.Env, c.Dir, c.WaitDelay = e.env, e.dir, 5*time.Second
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	return c, &out, &errb
}

// localMethods returns what the local server recorded.
func (e *interruptEnv) localMethods() []string {
	b, _ := os.ReadFile(e.methods)
	return strings.Fields(string(b))
}

// hungMethods returns what the hang server read, over every run so far.
func (e *interruptEnv) hungMethods() []string {
	b, _ := os.ReadFile(e.hung)
	return strings.Fields(string(b))
}

// waitFor polls got (another process's record) until it holds want, for at
// most d.
func waitFor(got func() []string, want string, d time.Duration) bool {
	return testwait.Until(d, func() bool { return slices.Contains(got(), want) })
}

// TestCallCtrlCCancels: Ctrl-C (SIGINT) during a long tool call makes
// mcplink send notifications/cancelled to the server and exit 130 at once,
// over Streamable HTTP and over stdio.
func TestCallCtrlCCancels(t *testing.T) {
	e := newInterruptEnv(t)
	for _, tc := range []struct {
		server  string
		methods func() []string
	}{
		{"web", e.web.Methods},
		{"local", e.localMethods},
	} {
		t.Run(tc.server, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, _, errb := e.command(ctx, "call", tc.server, mcptest.ToolSlow, "ms=30000")
			took := interruptWhen(t, c, errb, "the server received tools/call", func() bool {
				return waitFor(tc.methods, "tools/call", 15*time.Second)
			})
			t.Logf("exited 130 %v after SIGINT", took.Round(time.Millisecond))
			if took > 2*time.Second {
				t.Errorf("took %v to exit after SIGINT, want under 2s", took)
			}
			if !strings.Contains(errb.String(), "interrupted: cancelled the call of slow on "+tc.server) {
				t.Errorf("stderr does not say the call was cancelled:\n%s", errb)
			}
			// It was written before mcplink exited; give the server a moment to read it.
			if !waitFor(tc.methods, "notifications/cancelled", 2*time.Second) {
				t.Errorf("the server never received notifications/cancelled; it got %q", tc.methods())
			}
		})
	}
}

// TestCtrlCWhileConnecting: Ctrl-C while the server has not even answered
// initialize exits 130 too, for call, resources and prompts.
func TestCtrlCWhileConnecting(t *testing.T) {
	e := newInterruptEnv(t)
	for _, args := range [][]string{{"call", "hang", "echo"}, {"resources", "hang"}, {"prompts", "hang"}} {
		t.Run(args[0], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			before := len(e.hungMethods())
			c, _, errb := e.command(ctx, args...)
			// It is connecting once the server read its initialize (which
			// it never answers).
			took := interruptWhen(t, c, errb, "the hang server read initialize", func() bool {
				return testwait.Until(15*time.Second, func() bool { return slices.Contains(e.hungMethods()[before:], "initialize") })
			})
			if took > 3*time.Second {
				t.Errorf("took %v to exit after SIGINT", took)
			}
			if !strings.Contains(errb.String(), "mcplink: interrupted") {
				t.Errorf("stderr:\n%s", errb)
			}
		})
	}
}

// TestCallValidationSendsNothing: arguments that do not match the tool's
// schema never reach the server: no tools/call arrives.
func TestCallValidationSendsNothing(t *testing.T) {
	e := newInterruptEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, errb := e.command(ctx, "call", "web", mcptest.ToolPick, "color=pink")
	err := c.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2; stderr:\n%s", err, errb)
	}
	if !strings.Contains(errb.String(), `argument "color" must be one of "red", "green", "blue"`) {
		t.Errorf("stderr does not name the argument:\n%s", errb)
	}
	got := e.web.Methods()
	if !slices.Contains(got, "tools/list") {
		t.Fatalf("the server saw no tools/list (%q): the test did not reach it", got)
	}
	if slices.Contains(got, "tools/call") {
		t.Errorf("tools/call was sent despite invalid arguments: %q", got)
	}
}

// TestCompletionOfToolsIsBounded: completing tool names of a server that
// never answers gives up after the 3 s bound, offering nothing, silently.
func TestCompletionOfToolsIsBounded(t *testing.T) {
	e := newInterruptEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, out, errb := e.command(ctx, "__complete", "call", "hang", "")
	t0 := time.Now()
	if err := c.Run(); err != nil {
		t.Fatalf("%v; stderr:\n%s", err, errb)
	}
	took := time.Since(t0)
	t.Logf("gave up after %v", took.Round(time.Millisecond))
	if took < 2*time.Second || took > 6*time.Second {
		t.Errorf("took %v, want about 3s (the bound)", took)
	}
	if got := strings.TrimSpace(out.String()); got != ":4" {
		t.Errorf("completions = %q, want none (just the directive :4)", got)
	}
	if strings.Contains(errb.String(), "mcplink:") {
		t.Errorf("an error was printed:\n%s", errb)
	}
}

// interruptWhen starts c, waits until ready (which bounds its own wait;
// what says what it waits for), sends SIGINT and requires exit status 130.
// It returns how long c took to exit after the signal.
func interruptWhen(t *testing.T, c *exec.Cmd, errb *bytes.Buffer, what string, ready func() bool) time.Duration {
	t.Helper()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if !ready() {
		_ = c.Process.Kill()
		_ = c.Wait()
		t.Fatalf("never: %s; stderr:\n%s", what, errb)
	}
	sent := time.Now()
	if err := c.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := c.Wait()
	took := time.Since(sent)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v, want status 130; stderr:\n%s", err, errb)
	}
	return took
}
