package oauth

import (
	"slices"
	"testing"
	"time"

	"github.com/mcplink/mcplink/internal/oauthtest"
)

func benchAuth(b *testing.B, fresh bool) {
	s := startAS(b, oauthtest.Options{})
	v := newEnv(b, "", nil)
	entry := testEntry(b, s.MCPURL)
	ctx := ctxT(b)
	durs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		v.clock.Advance(AttemptWindow) // keep the loop brake out of the measurement
		if fresh {
			if err := v.store.Delete(ctx, entry.Name); err != nil { // forget the registration too
				b.Fatal(err)
			}
		}
		start := time.Now()
		if _, err := v.e.Authenticate(ctx, entry); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "median-ns/op")
	b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns/op")
}

// BenchmarkAuthenticate: probe, discovery, stored client, browser (follow
// redirects), loopback callback, code exchange, store.
func BenchmarkAuthenticate(b *testing.B) { benchAuth(b, false) }

// BenchmarkAuthenticateWithRegistration adds RFC 7591 registration each time.
func BenchmarkAuthenticateWithRegistration(b *testing.B) { benchAuth(b, true) }

// BenchmarkTokenCached is the per-request cost of a valid token.
func BenchmarkTokenCached(b *testing.B) {
	s := startAS(b, oauthtest.Options{})
	v := newEnv(b, "", nil)
	entry := testEntry(b, s.MCPURL)
	ctx := ctxT(b)
	if _, err := v.e.Authenticate(ctx, entry); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := v.e.Token(ctx, entry); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefresh is one refresh under the store lock.
func BenchmarkRefresh(b *testing.B) {
	s := startAS(b, oauthtest.Options{})
	v := newEnv(b, "", nil)
	entry := testEntry(b, s.MCPURL)
	ctx := ctxT(b)
	if _, err := v.e.Authenticate(ctx, entry); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		v.clock.Advance(2 * time.Hour)
		if _, err := v.e.Token(ctx, entry); err != nil {
			b.Fatal(err)
		}
	}
}
