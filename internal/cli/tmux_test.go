package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/internal/tmuxtest"
)

// tmuxHere starts a tmux server for a test whose home is dir: this test
// binary is on PATH under each of names (TestMain runs it as that
// program), HOME is dir with XDG_CONFIG_HOME=dir/.config and
// XDG_DATA_HOME=dir/.data, the data directory is the default under them,
// credentials go to the file store, and vars (K=V) are added.
func tmuxHere(t *testing.T, dir string, names []string, vars ...string) *tmuxtest.Server {
	t.Helper()
	tmux := tmuxtest.Find(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.Symlink(self, filepath.Join(bin, n)); err != nil {
			t.Fatal(err)
		}
	}
	env := homeEnv(t, dir, append([]string{"TERM=xterm-256color",
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}, vars...)...)
	return tmuxtest.StartEnv(t, tmux, dir, env)
}

// scriptT is a script as a tmuxtest.T: its Fatalf ends the script, its
// Defer runs at the script's end.
type scriptT struct{ ts *testscript.TestScript }

func (s scriptT) Helper()                           {}
func (s scriptT) Fatalf(format string, args ...any) { s.ts.Fatalf(format, args...) }
func (s scriptT) Cleanup(f func())                  { s.ts.Defer(f) }

type tmuxKey struct{}

// scriptTmux is the tmux server of one script, once a waitpane needed it.
type scriptTmux struct{ srv *tmuxtest.Server }

// cmdWaitPane implements `waitpane SESSION TEXT...`: it waits (bounded:
// tmuxtest.WaitBound) until the session SESSION of the tmux server on
// $WORK/tmux.sock (which the script starts with `exec tmux -S
// $WORK/tmux.sock new-session …`, giving it the script's environment) shows
// every TEXT, and prints that screen to stdout. The server is killed at the
// script's end, and whatever its sessions still run with it.
func cmdWaitPane(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: waitpane SESSION TEXT...")
	}
	st := ts.Value(tmuxKey{}).(*scriptTmux)
	if st.srv == nil {
		tmux, err := exec.LookPath("tmux")
		ts.Check(err)
		// The tmux client needs no more than the variables testenv set.
		var env []string
		for _, k := range append([]string{"PATH"}, testenv.UserVars...) {
			env = append(env, k+"="+ts.Getenv(k))
		}
		st.srv = tmuxtest.StartEnv(scriptT{ts}, tmux, ts.Getenv("WORK"), env)
	}
	fmt.Fprintln(ts.Stdout(), strings.TrimRight(st.srv.Pane(args[0]).WaitFor(args[1:]...), "\n"))
}
