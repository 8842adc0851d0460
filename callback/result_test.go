package callback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/testenv"
)

// TestResultPageShowsExchangeFailure: the owner reports that the token
// exchange failed; the page says so, with the failure text HTML-escaped and
// stripped of control characters, and never says "Signed in".
func TestResultPageShowsExchangeFailure(t *testing.T) {
	reg := New(Options{})
	defer reg.Close()
	port := testenv.FreePort(t)
	state := newState(t)
	f := beginNoReport(t, reg, port, state)
	exchangeErr := errors.New("MCP server \"notion\": exchanging the authorization code: token endpoint http://as.example/token returned invalid_grant: code <b>reused</b><script>x()</script>\x1b[31m red\x07 \u009b1m end")
	got := make(chan url.Values, 1)
	go func() {
		v, err := waitFlow(t, f)
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		got <- v
		f.Report(exchangeErr)
	}()
	r := do(t, http.MethodGet, callbackURL(port, url.Values{"code": {"the-code"}, "state": {state}}))
	checkPageHeaders(t, r)
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	for _, want := range []string{"Sign-in to notion failed", "could not finish signing in", "invalid_grant: code &lt;b&gt;reused&lt;/b&gt;&lt;script&gt;x()&lt;/script&gt;[31m red 1m end"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page lacks %q:\n%s", want, r.body)
		}
	}
	for _, bad := range []string{"Signed in", "\x1b", "\x07", "\u009b", "<script>", "<b>", "the-code", state} {
		if strings.Contains(r.body, bad) {
			t.Errorf("page contains %q:\n%s", bad, r.body)
		}
	}
	if v := <-got; v.Get("code") != "the-code" {
		t.Errorf("owner got %v", v)
	}
	waitBindable(t, port)
}

// TestResultPageWaitsForExchange: the page is written only once the owner
// reported success, and the port stays bound until it is out.
func TestResultPageWaitsForExchange(t *testing.T) {
	reg := New(Options{})
	defer reg.Close()
	port := testenv.FreePort(t)
	state := newState(t)
	f := beginNoReport(t, reg, port, state)
	const exchange = 300 * time.Millisecond
	go func() {
		if _, err := waitFlow(t, f); err != nil {
			t.Errorf("Wait: %v", err)
		}
		assertBound(t, port) // the page is not written yet: the listener stays
		time.Sleep(exchange)
		f.Report(nil)
		f.Close()
	}()
	start := time.Now()
	r := do(t, http.MethodGet, callbackURL(port, url.Values{"code": {"c"}, "state": {state}}))
	if el := time.Since(start); el < exchange {
		t.Errorf("page written after %s, before the exchange (%s) finished", el, exchange)
	}
	if r.status != http.StatusOK || !strings.Contains(r.body, "Signed in to notion. You can close this tab.") {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	waitBindable(t, port)
}

// TestResultPageNotConfirmed: without a report the page does not claim
// success: after ResultTimeout, at once when the owner closes the flow
// without reporting, and when the registry closes.
func TestResultPageNotConfirmed(t *testing.T) {
	const timeout = 300 * time.Millisecond
	cases := map[string]struct {
		owner func(reg *Registry, f *Flow)
		max   time.Duration
	}{
		"timeout":        {func(*Registry, *Flow) {}, timeout + 2*time.Second},
		"closed":         {func(_ *Registry, f *Flow) { f.Close() }, timeout},
		"registry close": {func(reg *Registry, _ *Flow) { reg.Close() }, timeout},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			reg := New(Options{ResultTimeout: timeout})
			if name != "timeout" {
				reg.opts.ResultTimeout = time.Minute // only the owner's act ends the wait
			}
			defer reg.Close()
			port := testenv.FreePort(t)
			state := newState(t)
			f := beginNoReport(t, reg, port, state)
			go func() {
				<-f.Done()
				c.owner(reg, f)
			}()
			start := time.Now()
			r := do(t, http.MethodGet, callbackURL(port, url.Values{"code": {"c"}, "state": {state}}))
			el := time.Since(start)
			if r.status != http.StatusOK || !strings.Contains(r.body, "Sign-in to notion not confirmed") || strings.Contains(r.body, "Signed in") {
				t.Fatalf("status %d body %s", r.status, r.body)
			}
			if el > c.max {
				t.Errorf("page after %s, want within %s", el, c.max)
			}
			waitBindable(t, port)
		})
	}
}

// v6Loopback reports whether this machine has ::1.
func v6Loopback() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// probeAnswers reports whether an mcplink callback listener answers on addr.
func probeAnswers(addr string) bool {
	_, ok := probeHolder(context.Background(), addr, time.Second)
	return ok
}

