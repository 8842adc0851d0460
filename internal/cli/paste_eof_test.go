package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
)

// pasteEnv is a config with one OAuth server s0 and an environment built
// from scratch: nothing of the user's (HOME, XDG_*, MCPLINK_*) reaches the
// child processes.
type pasteEnv struct {
	bin  string
	dir  string
	env  []string
	port int
}

func newPasteEnv(t *testing.T, mcpURL string) *pasteEnv {
	t.Helper()
	return newPasteEnvOAuth(t, mcpURL, "")
}

// newPasteEnvOAuth is newPasteEnv with extra members of s0's "oauth" object
// (JSON, e.g. `"scope": "x"`).
func newPasteEnvOAuth(t *testing.T, mcpURL, extraOAuth string) *pasteEnv {
	t.Helper()
	bin, err := exec.LookPath("mcplink") // this test binary, put on $PATH by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := &pasteEnv{bin: bin, dir: dir, port: testenv.FreePort(t)}
	cfg := filepath.Join(dir, "mcplink.json")
	if extraOAuth != "" {
		extraOAuth = ", " + extraOAuth
	}
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{"mcp": {"s0": {"type": "remote", "url": %q, "oauth": {"callbackPort": %d%s}}}}`, mcpURL, p.port, extraOAuth)), 0o600); err != nil {
		t.Fatal(err)
	}
	p.env = testenv.Env(t,
		"PATH="+filepath.Dir(bin), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, ".config"),
		"XDG_DATA_HOME="+filepath.Join(dir, ".data"), "XDG_CACHE_HOME="+filepath.Join(dir, ".cache"),
		"XDG_STATE_HOME="+filepath.Join(dir, ".state"), "XDG_RUNTIME_DIR="+filepath.Join(dir, ".run"),
		"MCPLINK_CONFIG="+cfg, "MCPLINK_DATA_DIR="+filepath.Join(dir, ".data", "mcplink"),
		"MCPLINK_CREDENTIALS_STORE=file", "BROWSER=", "DISPLAY=", "WAYLAND_DISPLAY=",
	)
	return p
}

// echoPaste runs `mcplink auth s0 --no-browser` with stdin a pipe: once the
// authorization URL is printed, the "user" signs in elsewhere, writes the URL
// the browser was redirected to and closes stdin at once, as
// `echo URL | mcplink auth s0 --no-browser` does.
func (p *pasteEnv) echoPaste(t *testing.T) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, p.bin, "auth", "s0", "--no-browser")
	c.Env, c.Dir, c.WaitDelay = p.env, p.dir, 5*time.Second
	stdin, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderrPipe, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	c.Stdout = &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderrPipe)
	pasted := false
	for sc.Scan() {
		errb.WriteString(sc.Text() + "\n")
		if m := authURLRE.FindStringSubmatch(sc.Text()); m != nil && !pasted {
			pasted = true
			r, err := oauthtest.RedirectURL(ctx, m[1])
			if err != nil {
				errb.WriteString("TEST BROWSER: " + err.Error() + "\n")
			} else {
				io.WriteString(stdin, r+"\n")
			}
			stdin.Close() // end of input right after the line
		}
	}
	err = c.Wait()
	return out.String(), errb.String(), err
}

// TestEchoPasteCompletesSignIn: a pasted redirect URL followed at once by
// the end of input completes the sign-in, every time: 20 processes with the
// callback port held by another program (the paste is the only way in;
// before the fix about half of them failed with "standard input ended"),
// and 3 with the listener running.
func TestEchoPasteCompletesSignIn(t *testing.T) {
	s := startAuthAS(t, oauthtest.Options{})
	p := newPasteEnv(t, s.MCPURL)

	// The port is held by a program that is not mcplink (it answers the
	// probe 404 at once).
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.port))
	if err != nil {
		t.Fatal(err)
	}
	holder := &http.Server{Handler: http.NotFoundHandler()}
	go holder.Serve(ln)
	const busyRuns = 20
	for i := range busyRuns {
		out, stderr, err := p.echoPaste(t)
		if err != nil || !strings.Contains(out, "✓ s0: authenticated") {
			t.Fatalf("run %d of %d (port busy): %v\n%s%s", i+1, busyRuns, err, out, stderr)
		}
		if strings.Contains(stderr, "standard input ended") {
			t.Fatalf("run %d: the end of input was reported although the URL was pasted:\n%s", i+1, stderr)
		}
	}
	holder.Close()

	const listenRuns = 3
	for i := range listenRuns {
		out, stderr, err := p.echoPaste(t)
		if err != nil || !strings.Contains(out, "✓ s0: authenticated") {
			t.Fatalf("run %d of %d (listener running): %v\n%s%s", i+1, listenRuns, err, out, stderr)
		}
	}
	if got := s.Stats().TokenRequests["authorization_code"]; got != busyRuns+listenRuns {
		t.Errorf("%d code exchanges, want %d", got, busyRuns+listenRuns)
	}
}

// run runs mcplink with args and stdin closed, bounded by 30 s.
func (p *pasteEnv) run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, p.bin, args...)
	c.Env, c.Dir, c.WaitDelay = p.env, p.dir, 5*time.Second
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	return out.String(), errb.String(), err
}

// TestDeviceTimeoutWording: `auth --device --timeout 2s` that nobody
// approves says it gave up after --timeout, not that the device code (valid
// for 5 minutes) expired; an error from the device authorization endpoint
// is called that, not the token endpoint.
func TestDeviceTimeoutWording(t *testing.T) {
	s := startAuthAS(t, oauthtest.Options{DeviceFlow: true})
	p := newPasteEnv(t, s.MCPURL)
	start := time.Now()
	_, stderr, err := p.run(t, "auth", "s0", "--device", "--timeout", "2s")
	if err == nil {
		t.Fatalf("auth --device with nobody approving succeeded:\n%s", stderr)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("gave up after %s, want about 2 s", el)
	}
	if !strings.Contains(stderr, "gave up after --timeout 2s") || !strings.Contains(stderr, "device code was still valid") {
		t.Errorf("stderr does not say it gave up after --timeout:\n%s", stderr)
	}
	if strings.Contains(stderr, "expired") {
		t.Errorf("stderr says the device code expired:\n%s", stderr)
	}

	bad := newPasteEnvOAuth(t, s.MCPURL, `"scope": "mcp:admin"`)
	_, stderr, err = bad.run(t, "auth", "s0", "--device")
	if err == nil {
		t.Fatalf("auth --device with an invalid scope succeeded:\n%s", stderr)
	}
	if !strings.Contains(stderr, "device authorization endpoint "+s.DeviceAuthorizationEndpoint()+" returned invalid_scope") || strings.Contains(stderr, "token endpoint") {
		t.Errorf("stderr does not name the device authorization endpoint:\n%s", stderr)
	}
}
