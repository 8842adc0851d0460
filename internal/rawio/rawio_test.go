package rawio

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
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
