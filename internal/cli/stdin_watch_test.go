package cli

import (
	"io"
	"os"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/testwait"
)

// TestStdinWatchKeepsWhatItRead: what the client sends while the watcher
// reads stdin (during the sign-in before serving) reaches the proxy first,
// then the rest of stdin, through a pipe with deadlines (the watcher's read
// is interrupted, the proxy reads the pipe itself) and through a reader
// without them (the watcher goes on reading for the proxy).
func TestStdinWatchKeepsWhatItRead(t *testing.T) {
	for _, pollable := range []bool{true, false} {
		t.Run(map[bool]string{true: "pipe with deadlines", false: "reader without deadlines"}[pollable], func(t *testing.T) {
			var r io.Reader
			var w io.WriteCloser
			if pollable {
				pr, pw, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { pr.Close(); pw.Close() })
				r, w = pr, pw
			} else {
				pr, pw := io.Pipe()
				t.Cleanup(func() { pr.Close(); pw.Close() })
				r, w = struct{ io.Reader }{pr}, pw
			}
			sw := watchStdin(r)
			if _, err := io.WriteString(w, "initialize\n"); err != nil {
				t.Fatal(err)
			}
			testwait.For(t, 5*time.Second, "the watcher to read what the client sent", func() bool {
				sw.mu.Lock()
				defer sw.mu.Unlock()
				return len(sw.buf) == len("initialize\n")
			})
			in := sw.resume()
			if _, isWatch := in.(*stdinWatch); isWatch == pollable {
				t.Fatalf("resume returned %T for a %s", in, t.Name())
			}
			go func() {
				_, _ = io.WriteString(w, "tools/list\n")
				w.Close()
			}()
			got, err := io.ReadAll(in)
			if err != nil || string(got) != "initialize\ntools/list\n" {
				t.Fatalf("the proxy read %q, %v", got, err)
			}
			select {
			case <-sw.Ended():
				if pollable {
					t.Fatal("Ended after resume: the watcher should have stopped reading")
				}
			default:
				if !pollable {
					t.Fatal("stdin's end not reported by the watcher that read it")
				}
			}
		})
	}
}

// TestStdinWatchSeesTheEnd: the client closing stdin during the watch is
// reported at once (Ended), and the proxy then reads what was sent, then
// EOF.
func TestStdinWatchSeesTheEnd(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close() })
	sw := watchStdin(pr)
	_, _ = io.WriteString(pw, "last words\n")
	pw.Close()
	select {
	case <-sw.Ended():
	case <-time.After(5 * time.Second):
		t.Fatal("stdin's end was not noticed")
	}
	got, err := io.ReadAll(sw.resume())
	if err != nil || string(got) != "last words\n" {
		t.Fatalf("read %q, %v", got, err)
	}
}
