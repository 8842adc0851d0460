package rawio

import (
	"context"
	"io"
	"net"
	"syscall"
	"time"
)

// Conn returns c reading and writing with raw system calls when c is a
// TCP or Unix connection on Linux (whose descriptor the runtime made and
// keeps non-blocking), and c itself otherwise. Deadlines, Close and the
// addresses are c's.
func Conn(c net.Conn) net.Conn {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return c
	}
	r := newRaw(c.(syscall.Conn))
	if !r.ok() {
		return c
	}
	return &conn{Conn: c, raw: r}
}

type conn struct {
	net.Conn
	raw raw
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.raw.read(b)
	if err != nil && err != io.EOF {
		err = &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	n, err := c.raw.write(b)
	if err != nil {
		err = &net.OpError{Op: "write", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return n, err
}

// DialContext returns a dial function for http.Transport.DialContext that
// dials as d does and wraps the connection with Conn.
func DialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return Conn(c), nil
	}
}

// Dialer is the dialer of http.DefaultTransport.
func Dialer() *net.Dialer { return &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second} }

// CloseWrite shuts down the writing side, as TCPConn and UnixConn do.
func (c *conn) CloseWrite() error {
	return c.Conn.(interface{ CloseWrite() error }).CloseWrite()
}
