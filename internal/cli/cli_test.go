package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mcplink/mcplink/internal/cli"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mcplink": func() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		// mcptest-child MODE is a local MCP server (or a misbehaving one):
		// see the mcptest.Mode* constants.
		"mcptest-child": func() { os.Exit(mcptest.RunChild(os.Args[1], os.Stdin, os.Stdout, os.Stderr)) },
		// follow-redirects is a headless "browser" for $BROWSER: it GETs the
		// authorization URL and follows the redirect into mcplink's callback server.
		// stdin-open-until PATTERN CMD ARGS... runs CMD with a stdin that
		// stays open until PATTERN (a regexp) appears on its stderr (which
		// is passed on), or at most 30 s, then closes: a stdio client that
		// stays while the proxy signs in, then leaves. It exits as CMD did.
		"stdin-open-until": stdinOpenUntil,
		"follow-redirects": func() {
			if err := oauthtest.FollowRedirects(context.Background(), os.Args[1]); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		},
	})
}

// TestScripts runs the end-to-end scripts in testdata/script against the real
// mcplink binary (this test binary re-executed) and real loopback servers:
//
//	$PLAIN_URL    a Streamable HTTP MCP server (tools echo, add, fail, slow, grow)
//	$SSE_URL      an SSE-only MCP server
//	$UNAUTH_URL   a server that answers 401 to everything (no OAuth metadata)
//	$HDR_URL      a server that requires "Authorization: Bearer s3cret"
//	$OAUTH_URL    an OAuth-protected MCP server behind an in-process authorization server
//	$CB_PORT      a free loopback port for the OAuth callback
//	$REC_URL      a Streamable HTTP MCP server that records every request,
//	              checked with the "requests" command (see cmdRequests)
//
// and a real terminal through tmux, waited on with "waitpane" (see cmdWaitPane).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:  filepath.Join("testdata", "script"),
		Cmds: map[string]func(*testscript.TestScript, bool, []string){"requests": cmdRequests, "opencode-signin": cmdOpencodeSignin, "waitpane": cmdWaitPane},
		Setup: func(env *testscript.Env) error {
			start := func(name string, opts mcptest.HTTPOptions, sse bool) error {
				var s *mcptest.HTTPServer
				var err error
				if sse {
					s, err = mcptest.StartSSE(opts)
				} else {
					s, err = mcptest.StartHTTP(opts)
				}
				if err != nil {
					return err
				}
				env.Defer(s.Close)
				env.Setenv(name, s.URL)
				return nil
			}
			if err := start("PLAIN_URL", mcptest.HTTPOptions{}, false); err != nil {
				return err
			}
			if err := start("SSE_URL", mcptest.HTTPOptions{}, true); err != nil {
				return err
			}
			if err := start("UNAUTH_URL", mcptest.HTTPOptions{Unauthorized: true}, false); err != nil {
				return err
			}
			if err := start("HDR_URL", mcptest.HTTPOptions{RequireAuthorization: "Bearer s3cret"}, false); err != nil {
				return err
			}
			rec, err := mcptest.StartHTTP(mcptest.HTTPOptions{RecordHeaders: true})
			if err != nil {
				return err
			}
			env.Defer(rec.Close)
			env.Setenv("REC_URL", rec.URL)
			env.Values[recKey{}] = rec
			env.Values[tmuxKey{}] = &scriptTmux{}
			as, err := oauthtest.Start(oauthtest.Options{})
			if err != nil {
				return err
			}
			env.Defer(func() { as.Close() })
			env.Setenv("OAUTH_URL", as.MCPURL)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			env.Setenv("CB_PORT", fmt.Sprint(l.Addr().(*net.TCPAddr).Port))
			l.Close()
			// The one test environment (testenv), under the work directory:
			// every variable that points at a user's files is set, the
			// file store used without the fallback notice (no D-Bus session
			// here; keyring.txtar checks the notice itself).
			dirs, err := testenv.In(env.WorkDir)
			if err != nil {
				return err
			}
			for _, kv := range dirs.Vars(
				"XDG_CONFIG_HOME="+filepath.Join(env.WorkDir, ".config"),
				"XDG_DATA_HOME="+filepath.Join(env.WorkDir, ".data"),
				"HOME="+env.WorkDir,
				"MCPLINK_DATA_DIR=", // the default under XDG_DATA_HOME, as the scripts expect
				"BROWSER=",
			) {
				if k, v, _ := strings.Cut(kv, "="); k != "PATH" && k != "TMPDIR" { // testscript's own
					env.Setenv(k, v)
				}
			}
			// The real Claude Code CLI, where e2e/claude/install.sh put it
			// (install_claude.txtar); CI tells the scripts that a peer
			// missing there is a failure, not a skip.
			if home, err := os.UserHomeDir(); err == nil {
				bin := filepath.Join(home, ".cache", "mcplink-claude", "node_modules", ".bin")
				if d := os.Getenv("MCPLINK_CLAUDE_DIR"); d != "" {
					bin = filepath.Join(d, "node_modules", ".bin")
				}
				if _, err := os.Stat(filepath.Join(bin, "claude")); err == nil {
					env.Setenv("PATH", bin+string(os.PathListSeparator)+env.Getenv("PATH"))
				}
			}
			env.Setenv("CI", os.Getenv("CI"))
			return nil
		},
	})
}

