package api_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/api"
	"github.com/mcplink/mcplink/api/apitest"
	"github.com/mcplink/mcplink/api/client"
	"github.com/mcplink/mcplink/internal/cli"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
)

// envServeChild makes the test binary run `mcplink serve` with the given
// config file until its stdin closes.
const envServeChild = "MCPLINK_API_TEST_SERVE_CONFIG"

func maybeRunServeChild() {
	cfg := os.Getenv(envServeChild)
	if cfg == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	f := cli.NewFactory(os.Stdin, os.Stdout, os.Stderr)
	f.OpenURL = nil
	os.Exit(cli.Run(ctx, f, []string{"serve", "--config", cfg, "--addr", "127.0.0.1:0", "--no-browser"}))
}

var listeningRE = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// serveProcess starts `mcplink serve` in a child process and returns a client for it.
func serveProcess(t *testing.T, cfg, dataDir string) *client.Client {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	// An environment from scratch: nothing of the user's (home, keyring,
	// config) reaches the child.
	home := filepath.Join(dataDir, "home")
	cmd.Env = testenv.Env(t, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_DATA_HOME="+filepath.Join(home, "share"), "XDG_CACHE_HOME="+filepath.Join(home, "cache"),
		envServeChild+"="+cfg, "MCPLINK_DATA_DIR="+dataDir, "MCPLINK_CREDENTIALS_STORE=file", api.TokenEnv+"=")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	urlc := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { <-copied; done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve child exited: %v\n%s", err, logs.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("serve child did not stop within 10s after stdin closed")
			<-done
		}
	})
	select {
	case u := <-urlc:
		return client.New(u, client.Options{})
	case <-time.After(20 * time.Second):
		t.Fatalf("serve child did not start listening within 20s")
		return nil
	}
}

func waitStatus(t *testing.T, ctx context.Context, c *client.Client, name, want string) *api.ServerStatus {
	t.Helper()
	for {
		st, err := c.Get(ctx, name)
		if err == nil && st.Status == want {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never became %s (last: %+v, %v)", name, want, st, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestTwoServeProcesses runs two `mcplink serve` processes sharing one
// callback port; they authenticate in turn, then overlapping, and all succeed.
func TestTwoServeProcesses(t *testing.T) {
	as, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	port, err := apitest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg, err := apitest.WriteConfig(dir, nil, as.MCPURL, 1, port, apitest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := serveProcess(t, cfg, filepath.Join(dir, "a"))
	b := serveProcess(t, cfg, filepath.Join(dir, "b"))
	ctx := ctxT(t, 60*time.Second)
	waitStatus(t, ctx, a, "secure0", "needs_auth")
	waitStatus(t, ctx, b, "secure0", "needs_auth")

	// In turn: A, then B, on the same callback port.
	for _, c := range []*client.Client{a, b} {
		start, err := c.StartAuth(ctx, "secure0")
		if err != nil {
			t.Fatal(err)
		}
		if err := oauthtest.FollowRedirects(ctx, start.AuthorizationURL); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, ctx, c, "secure0", "connected")
		portFreeWithin(t, port, 100*time.Millisecond)
	}

	// Overlapping: A holds the port with a pending flow; B waits for it.
	if _, err := a.Logout(ctx, "secure0"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Logout(ctx, "secure0"); err != nil {
		t.Fatal(err)
	}
	startA, err := a.StartAuth(ctx, "secure0")
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		s   *api.AuthStart
		err error
	}
	bc := make(chan res, 1)
	go func() {
		s, err := b.StartAuth(ctx, "secure0")
		bc <- res{s, err}
	}()
	select {
	case r := <-bc:
		t.Fatalf("B started while A held the port: %+v, %v", r.s, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := oauthtest.FollowRedirects(ctx, startA.AuthorizationURL); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, a, "secure0", "connected")
	r := <-bc
	if r.err != nil {
		t.Fatalf("B after A finished: %v", r.err)
	}
	if err := oauthtest.FollowRedirects(ctx, r.s.AuthorizationURL); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, b, "secure0", "connected")
	portFreeWithin(t, port, 100*time.Millisecond)
}

func TestServeCommandRefusesPublicAddrWithoutToken(t *testing.T) {
	var out, errOut bytes.Buffer
	f := cli.NewFactory(strings.NewReader(""), &out, &errOut)
	f.Getenv = func(string) string { return "" }
	code := cli.Run(context.Background(), f, []string{"serve", "--addr", "0.0.0.0:0"})
	if code != cli.ExitConfig || !strings.Contains(errOut.String(), "token") || !strings.Contains(errOut.String(), "--token-file") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	tokFile := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tokFile, []byte("  \n"), 0o600)
	errOut.Reset()
	code = cli.Run(context.Background(), f, []string{"serve", "--addr", "0.0.0.0:0", "--token-file", tokFile})
	if code != cli.ExitConfig || !strings.Contains(errOut.String(), "empty") {
		t.Fatalf("empty token file: exit %d, stderr %q", code, errOut.String())
	}
}