// TestLocalhostBindsBothFamilies: a localhost redirect URI is served on
// 127.0.0.1 and ::1, so no other process can listen on the other address
// family and catch the code; either one taken is the busy-port error.
func TestLocalhostBindsBothFamilies(t *testing.T) {
	port := testenv.FreePort(t)
	v4 := fmt.Sprintf("127.0.0.1:%d", port)
	v6 := fmt.Sprintf("[::1]:%d", port)
	uri := fmt.Sprintf("http://localhost:%d/cb", port)
	has6 := v6Loopback()
	reg := New(Options{})
	defer reg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	busy := func(t *testing.T, addr string) {
		t.Helper()
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("cannot take %s for the test: %v", addr, err)
		}
		defer ln.Close()
		_, err = reg.Begin(ctx, Request{RedirectURI: uri, State: "busy", Server: "notion", ConfigFile: "./mcplink.json"})
		var pe *PortInUseError
		if !errors.As(err, &pe) || pe.Port != port || pe.Addr != addr || pe.OtherMcplink {
			t.Fatalf("Begin with %s taken = %v, want *PortInUseError for %s", addr, err, addr)
		}
		if addr == v6 && !strings.Contains(err.Error(), fmt.Sprintf("port %d ([::1]:%d) is already in use", port, port)) {
			t.Errorf("message does not name the address: %v", err)
		}
		// Nothing of ours stays bound on the other address.
		other := v4
		if addr == v4 {
			other = v6
		}
		if other == v6 && !has6 {
			return
		}
		ln2, err := net.Listen("tcp", other)
		if err != nil {
			t.Fatalf("%s still bound after the failed Begin: %v", other, err)
		}
		ln2.Close()
	}
	t.Run("::1 taken", func(t *testing.T) {
		if !has6 {
			t.Skip("no ::1 on this machine")
		}
		busy(t, v6)
	})
	t.Run("127.0.0.1 taken", func(t *testing.T) { busy(t, v4) })

	t.Run("free", func(t *testing.T) {
		f, err := reg.Begin(ctx, Request{RedirectURI: uri, State: "s", Server: "notion"})
		if err != nil {
			t.Fatal(err)
		}
		autoReport(f, nil)
		if f.ListenAddr() != v4 {
			t.Errorf("ListenAddr = %q, want %q", f.ListenAddr(), v4)
		}
		if !probeAnswers(v4) {
			t.Errorf("nothing of ours answers on %s", v4)
		}
		if has6 {
			if !probeAnswers(v6) {
				t.Errorf("nothing of ours answers on %s", v6)
			}
			// Nobody else can take ::1 now.
			if ln, err := net.Listen("tcp", v6); err == nil {
				ln.Close()
				t.Errorf("another process could listen on %s beside the localhost flow", v6)
			}
		}
		// The code arrives on ::1 (a browser resolving localhost to it).
		host := v4
		if has6 {
			host = v6
		}
		r := do(t, http.MethodGet, "http://"+host+"/cb?code=c6&state=s")
		if r.status != http.StatusOK || !strings.Contains(r.body, "Signed in to notion") {
			t.Fatalf("callback on %s: status %d body %s", host, r.status, r.body)
		}
		if v, err := waitFlow(t, f); err != nil || v.Get("code") != "c6" {
			t.Fatalf("Wait = %v, %v", v, err)
		}
		// Both addresses are released after the last flow.
		waitBindable(t, port)
		if has6 {
			if err := bindableWithin(v6, time.Second); err != nil {
				t.Fatalf("%s still bound after the flow ended: %v", v6, err)
			}
		}
	})

	t.Run("shared with a 127.0.0.1 flow", func(t *testing.T) {
		// A flow on 127.0.0.1 and one on localhost share the port's listener.
		a := begin(t, reg, port, "a")
		b, err := reg.Begin(ctx, Request{RedirectURI: uri, State: "b", Server: "linear"})
		if err != nil {
			t.Fatalf("localhost flow beside a 127.0.0.1 flow on the same port: %v", err)
		}
		autoReport(b, nil)
		if has6 && !probeAnswers(v6) {
			t.Errorf("::1 not served for the localhost flow")
		}
		for st, u := range map[string]string{"a": callbackURL(port, url.Values{"code": {"c"}, "state": {"a"}}), "b": "http://" + v4 + "/cb?code=c&state=b"} {
			r := do(t, http.MethodGet, u)
			if r.status != http.StatusOK {
				t.Fatalf("flow %s: status %d", st, r.status)
			}
		}
		if _, err := waitFlow(t, a); err != nil {
			t.Fatal(err)
		}
		if _, err := waitFlow(t, b); err != nil {
			t.Fatal(err)
		}
		waitBindable(t, port)
	})
}