type recKey struct{}

// cmdRequests checks what the $REC_URL server received since the last mark:
//
//	requests mark            start counting from here
//	requests count N         exactly N requests arrived
//	requests header K V      some request carried header K with value V
func cmdRequests(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("requests: no negation; use count 0")
	}
	rec := ts.Value(recKey{}).(*mcptest.HTTPServer)
	mark, _ := strconv.Atoi(ts.Getenv("REC_MARK"))
	reqs := rec.Requests()[mark:]
	switch {
	case len(args) == 1 && args[0] == "mark":
		ts.Setenv("REC_MARK", strconv.Itoa(mark+len(reqs)))
	case len(args) == 2 && args[0] == "count":
		if want, err := strconv.Atoi(args[1]); err != nil || len(reqs) != want {
			ts.Fatalf("requests: %d arrived, want %s", len(reqs), args[1])
		}
	case len(args) == 3 && args[0] == "header":
		for _, r := range reqs {
			if r.Header.Get(args[1]) == args[2] {
				return
			}
		}
		ts.Fatalf("requests: none of %d carried %s: %s", len(reqs), args[1], args[2])
	default:
		ts.Fatalf("usage: requests mark | count N | header K V")
	}
}

// stdinOpenUntil implements the stdin-open-until script command.
func stdinOpenUntil() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: stdin-open-until PATTERN CMD ARGS...")
		os.Exit(2)
	}
	re := regexp.MustCompile(os.Args[1])
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdout = os.Stdout
	seen := make(chan struct{})
	var once sync.Once
	cmd.Stderr = &watchWriter{re: re, onMatch: func() { once.Do(func() { close(seen) }) }}
	in, err := cmd.StdinPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var werr error
	select {
	case <-seen:
		in.Close()
		werr = <-exited
	case <-time.After(30 * time.Second):
		in.Close()
		werr = <-exited
	case werr = <-exited:
	}
	var ee *exec.ExitError
	switch {
	case errors.As(werr, &ee):
		os.Exit(ee.ExitCode())
	case werr != nil:
		fmt.Fprintln(os.Stderr, werr)
		os.Exit(2)
	}
	os.Exit(0)
}

// watchWriter passes stderr on and calls onMatch once re matches what was
// written so far.
type watchWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	re      *regexp.Regexp
	onMatch func()
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.re.Match(w.buf.Bytes()) {
		w.onMatch()
	}
	return os.Stderr.Write(p)
}
