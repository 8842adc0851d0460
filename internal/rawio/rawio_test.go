package rawio

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/testenv"
)

// tcpPair returns both ends of a loopback TCP connection, the client's
// wrapped with Conn.
func tcpPair(t *testing.T) (wrapped, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	c, err := DialContext(Dialer())(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p := <-accepted
	if p == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); p.Close() })
	return c, p
}

func TestConnMovesBytesBothWays(t *testing.T) {
	c, p := tcpPair(t)
	if runtime.GOOS == "linux" {
		if _, ok := c.(*conn); !ok {
			t.Fatalf("Conn(%T) was not wrapped on Linux", c)
		}
	}
	// More than the socket buffers hold, so writes meet EAGAIN and wait
	// in the poller while the peer reads.
	data := make([]byte, 8<<20)
	rand.Read(data)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(p)
		got <- b
	}()
	if n, err := c.Write(data); err != nil || n != len(data) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(data))
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("the peer read %d bytes, not the %d written (or different ones)", len(b), len(data))
	}

	go func() { p.Write(data); p.Close() }()
	b, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("ReadAll = %d bytes, %v; want the %d written and EOF", len(b), err, len(data))
	}
}

func TestConnHonoursDeadlinesAndClose(t *testing.T) {
	c, _ := tcpPair(t)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := c.Read(make([]byte, 10))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline = %v, want os.ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past the deadline = %#v, want a net.Error with Timeout()", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Read returned after %v", d)
	}
	c.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 10))
		done <- err
	}()
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read on a closed conn = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a Read pending when the conn closed did not return")
	}
}

func TestConnPeerResetIsAnOpError(t *testing.T) {
	c, p := tcpPair(t)
	p.(*net.TCPConn).SetLinger(0)
	p.Close() // RST
	_, err := c.Read(make([]byte, 10))
	var op *net.OpError
	if err == nil || err == io.EOF || !errors.As(err, &op) || op.Op != "read" {
		t.Fatalf("Read after a reset = %v, want a *net.OpError (read)", err)
	}
}

// reopen is Reopen, or a skip off Linux, where raw calls are not used.
func reopen(t *testing.T, f *os.File) *File {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("raw system calls are used only on Linux")
	}
	rf, err := Reopen(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rf.Close() })
	return rf
}

func TestFileOverPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fr, fw := reopen(t, r), reopen(t, w)
	r.Close()
	data := make([]byte, 1<<20) // more than a pipe holds: writes meet EAGAIN
	rand.Read(data)
	go func() { fw.Write(data); fw.Close(); w.Close() }()
	b, err := io.ReadAll(fr)
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("ReadAll = %d bytes, %v; want the %d written and EOF", len(b), err, len(data))
	}

	r2, w2, _ := os.Pipe()
	defer w2.Close()
	f2 := reopen(t, r2)
	f2.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := f2.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline = %v, want os.ErrDeadlineExceeded", err)
	}
}

func TestReopenRefusesWhatIsNotAPipe(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw system calls are used only on Linux")
	}
	f, err := os.CreateTemp(t.TempDir(), "regular")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if rf, err := Reopen(f); err == nil {
		rf.Close()
		t.Fatal("Reopen of a regular file succeeded")
	}
}

// childBlocking is the mode of the test binary in which it runs
// blockingDescriptorChild.
const childBlocking = "MCPLINK_RAWIO_TEST_CHILD"

// The description a client hands over is shared: it may switch it to
// blocking mode at any time. A reopened pipe has a description of its own,
// so its raw reads never hold the only scheduler slot: with GOMAXPROCS=1 the
// writer goroutine still runs and the read gets its data. Run in a child
// process, because the failure is the whole process hanging.
func TestReopenedPipeIgnoresTheSharedMode(t *testing.T) {
	if os.Getenv(childBlocking) == "1" {
		blockingDescriptorChild(t)
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("raw system calls are used only on Linux")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestReopenedPipeIgnoresTheSharedMode$", "-test.v")
	cmd.Env = testenv.Env(t, childBlocking+"=1")
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the child hung: a raw read blocked its only thread\n%s", out)
	}
	if err != nil || !bytes.Contains(out, []byte("read: ping")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func blockingDescriptorChild(t *testing.T) {
	runtime.GOMAXPROCS(1)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Reopen(r)
	if err != nil {
		t.Fatal(err)
	}
	// The other holder of r's description switches it to blocking mode.
	rc, _ := r.SyscallConn()
	rc.Control(func(fd uintptr) { setBlocking(fd) })
	go func() {
		// Write once the reader waits in the poller; had its read
		// blocked the thread, this goroutine would never run.
		buf := make([]byte, 1<<20)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if bytes.Contains(buf[:runtime.Stack(buf, true)], []byte("[IO wait")) {
				break
			}
		}
		w.Write([]byte("ping"))
	}()
	b := make([]byte, 4)
	n, err := f.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("read: %s", b[:n])
}
