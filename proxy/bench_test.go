package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strconv"
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

// BenchmarkForward measures the proxy alone on the forwarding path: the
// client side writes pre-encoded tools/call lines and reads the answer lines
// (no go-sdk client, allocation-free), so allocs/op and B/op are the proxy's
// plus the in-process server's. The server's share is the same before and
// after a change to the proxy; `-memprofile` with pprof's -focus on
// net/http.(*conn).serve separates it.
func BenchmarkForward(b *testing.B) {
	for _, tc := range []struct {
		name string
		json bool
	}{{"sse", false}, {"json", true}} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := mcptest.StartHTTP(mcptest.HTTPOptions{JSONResponse: tc.json})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cr, pw := io.Pipe()
			pr, cw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				done <- proxy.Run(ctx, cr, cw, proxy.Options{URL: s.URL})
				cw.Close()
			}()
			answers := bufio.NewReader(pr)
			call := func(line []byte) []byte {
				if _, err := pw.Write(line); err != nil {
					b.Fatal(err)
				}
				for {
					ans, err := answers.ReadSlice('\n')
					if err != nil {
						b.Fatal(err)
					}
					if bytes.Contains(ans, []byte(`"id"`)) { // not a notification
						return ans
					}
				}
			}
			call([]byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + legacy + `","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}` + "\n"))
			if _, err := pw.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized","params":{}}` + "\n")); err != nil {
				b.Fatal(err)
			}
			var line []byte
			id := 0
			for b.Loop() {
				id++
				line = append(line[:0], `{"jsonrpc":"2.0","id":`...)
				line = strconv.AppendInt(line, int64(id), 10)
				line = append(line, `,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`+"\n"...)
				if ans := call(line); !bytes.Contains(ans, []byte(`"hi"`)) {
					b.Fatalf("answer %s", ans)
				}
			}
			b.StopTimer()
			pw.Close()
			if err := <-done; err != nil {
				b.Error(err)
			}
		})
	}
}
