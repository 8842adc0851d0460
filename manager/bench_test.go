package manager_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/manager"
)

// BenchmarkConnectAllLatency compares ConnectAll for 1 server with ConnectAll
// for 20 servers, every server adding 100 ms to each HTTP response. Servers
// connect concurrently, so the ratio should stay near 1 (target ≤ 1.5).
func BenchmarkConnectAllLatency(b *testing.B) {
	const n = 20
	var entries []*config.Entry
	for i := range n {
		s := startHTTP(b, mcptest.HTTPOptions{Latency: 100 * time.Millisecond})
		entries = append(entries, remote(fmt.Sprintf("s%02d", i), s.URL))
	}
	connectAll := func(es []*config.Entry) time.Duration {
		cfg := &config.Config{Servers: map[string]*config.Entry{}}
		for _, e := range es {
			cfg.Servers[e.Name] = e
		}
		m := manager.New(cfg, manager.Options{})
		defer m.Close()
		start := time.Now()
		states := m.ConnectAll(context.Background())
		d := time.Since(start)
		for _, st := range states {
			if st.Status != manager.StatusConnected {
				b.Fatalf("%s: %s %s", st.Name, st.Status, st.Error)
			}
		}
		return d
	}
	var one, twenty time.Duration
	for b.Loop() {
		one += connectAll(entries[:1])
		twenty += connectAll(entries)
	}
	b.ReportMetric(float64(one.Milliseconds())/float64(b.N), "ms/1-server")
	b.ReportMetric(float64(twenty.Milliseconds())/float64(b.N), "ms/20-servers")
	b.ReportMetric(float64(twenty)/float64(one), "ratio")
}
