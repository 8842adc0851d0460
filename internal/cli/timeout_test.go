package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/testenv"
)

// TestCommandsGiveUpAfterTimeout: against a server that never answers at
// all, and one whose tool never returns (it would after 60 s), call, tools,
// list and debug (the real binary) give up after --timeout 1s, well within
// 2 s, with an error that says what timed out and names --timeout.
func TestCommandsGiveUpAfterTimeout(t *testing.T) {
	plain, err := mcptest.StartHTTP(mcptest.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plain.Close)
	hang, err := mcptest.StartHTTP(mcptest.HTTPOptions{Hang: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hang.Close)
	dirs := testenv.New(t)
	cfg := filepath.Join(dirs.Root, "mcplink.json")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{"mcp": {"plain": {"type": "remote", "url": %q}, "hang": {"type": "remote", "url": %q}}}`, plain.URL, hang.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := dirs.Vars("MCPLINK_CONFIG=" + cfg)
	for _, tc := range []struct {
		args     []string
		exit     int
		want     []string // on stderr (or stdout for list)
		inStdout bool
	}{
		{[]string{"call", "plain", "slow", "ms=60000", "--timeout", "1s"}, 1, []string{"calling slow on plain: no result within 1s", "--timeout"}, false},
		{[]string{"call", "hang", "echo", "text=x", "--timeout", "1s"}, 1, []string{`server "hang" failed: no response within 1s`, "--timeout"}, false},
		{[]string{"tools", "hang", "--timeout", "1s"}, 1, []string{`server "hang" failed: no response within 1s`, "--timeout"}, false},
		{[]string{"list", "--timeout", "1s"}, 0, []string{"hang", "failed", "no response within 1s", "--timeout"}, true},
		{[]string{"debug", "hang", "--timeout", "1s"}, 1, []string{"debug hang: no answer from " + hang.URL + " within 1s", "--timeout"}, false},
	} {
		name := strings.Join(tc.args, " ")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		c := exec.CommandContext(ctx, "mcplink", tc.args...)
		c.Env, c.Dir, c.WaitDelay = env, dirs.Root, 5*time.Second
		var out, errb bytes.Buffer
		c.Stdout, c.Stderr = &out, &errb
		start := time.Now()
		err := c.Run()
		d := time.Since(start)
		cancel()
		t.Logf("mcplink %s: gave up after %v", name, d.Round(time.Millisecond))
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("mcplink %s: %v", name, err)
		}
		if code != tc.exit {
			t.Errorf("mcplink %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", name, code, tc.exit, &out, &errb)
		}
		got := errb.String()
		if tc.inStdout {
			got = out.String()
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("mcplink %s: output lacks %q:\nstdout:\n%s\nstderr:\n%s", name, w, &out, &errb)
			}
		}
		if d > 2500*time.Millisecond {
			t.Errorf("mcplink %s: took %v with --timeout 1s", name, d)
		}
	}
}
