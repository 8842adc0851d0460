package oauth

import (
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/mcplink/mcplink/internal/oauthtest"
)

// holdPort occupies the callback port with a plain HTTP server that is not
// mcplink: it answers the probe 404 at once, so the flow goes on without a
// listener (paste only) without waiting for the probe to time out.
func holdPort(t *testing.T, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// TestPasteThenEndOfInput: the redirect URL pasted and the input ending at
// once (echo URL | mcplink auth, a paste then Ctrl-D) completes the sign-in
// every time. The end of input used to win a race against the delivered
// paste about half the time and fail the flow with "standard input ended".
// No listener runs (the port is busy), so the paste is the only way in.
func TestPasteThenEndOfInput(t *testing.T) {
	s := startAS(t, oauthtest.Options{})
	urls := make(chan string, 1)
	v := newEnv(t, "", remoteBrowser(urls))
	entry := testEntry(t, s.MCPURL)
	holdPort(t, entry.OAuth.CallbackPort)
	const runs = 50
	for i := range runs {
		paste := make(chan string)
		go func() {
			select {
			case u := <-urls:
				paste <- u
				close(paste) // end of input right after the line
			case <-ctxT(t).Done():
			}
		}()
		c, err := v.e.AuthenticateWith(ctxT(t), entry, AuthOptions{Paste: paste})
		if err != nil {
			t.Fatalf("run %d of %d: pasted URL then end of input: %v", i+1, runs, err)
		}
		if c.Token == nil || c.Token.AccessToken == "" {
			t.Fatalf("run %d: no token stored", i+1)
		}
		v.clock.Advance(AttemptWindow) // stay below the loop brake
	}
	if got := s.Stats().TokenRequests["authorization_code"]; got != runs {
		t.Errorf("%d code exchanges, want %d", got, runs)
	}
}
