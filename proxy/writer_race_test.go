package proxy_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/proxy"
)

// TestClientWriteErrorEndsRun: when the client stops reading (its end of
// stdout closed: writes fail with EPIPE), Run returns the write error. The
// error is recorded by the goroutines that forward the server's answers and
// read by the loop that reads the client's messages, so under -race (make
// test runs this package with it) this test fails if that read is not
// synchronized with the write.
func TestClientWriteErrorEndsRun(t *testing.T) {
	ts := startServer(t)
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR.Close() // nobody reads: every write fails
	t.Cleanup(func() { outW.Close() })
	inR, inW := io.Pipe()
	t.Cleanup(func() { inW.Close(); inR.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- proxy.Run(ctx, inR, outW, proxy.Options{URL: ts.URL, Mode: proxy.ModeHTTPOnly}) }()
	// The client keeps writing requests; each answer's write fails while
	// the loop reads the next request.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		msg := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}` + "\n"
		if _, err := io.WriteString(inW, msg); err != nil {
			return
		}
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if _, err := fmt.Fprintf(inW, `{"jsonrpc":"2.0","id":%d,"method":"ping"}`+"\n", i); err != nil {
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "writing to the client") {
			t.Fatalf("Run = %v, want the error writing to the client", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run went on although every write to the client failed")
	}
}
