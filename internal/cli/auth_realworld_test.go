package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/internal/testwait"
)

// These tests run the real mcplink binary (this test binary, found on the
// $PATH testscript.Main sets up) as subprocesses against real in-process
// authorization servers, with real loopback callback listeners.

type authEnv struct {
	binEnv
	port int
}

func startAuthAS(t *testing.T, o oauthtest.Options) *oauthtest.Server {
	t.Helper()
	s, err := oauthtest.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newAuthEnv writes a config with one remote server per URL (named s0, s1,
// ...), all on the same callback port.
func newAuthEnv(t *testing.T, browser string, urls ...string) *authEnv {
	t.Helper()
	dir := t.TempDir()
	a := &authEnv{binEnv: binEnv{dir: dir}, port: testenv.FreePort(t)}
	var entries []string
	for i, u := range urls {
		entries = append(entries, fmt.Sprintf(`"s%d": {"type": "remote", "url": %q, "oauth": {"callbackPort": %d}}`, i, u, a.port))
	}
	cfg := filepath.Join(dir, "mcplink.json")
	if err := os.WriteFile(cfg, []byte(`{"mcp": {`+strings.Join(entries, ",\n")+`}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	a.env = homeEnv(t, dir, "MCPLINK_CONFIG="+cfg, "BROWSER="+browser, "DISPLAY=", "WAYLAND_DISPLAY=")
	return a
}

func (a *authEnv) authStates(t *testing.T) map[string]string {
	t.Helper()
	out, stderr, err := a.run(t, "auth", "status", "--json")
	if err != nil {
		t.Fatalf("auth status: %v\n%s", err, stderr)
	}
	var m map[string]struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("auth status --json: %v\n%s", err, out)
	}
	states := map[string]string{}
	for k, v := range m {
		states[k] = v.State
	}
	return states
}

// slowBrowser writes a $BROWSER script that waits before following the
// redirects, so that its mcplink holds the callback port for a while.
func slowBrowser(t *testing.T, delay string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "slow-browser")
	script := "#!/bin/sh\nsleep " + delay + "\nexec follow-redirects \"$1\"\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func waitListening(t *testing.T, port int) {
	t.Helper()
	testwait.For(t, 15*time.Second, fmt.Sprintf("a listener on callback port %d", port), func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// TestTwoProcessesSameCallbackPort: two mcplink processes sign in to two
// different servers on the same default callback port; the second sees that
// another mcplink holds the port, says so, waits, and both succeed.
func TestTwoProcessesSameCallbackPort(t *testing.T) {
	s0 := startAuthAS(t, oauthtest.Options{})
	s1 := startAuthAS(t, oauthtest.Options{})
	a := newAuthEnv(t, slowBrowser(t, "1.5"), s0.MCPURL, s1.MCPURL)
	b := *a
	b.env = append(append([]string{}, a.env...), "BROWSER=follow-redirects")

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var outA, errA bytes.Buffer
	pa := a.cmd(ctx, "auth", "s0")
	pa.Stdout, pa.Stderr = &outA, &errA
	if err := pa.Start(); err != nil {
		t.Fatal(err)
	}
	waitListening(t, a.port) // A owns the port and waits for its (slow) browser
	outB, errB, errRunB := b.run(t, "auth", "s1")
	errRunA := pa.Wait()
	if errRunA != nil || errRunB != nil {
		t.Fatalf("A: %v\n%s%s\nB: %v\n%s%s", errRunA, outA.String(), errA.String(), errRunB, outB, errB)
	}
	if !strings.Contains(errB, "held by another mcplink process") || !strings.Contains(errB, "waiting for it to free the port") {
		t.Errorf("B did not say it waits for the other mcplink:\n%s", errB)
	}
	if !strings.Contains(outA.String(), "✓ s0: authenticated") || !strings.Contains(outB, "✓ s1: authenticated") {
		t.Errorf("outputs:\nA: %s\nB: %s", outA.String(), outB)
	}
	if st := a.authStates(t); st["s0"] != "authenticated" || st["s1"] != "authenticated" {
		t.Errorf("states = %v", st)
	}
	if s0.Stats().CodesIssued != 1 || s1.Stats().CodesIssued != 1 {
		t.Errorf("codes issued: %d, %d", s0.Stats().CodesIssued, s1.Stats().CodesIssued)
	}
}

// TestAuthAllParallelOneListener: `auth --all` signs in to several servers
// at once on one callback port, each flow with its own state.
func TestAuthAllParallelOneListener(t *testing.T) {
	s0 := startAuthAS(t, oauthtest.Options{})
	s1 := startAuthAS(t, oauthtest.Options{})
	s2 := startAuthAS(t, oauthtest.Options{})
	// Each browser waits (at most 10 s) until all three are open: signing
	// in one after the other would never get there.
	marks := t.TempDir()
	browser := filepath.Join(t.TempDir(), "barrier-browser")
	script := "#!/bin/sh\nd=" + marks + "\ntouch \"$d/$$\"\ni=0\n" +
		"while [ \"$(ls \"$d\" | wc -l)\" -lt 3 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done\n" +
		"[ \"$(ls \"$d\" | wc -l)\" -ge 3 ] || exit 1\nexec follow-redirects \"$1\"\n"
	if err := os.WriteFile(browser, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	a := newAuthEnv(t, browser, s0.MCPURL, s1.MCPURL, s2.MCPURL)
	out, stderr, err := a.run(t, "auth", "--all", "--timeout", "15s")
	if err != nil {
		t.Fatalf("auth --all: %v\n%s%s", err, out, stderr)
	}
	for _, n := range []string{"s0", "s1", "s2"} {
		if !strings.Contains(out, "✓ "+n+": authenticated; connected") {
			t.Errorf("no success line for %s:\n%s", n, out)
		}
	}
	if strings.Contains(stderr, "held by another") {
		t.Errorf("flows of one process did not share the listener:\n%s", stderr)
	}
	for i, s := range []*oauthtest.Server{s0, s1, s2} {
		if st := s.Stats(); st.CodesIssued != 1 || st.LastRedirectURI != fmt.Sprintf("http://127.0.0.1:%d/mcp/oauth/callback", a.port) {
			t.Errorf("server s%d: codes %d redirect %q", i, st.CodesIssued, st.LastRedirectURI)
		}
	}
}

var authURLRE = regexp.MustCompile(`Open this URL to sign in: (\S+)`)

// runPaste runs `mcplink auth s0 args...`, and when the URL appears on
// stderr plays a browser elsewhere: the redirect URL is pasted on stdin.
func runPaste(t *testing.T, a *authEnv, paste func(redirect string) string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := a.cmd(ctx, append([]string{"auth", "s0"}, args...)...)
	stdin, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderrPipe, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c.Stdout = &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderrPipe)
		pasted := false
		for sc.Scan() {
			line := sc.Text()
			errb.WriteString(line + "\n")
			if m := authURLRE.FindStringSubmatch(line); m != nil && !pasted {
				pasted = true
				r, err := oauthtest.RedirectURL(ctx, m[1])
				if err != nil {
					errb.WriteString("TEST BROWSER: " + err.Error() + "\n")
					continue
				}
				io.WriteString(stdin, paste(r)+"\n")
			}
		}
	}()
	wg.Wait()
	err = c.Wait()
	stdin.Close()
	return out.String(), errb.String(), err
}

func TestPasteModeCLI(t *testing.T) {
	s := startAuthAS(t, oauthtest.Options{})
	a := newAuthEnv(t, "", s.MCPURL) // no display, no $BROWSER: no browser can be opened
	out, stderr, err := runPaste(t, a, func(r string) string { return "  " + r + "  " })
	if err != nil || !strings.Contains(out, "✓ s0: authenticated") {
		t.Fatalf("paste: %v\n%s%s", err, out, stderr)
	}
	if !strings.Contains(stderr, "paste the full URL it was redirected to") {
		t.Errorf("no paste prompt:\n%s", stderr)
	}

	// Port busy (not mcplink): the listener cannot start; paste still works.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", a.port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, stderr, err = runPaste(t, a, func(r string) string { return r }, "--no-browser")
	if err != nil || !strings.Contains(out, "✓ s0: authenticated") {
		t.Fatalf("paste with busy port: %v\n%s%s", err, out, stderr)
	}
	if !strings.Contains(stderr, "could not start the OAuth callback listener") {
		t.Errorf("busy port not explained:\n%s", stderr)
	}
	if s.Stats().CodesIssued != 2 || s.Stats().Registrations != 1 {
		t.Errorf("stats = %+v", s.Stats())
	}
}

var deviceRE = regexp.MustCompile(`enter the code ([A-Z]{4}-[A-Z]{4})`)

func TestDeviceFlowAndLogoutCLI(t *testing.T) {
	s := startAuthAS(t, oauthtest.Options{DeviceFlow: true})
	a := newAuthEnv(t, "", s.MCPURL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := a.cmd(ctx, "auth", "s0", "--device")
	stderrPipe, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c.Stdout = &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
	sc := bufio.NewScanner(stderrPipe)
	for sc.Scan() {
		errb.WriteString(sc.Text() + "\n")
		if m := deviceRE.FindStringSubmatch(sc.Text()); m != nil {
			if !s.ApproveDevice(m[1]) {
				t.Errorf("user code %s unknown to the AS", m[1])
			}
		}
	}
	if err := c.Wait(); err != nil || !strings.Contains(out.String(), "✓ s0: authenticated; connected") {
		t.Fatalf("auth --device: %v\n%s%s", err, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), s.DeviceVerificationURI()) {
		t.Errorf("verification URI not shown:\n%s", errb.String())
	}
	if st := s.Stats(); st.AuthorizeRequests != 0 || st.DeviceAuthorizations != 1 {
		t.Errorf("stats = %+v", st)
	}

	// logout revokes at the AS and keeps the registration.
	_, stderr, err := a.run(t, "logout", "s0")
	if err != nil || !strings.Contains(stderr, "revoked refresh_token and access_token") {
		t.Fatalf("logout: %v\n%s", err, stderr)
	}
	if s.Stats().Revocations != 2 || s.ActiveAccessTokens() != 0 {
		t.Errorf("revocations %d active %d", s.Stats().Revocations, s.ActiveAccessTokens())
	}
	if st := a.authStates(t); st["s0"] != "not_authenticated" {
		t.Errorf("state after logout = %v", st)
	}
	// --local-only on nothing stored, then a failed revocation (AS gone).
	if _, stderr, err := a.run(t, "logout", "s0", "--local-only"); err != nil || !strings.Contains(stderr, "no tokens stored") {
		t.Fatalf("logout --local-only: %v\n%s", err, stderr)
	}
}

func TestLogoutRevocationFailureCLI(t *testing.T) {
	s := startAuthAS(t, oauthtest.Options{})
	a := newAuthEnv(t, "follow-redirects", s.MCPURL)
	if out, stderr, err := a.run(t, "auth", "s0"); err != nil {
		t.Fatalf("auth: %v\n%s%s", err, out, stderr)
	}
	s.Close()
	_, stderr, err := a.run(t, "logout", "s0")
	if err == nil || !strings.Contains(stderr, "revoking the tokens failed") || !strings.Contains(stderr, "Logged out of s0 locally") {
		t.Fatalf("logout with the AS down: %v\n%s", err, stderr)
	}
	if st := a.authStates(t); st["s0"] != "not_authenticated" {
		t.Errorf("tokens kept after a failed revocation: %v", st)
	}
}

// BenchmarkAuthCLI: `mcplink auth` as a process, from start to exit (the
// token stored and one connection made to count the tools), minus the time
// the "browser" (follow-redirects: authorize + callback) runs.
func BenchmarkAuthCLI(b *testing.B) {
	s, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	dir := b.TempDir()
	stamps := filepath.Join(dir, "stamps")
	browser := filepath.Join(dir, "timed-browser")
	script := "#!/bin/sh\nstart=$(date +%s%N)\nfollow-redirects \"$1\"\necho $(( $(date +%s%N) - start )) >> " + stamps + "\n"
	if err := os.WriteFile(browser, []byte(script), 0o755); err != nil {
		b.Fatal(err)
	}
	port := testenv.FreePort(b)
	cfg := filepath.Join(dir, "mcplink.json")
	_ = os.WriteFile(cfg, []byte(fmt.Sprintf(`{"mcp": {"s0": {"type": "remote", "url": %q, "oauth": {"callbackPort": %d}}}}`, s.MCPURL, port)), 0o600)
	env := homeEnv(b, dir, "MCPLINK_CONFIG="+cfg, "BROWSER="+browser)
	var totals []time.Duration
	for range b.N {
		c := exec.Command("mcplink", "auth", "s0")
		c.Env, c.Dir = env, dir
		start := time.Now()
		if out, err := c.CombinedOutput(); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		totals = append(totals, time.Since(start))
		// The browser outlives mcplink by a moment: wait for its stamp.
		testwait.Until(5*time.Second, func() bool {
			data, _ := os.ReadFile(stamps)
			return len(strings.Fields(string(data))) == len(totals)
		})
	}
	data, _ := os.ReadFile(stamps)
	var browserNs []int64
	for _, f := range strings.Fields(string(data)) {
		var n int64
		fmt.Sscan(f, &n)
		browserNs = append(browserNs, n)
	}
	if len(browserNs) != len(totals) {
		b.Fatalf("%d browser timings for %d runs", len(browserNs), len(totals))
	}
	nets := make([]time.Duration, len(totals))
	for i := range totals {
		nets[i] = totals[i] - time.Duration(browserNs[i])
	}
	sortDur(nets)
	sortDur(totals)
	b.ReportMetric(float64(nets[len(nets)/2].Milliseconds()), "median-ms-without-browser")
	b.ReportMetric(float64(totals[len(totals)/2].Milliseconds()), "median-ms-total")
}

func sortDur(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}
