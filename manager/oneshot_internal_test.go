package manager

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestOneShotDeleteReturnsOnceWritten: with every bound an hour away, a
// one-shot DELETE to a server that never answers returns — because the
// request was written, not because a bound expired — and the server got it.
func TestOneShotDeleteReturnsOnceWritten(t *testing.T) {
	arrived := make(chan string, 1)
	stop := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.Method + " " + r.Header.Get("Mcp-Session-Id")
		select { // never answers; ends when the client goes away
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	defer close(stop) // before srv.Close, which waits for the handler

	base := &http.Transport{}
	defer base.CloseIdleConnections()
	ct := &connTransport{closed: make(chan struct{}), base: base, oneShot: true, deleteCap: time.Hour}
	ct.minRTT.Store(int64(time.Hour))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodDelete, srv.URL+"/mcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Mcp-Session-Id", "s-1")
	done := make(chan error, 1)
	go func() {
		resp, err := ct.RoundTrip(req)
		if resp != nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errDeleteUnanswered) {
			t.Errorf("RoundTrip = %v, want errDeleteUnanswered", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the DELETE waited for its answer")
	}
	select {
	case got := <-arrived:
		if got != "DELETE s-1" {
			t.Errorf("server got %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server never got the DELETE")
	}
}

// TestDeleteBound: one round trip (the fastest POST), within the floor and
// the cap.
func TestDeleteBound(t *testing.T) {
	for _, c := range []struct {
		rtt, cap, want time.Duration
	}{
		{0, 0, deleteCapDefault},                            // nothing timed: the cap
		{100 * time.Millisecond, 0, 100 * time.Millisecond}, // one round trip
		{time.Microsecond, 0, deleteFloor},                  // loopback: the floor
		{time.Minute, 0, deleteCapDefault},                  // slow: the cap
		{time.Minute, time.Hour, time.Minute},
	} {
		ct := &connTransport{deleteCap: c.cap}
		ct.noteRTT(c.rtt)
		if c.rtt > 0 {
			ct.noteRTT(2 * c.rtt) // slower round trips do not raise it
		}
		if got := ct.deleteBound(); got != c.want {
			t.Errorf("rtt %v cap %v: bound %v, want %v", c.rtt, c.cap, got, c.want)
		}
		// Waiting for an answer's stream to end has a floor of its own.
		if got, want := ct.bound(settleFloor), max(c.want, settleFloor); got != want {
			t.Errorf("rtt %v cap %v: settle bound %v, want %v", c.rtt, c.cap, got, want)
		}
	}
}
