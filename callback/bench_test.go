package callback

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/mcplink/mcplink/internal/testenv"
)

// benchCycle runs Begin → HTTP GET of the callback → Wait b.N times.
func benchCycle(b *testing.B, keepListener bool) {
	reg := New(Options{})
	defer reg.Close()
	port := testenv.FreePort(b)
	ctx := context.Background()
	if keepListener {
		// A second pending flow keeps the listener up, measuring the
		// per-flow cost on a shared listener without re-binding.
		keep, err := reg.Begin(ctx, Request{RedirectURI: uriFor(port), State: "keep"})
		if err != nil {
			b.Fatal(err)
		}
		defer keep.Close()
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: !keepListener}}
	defer client.CloseIdleConnections()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		state := fmt.Sprintf("s%d", i)
		f, err := reg.Begin(ctx, Request{RedirectURI: uriFor(port), State: state, Server: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		autoReport(f, nil) // the owner's exchange, instant here
		resp, err := client.Get(uriFor(port) + "?" + url.Values{"code": {"c"}, "state": {state}}.Encode())
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		if _, err := f.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/cycle")
}

// BenchmarkCycleFreshListener: each cycle binds, serves one callback and frees the port.
func BenchmarkCycleFreshListener(b *testing.B) { benchCycle(b, false) }

// BenchmarkCycleSharedListener: cycles reuse a listener kept up by another pending flow.
func BenchmarkCycleSharedListener(b *testing.B) { benchCycle(b, true) }
