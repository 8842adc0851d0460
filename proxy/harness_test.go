package proxy

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// harness is a proxy Run in process, the test its client: Run reads the
// test's lines from one io.Pipe and writes its answers to another.
type harness struct {
	t testing.TB
	// ctx bounds the whole run (startRun's within); Run gets it too.
	ctx context.Context
	// in is the client's end of Run's stdin; stdout is the client's end of
	// Run's stdout, which ends (EOF) when Run returns. A test reads it either
	// line by line with recv or straight (say, through an mcp.IOTransport),
	// never both: out buffers ahead of what recv returns.
	in     *io.PipeWriter
	stdout *io.PipeReader
	out    *bufio.Reader

	done chan struct{} // closed when Run has returned
	err  error         // Run's result, set before done is closed
}

// startRun starts Run(ctx, stdin, stdout, opts) in a goroutine, ctx bounded
// by within. The test's cleanup cancels ctx, closes both pipes and waits
// (up to 10 s) for Run to end, so a test that stops early leaves nothing
// running.
func startRun(t testing.TB, within time.Duration, opts Options) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	cr, cw := io.Pipe()
	pr, pw := io.Pipe()
	h := &harness{t: t, ctx: ctx, in: cw, stdout: pr, out: bufio.NewReader(pr), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		h.err = Run(ctx, cr, pw, opts)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		cw.Close()
		pr.Close()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			t.Error("the proxy did not end")
		}
	})
	return h
}

// send writes line and a newline to Run's stdin.
func (h *harness) send(line string) {
	h.t.Helper()
	if _, err := io.WriteString(h.in, line+"\n"); err != nil {
		h.t.Fatal(err)
	}
}

// recv reads Run's next line, without its newline.
func (h *harness) recv() string {
	h.t.Helper()
	line, err := h.out.ReadString('\n')
	if err != nil {
		h.t.Fatalf("reading the proxy's output: %v", err)
	}
	return strings.TrimSuffix(line, "\n")
}

// end closes Run's stdin, as a client that is done does, and returns Run's
// result; it fails the test when Run goes on past ctx.
func (h *harness) end() error {
	h.t.Helper()
	h.in.Close()
	select {
	case <-h.done:
		return h.err
	case <-h.ctx.Done():
		h.t.Fatal("the proxy did not return after stdin closed")
		return nil
	}
}
