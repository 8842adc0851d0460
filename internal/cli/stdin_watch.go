package cli

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// errClientGone is the cause of a proxy context cancelled because the
// client closed the proxy's stdin.
var errClientGone = errors.New("the client closed stdin")

// stdinWatchLimit bounds what a stdinWatch holds: beyond it, it stops
// reading until the proxy takes the data (the client then waits, as it
// would if nobody read its pipe).
const stdinWatchLimit = 4 << 20

// stdinWatch reads the client's stdin while the proxy is not serving yet
// (the sign-in before serving), so that the end of stdin — the client went
// away — is noticed at once (ended). What it reads is kept for the proxy
// (resume). Its goroutine stops at stdin's end, or when resume interrupts
// its read with a deadline; where stdin has no deadlines (a terminal, a
// non-pipe reader, Windows) it goes on reading for the proxy, which then
// reads through it.
type stdinWatch struct {
	in io.Reader

	mu      sync.Mutex
	cond    *sync.Cond    // signalled when buf, err or stopped change
	buf     []byte        // read and not yet handed on
	err     error         // stdin's end (io.EOF) or read error, once seen
	stopped bool          // the goroutine returned without an error (interrupted)
	ended   chan struct{} // closed when err is set
	done    chan struct{} // closed when the goroutine returns
	// interrupting is set by resume before it sets the read deadline.
	interrupting bool
}

// deadliner is stdin when its reads can be interrupted (a pollable pipe).
type deadliner interface {
	SetReadDeadline(time.Time) error
}

// watchStdin starts watching in.
func watchStdin(in io.Reader) *stdinWatch {
	w := &stdinWatch{in: in, ended: make(chan struct{}), done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.run()
	return w
}

func (w *stdinWatch) run() {
	defer close(w.done)
	b := make([]byte, 32<<10)
	for {
		w.mu.Lock()
		for len(w.buf) >= stdinWatchLimit && !w.interrupting {
			w.cond.Wait()
		}
		stop := w.interrupting
		w.mu.Unlock()
		if stop {
			w.finish(nil)
			return
		}
		n, err := w.in.Read(b)
		w.mu.Lock()
		w.buf = append(w.buf, b[:n]...)
		interrupted := w.interrupting && errors.Is(err, os.ErrDeadlineExceeded)
		w.mu.Unlock()
		w.cond.Broadcast()
		if interrupted {
			w.finish(nil)
			return
		}
		if err != nil {
			w.finish(err)
			return
		}
	}
}

// finish records how the goroutine ended: err is stdin's end, nil an
// interruption by resume.
func (w *stdinWatch) finish(err error) {
	w.mu.Lock()
	if err != nil {
		w.err = err
		close(w.ended)
	} else {
		w.stopped = true
	}
	w.mu.Unlock()
	w.cond.Broadcast()
}

// Ended is closed when stdin has ended.
func (w *stdinWatch) Ended() <-chan struct{} { return w.ended }

// resume stops watching and returns what the proxy reads: what was read so
// far, then the rest of stdin.
func (w *stdinWatch) resume() io.Reader {
	if d, ok := w.in.(deadliner); ok {
		w.mu.Lock()
		w.interrupting = true
		w.mu.Unlock()
		w.cond.Broadcast()
		if d.SetReadDeadline(time.Unix(1, 0)) == nil {
			<-w.done
			_ = d.SetReadDeadline(time.Time{})
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.err != nil {
				return io.MultiReader(bytes.NewReader(w.buf), &errReader{w.err})
			}
			return io.MultiReader(bytes.NewReader(w.buf), w.in)
		}
		// No deadlines after all: keep reading for the proxy.
		w.mu.Lock()
		w.interrupting = false
		w.mu.Unlock()
	}
	return w
}

// Read hands on what the goroutine read, for stdin without deadlines.
func (w *stdinWatch) Read(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.buf) == 0 && w.err == nil && !w.stopped {
		w.cond.Wait()
	}
	if len(w.buf) > 0 {
		n := copy(p, w.buf)
		w.buf = w.buf[n:]
		w.cond.Broadcast() // room again under stdinWatchLimit
		return n, nil
	}
	if w.err != nil {
		return 0, w.err
	}
	w.mu.Unlock()
	n, err := w.in.Read(p)
	w.mu.Lock()
	return n, err
}

// errReader returns err on every read.
type errReader struct{ err error }

func (r *errReader) Read([]byte) (int, error) { return 0, r.err }
