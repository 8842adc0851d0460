//go:build unix

package cli_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/cli"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/testenv"
)

// nonblocking reports whether f's file description is in non-blocking mode.
func nonblocking(t *testing.T, f *os.File) bool {
	t.Helper()
	sc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	var ferr error
	if err := sc.Control(func(fd uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		flags, ferr = int(r), nil
		if errno != 0 {
			ferr = errno
		}
	}); err != nil {
		t.Fatal(err)
	}
	if ferr != nil {
		t.Fatal(ferr)
	}
	return flags&syscall.O_NONBLOCK != 0
}

func setBlocking(t *testing.T, f *os.File) {
	t.Helper()
	sc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := sc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
}

// TestProxyOnPipesRestoresBlockingMode: `mcplink proxy` on real pipes (as a
// stdio client runs it) answers through non-blocking copies of stdin and
// stdout, ends at stdin's EOF, and leaves both pipes in blocking mode — the
// file descriptions may be shared with the client — and GOMAXPROCS as it was.
// On Linux the copies are descriptions of the proxy's own (reopened through
// /proc), so the shared ones are never switched at all.
func TestProxyOnPipesRestoresBlockingMode(t *testing.T) {
	srv, err := mcptest.StartHTTP(mcptest.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mcplink.json")
	if err := os.WriteFile(cfg, []byte(`{"mcp": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.Setenv(t, "MCPLINK_DATA_DIR="+filepath.Join(dir, "data"), "HOME="+dir)
	t.Setenv("GOMAXPROCS", "")
	os.Unsetenv("GOMAXPROCS")

	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inR.Close()
	defer outR.Close()
	// A client's pipes are usually in blocking mode (os.Pipe makes them
	// non-blocking for Go's poller).
	setBlocking(t, inR)
	setBlocking(t, outW)
	procs := runtime.GOMAXPROCS(0)
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main([]string{"--config", cfg, "proxy", srv.URL, "--transport", "http-only"}, inR, outW, &stderr)
	}()

	if _, err := inW.WriteString(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}` + "\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil || !strings.Contains(line, `"id":1`) || !strings.Contains(line, `"result"`) {
		t.Fatalf("answer to initialize: %q, %v", line, err)
	}
	if runtime.GOOS == "linux" {
		if nonblocking(t, inR) || nonblocking(t, outW) {
			t.Errorf("the proxy switched the client's descriptions to non-blocking mode; it should reopen the pipes")
		}
		for _, f := range []*os.File{inR, outW} {
			if n := ownNonblockingCopies(t, f); n != 1 {
				t.Errorf("%d non-blocking descriptions of %s besides the client's, want the proxy's one", n, f.Name())
			}
		}
	} else if !nonblocking(t, inR) || !nonblocking(t, outW) {
		t.Errorf("while the proxy runs on pipes, stdin and stdout should be non-blocking (read through the poller)")
	}
	inW.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("mcplink proxy exited %d at stdin's EOF:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("mcplink proxy did not exit at stdin's EOF:\n%s", stderr.String())
	}
	if nonblocking(t, inR) || nonblocking(t, outW) {
		t.Errorf("after the proxy exited, stdin non-blocking=%v, stdout non-blocking=%v; want both blocking", nonblocking(t, inR), nonblocking(t, outW))
	}
	outW.Close()
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Errorf("GOMAXPROCS after the proxy = %d, want %d", got, procs)
	}
}

// ownNonblockingCopies counts this process's descriptors, other than f's,
// open on the same end of the same pipe as f in non-blocking mode (from
// /proc/self/fd and fdinfo).
func ownNonblockingCopies(t *testing.T, f *os.File) int {
	t.Helper()
	self := strconv.Itoa(int(f.Fd()))
	target, err := os.Readlink("/proc/self/fd/" + self)
	if err != nil {
		t.Fatal(err)
	}
	flags := func(fd string) int64 {
		info, err := os.ReadFile("/proc/self/fdinfo/" + fd)
		if err != nil {
			return -1
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				if fl, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64); err == nil {
					return fl
				}
			}
		}
		return -1
	}
	acc := flags(self) & syscall.O_ACCMODE
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if e.Name() == self {
			continue
		}
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil || l != target {
			continue
		}
		if fl := flags(e.Name()); fl >= 0 && fl&syscall.O_ACCMODE == acc && fl&syscall.O_NONBLOCK != 0 {
			n++
		}
	}
	return n
}
