package rawio

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mcplink/mcplink/internal/testenv"
	"github.com/mcplink/mcplink/internal/testwait"
)

// reopen is Reopen, failing t on an error.
func reopen(t *testing.T, f *os.File) *File {
	t.Helper()
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
	rc.Control(func(fd uintptr) { unix.SetNonblock(int(fd), false) })
	go func() {
		// Write once the reader waits in the poller; had its read
		// blocked the thread, this goroutine would never run.
		testwait.Until(10*time.Second, func() bool { return testwait.Stacks("[IO wait") != "" })
		w.Write([]byte("ping"))
	}()
	b := make([]byte, 4)
	n, err := f.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("read: %s", b[:n])
}
