package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/internal/testenv"
)

// serverName is the config entry of the protected MCP server.
const serverName = "idp"

// client is one user of mcplink: its own config file, data directory and
// callback port.
type client struct {
	env          *env
	dir          string
	configFile   string
	dataDir      string
	urlFile      string
	callbackPort int
}

func newClient(tb testing.TB, e *env) *client {
	tb.Helper()
	dir := tb.TempDir()
	c := &client{
		env:          e,
		dir:          dir,
		configFile:   filepath.Join(dir, "mcplink.json"),
		dataDir:      filepath.Join(dir, "data"),
		urlFile:      filepath.Join(dir, "browser-urls.txt"),
		callbackPort: testenv.FreePort(tb),
	}
	cfg := map[string]any{"mcp": map[string]any{serverName: map[string]any{
		"type":    "remote",
		"url":     e.RS.URL,
		"timeout": 20000,
		"oauth":   map[string]any{"callbackPort": c.callbackPort},
	}}}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(c.configFile, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return c
}

// minimalEnv is the environment every subprocess starts from: PATH and a
// home, XDG directories and mcplink data directory under root (see
// testenv), nothing of this process's.
func minimalEnv(root string) []string {
	d, err := testenv.In(root)
	if err != nil {
		panic(fmt.Sprintf("e2e: test environment in %s: %v", root, err))
	}
	return d.Vars("LANG=C.UTF-8")
}

// environ is mcplink's environment: its own home, config and file store,
// and $BROWSER set to the test binary's URL recorder.
func (c *client) environ() []string {
	self, _ := os.Executable()
	return append(minimalEnv(filepath.Join(c.dir, "env")),
		"HOME="+c.dir,
		"XDG_CONFIG_HOME="+filepath.Join(c.dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(c.dir, "share"),
		"XDG_CACHE_HOME="+filepath.Join(c.dir, "cache"),
		"MCPLINK_CONFIG="+c.configFile,
		"MCPLINK_DATA_DIR="+c.dataDir,
		authstore.EnvCredentialsStore+"="+authstore.ModeFile,
		"BROWSER="+self,
		envBrowserHelper+"=1",
		envURLFile+"="+c.urlFile,
	)
}

// proc is a running mcplink whose stderr is watched line by line.
type proc struct {
	rs     *resourceServer
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *lockedBuffer
	stderr *watchedOutput
	done   chan struct{}
	err    error // set before done is closed
	start  time.Time
}

// start runs mcplink with args. The process is killed when the test ends.
func (c *client) start(tb testing.TB, args ...string) *proc {
	tb.Helper()
	cmd := exec.Command(mcplinkBin, args...)
	cmd.Dir = c.dir
	cmd.Env = c.environ()
	p := &proc{rs: c.env.RS, cmd: cmd, stdout: &lockedBuffer{}, stderr: newWatchedOutput(), done: make(chan struct{})}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout = p.stdout
	p.stdin = stdin
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { // owned by p: ends when mcplink closes stderr and exits
		p.stderr.consume(stderr)
		p.err = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits (bounded) for the process to exit and returns its error.
func (p *proc) wait(tb testing.TB, timeout time.Duration) error {
	tb.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		tb.Fatalf("mcplink %s did not exit within %s\nstderr:\n%s", strings.Join(p.cmd.Args[1:], " "), timeout, p.stderr.String())
		return nil
	}
}

// mustSucceed waits for exit status 0.
func (p *proc) mustSucceed(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	if err := p.wait(tb, timeout); err != nil {
		tb.Fatalf("mcplink %s: %v\nstdout:\n%s\nstderr:\n%s\nthe MCP server's last refusal: %v", strings.Join(p.cmd.Args[1:], " "), err, p.stdout.String(), p.stderr.String(), p.rs.lastRejection())
	}
}

// run runs mcplink to completion (at most 30 s).
func (c *client) run(tb testing.TB, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	p := c.start(tb, args...)
	_ = p.stdin.Close()
	err = p.wait(tb, 30*time.Second)
	return p.stdout.String(), p.stderr.String(), err
}

// mustRun runs mcplink and requires exit status 0; it returns stdout.
func (c *client) mustRun(tb testing.TB, args ...string) string {
	tb.Helper()
	out, errOut, err := c.run(tb, args...)
	if err != nil {
		tb.Fatalf("mcplink %s: %v\nstdout:\n%s\nstderr:\n%s\nthe MCP server's last refusal: %v", strings.Join(args, " "), err, out, errOut, c.env.RS.lastRejection())
	}
	return out
}

// creds loads what mcplink stored, through the real file store.
func (c *client) creds(tb testing.TB) *authstore.Credentials {
	tb.Helper()
	cr, err := c.loadCreds()
	if err != nil {
		tb.Fatalf("loading mcplink's stored credentials: %v", err)
	}
	return cr
}

func (c *client) loadCreds() (*authstore.Credentials, error) {
	st, err := authstore.NewFileStore(authstore.FileOptions{Dir: c.dataDir})
	if err != nil {
		return nil, err
	}
	return st.Load(context.Background(), serverName)
}

// waitToken polls the store (1 ms) until a token is stored; it returns when.
func (c *client) waitToken(ctx context.Context) (time.Time, error) {
	for {
		if cr, err := c.loadCreds(); err == nil && cr.Token != nil && cr.Token.AccessToken != "" {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// waitBrowserURL waits for mcplink to open $BROWSER and returns the URL.
func (c *client) waitBrowserURL(ctx context.Context) (string, error) {
	for {
		if data, err := os.ReadFile(c.urlFile); err == nil {
			if line, _, ok := strings.Cut(string(data), "\n"); ok && line != "" {
				return line, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("mcplink never opened the browser ($BROWSER): %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// assertNoSecrets fails when any of the outputs contains a stored token.
func assertNoSecrets(tb testing.TB, cr *authstore.Credentials, outputs ...string) {
	tb.Helper()
	if cr == nil || cr.Token == nil {
		return
	}
	for _, secret := range []string{cr.Token.AccessToken, cr.Token.RefreshToken} {
		if secret == "" {
			continue
		}
		for _, o := range outputs {
			if strings.Contains(o, secret) {
				tb.Errorf("mcplink printed a token:\n%s", o)
			}
		}
	}
}

// watchedOutput collects a stream's lines and lets tests wait for one.
type watchedOutput struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	lines   []string
	changed chan struct{}
	closed  bool
}

func newWatchedOutput() *watchedOutput {
	return &watchedOutput{changed: make(chan struct{})}
}

func (w *watchedOutput) consume(r io.Reader) {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			w.mu.Lock()
			w.buf.WriteString(line)
			w.lines = append(w.lines, strings.TrimRight(line, "\r\n"))
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
		}
		if err != nil {
			w.mu.Lock()
			w.closed = true
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
			return
		}
	}
}

func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// errStreamClosed: the stream ended without the awaited line.
var errStreamClosed = errors.New("output ended")

// waitFor returns the first result of match over the lines seen so far and
// to come, until ctx ends or the stream closes.
func (w *watchedOutput) waitFor(ctx context.Context, match func(line string) (string, bool)) (string, error) {
	seen := 0
	for {
		w.mu.Lock()
		lines, changed, closed := w.lines[seen:], w.changed, w.closed
		seen = len(w.lines)
		w.mu.Unlock()
		for _, l := range lines {
			if v, ok := match(l); ok {
				return v, nil
			}
		}
		if closed {
			return "", errStreamClosed
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}
