package proxy_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/proxy"
)

// BenchmarkCall compares a tools/call over a direct go-sdk connection with
// one through proxy.Run in-process (pipes instead of stdio), isolating the
// proxy's own cost from process scheduling.
func BenchmarkCall(b *testing.B) {
	s, err := mcptest.StartHTTP(mcptest.HTTPOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
	opts := &mcp.ClientSessionOptions{ProtocolVersion: legacy}

	direct, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.URL}, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer direct.Close()

	cr, pw := io.Pipe()
	pr, cw := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := proxy.Run(ctx, cr, cw, proxy.Options{URL: s.URL}); err != nil {
			b.Error(err)
		}
		cw.Close()
	}()
	proxied, err := client.Connect(ctx, &mcp.IOTransport{Reader: pr, Writer: pw}, opts)
	if err != nil {
		b.Fatal(err)
	}

	run := func(b *testing.B, cs *mcp.ClientSession) {
		params := &mcp.CallToolParams{Name: mcptest.ToolEcho, Arguments: map[string]any{"text": "hi"}}
		start := time.Now()
		for b.Loop() {
			if _, err := cs.CallTool(ctx, params); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/call")
	}
	b.Run("direct", func(b *testing.B) { run(b, direct) })
	b.Run("proxied", func(b *testing.B) { run(b, proxied) })
	b.Run("proxied-8-callers", func(b *testing.B) {
		b.SetParallelism(4) // 2 cores × 4 = 8 callers on this machine
		params := &mcp.CallToolParams{Name: mcptest.ToolEcho, Arguments: map[string]any{"text": "hi"}}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := proxied.CallTool(ctx, params); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	proxied.Close()
	pw.Close()
	wg.Wait()
}
