package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/callback"
	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/oauth"
)

// minRuns is the least number of runs a median is taken over.
const minRuns = 5

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkAuthToStoredToken measures `mcplink auth` against oidc-provider
// from process start to the token in the store, without the user's browser
// steps: start → authorization URL on stderr (discovery, registration, PKCE),
// plus Approve pressed → token stored (the provider's redirects, the callback,
// the code exchange, the store write). Each run is a first sign-in (fresh
// data directory, so registration included). Metrics are medians over
// max(b.N, 5) runs.
func BenchmarkAuthToStoredToken(b *testing.B) {
	e := sharedEnv(b, relaxed)
	sharedBrowser(b)
	runs := max(b.N, minRuns)
	var toURL, afterApprove, total, exit []time.Duration
	b.ResetTimer()
	for range runs {
		c := newClient(b, e)
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		t0 := time.Now()
		p := c.start(b, "auth", serverName, "--no-browser")
		authURL, err := p.stderr.waitFor(ctx, e.authURLIn)
		if err != nil {
			cancel()
			b.Fatalf("no authorization URL: %v\n%s", err, p.stderr.String())
		}
		tURL := time.Now()
		stored := make(chan time.Time, 1)
		go func() { // ends with ctx at the latest
			at, err := c.waitToken(ctx)
			if err == nil {
				stored <- at
			}
			close(stored)
		}()
		si := signIn(b, authURL, signInOptions{}, c.landed)
		tStored, ok := <-stored
		if !ok {
			cancel()
			b.Fatalf("no token stored\n%s", p.stderr.String())
		}
		p.mustSucceed(b, 30*time.Second)
		tExit := time.Now()
		cancel()
		toURL = append(toURL, tURL.Sub(t0))
		afterApprove = append(afterApprove, tStored.Sub(si.Approved))
		total = append(total, tURL.Sub(t0)+tStored.Sub(si.Approved))
		exit = append(exit, tExit.Sub(tStored))
	}
	b.StopTimer()
	b.ReportMetric(ms(median(total)), "ms-to-token-median")
	b.ReportMetric(ms(median(toURL)), "ms-start-to-url-median")
	b.ReportMetric(ms(median(afterApprove)), "ms-approve-to-token-median")
	b.ReportMetric(ms(median(exit)), "ms-token-to-exit-median")
	b.ReportMetric(float64(runs), "runs")
}

// engineFor returns an in-process OAuth engine over c's store and c's entry.
func engineFor(tb testing.TB, c *client) (*oauth.Engine, *config.Entry) {
	tb.Helper()
	st, err := authstore.NewFileStore(authstore.FileOptions{Dir: c.dataDir})
	if err != nil {
		tb.Fatal(err)
	}
	reg := callback.New(callback.Options{})
	tb.Cleanup(func() { reg.Close() })
	cfg, err := config.Load(config.LoadOptions{File: c.configFile, Getenv: func(string) (string, bool) { return "", false }})
	if err != nil {
		tb.Fatal(err)
	}
	entry, err := cfg.Lookup(serverName)
	if err != nil {
		tb.Fatal(err)
	}
	return oauth.New(oauth.Options{Store: st, Callbacks: reg}), entry
}

// BenchmarkProactiveRefresh measures oauth.Engine.Token when the access
// token expires within oauth.RefreshMargin: every call is a refresh_token
// grant at oidc-provider (rotating the refresh token) plus the locked store
// write. "cached" is the same call with an hour left (no network).
func BenchmarkProactiveRefresh(b *testing.B) {
	for _, bc := range []struct {
		name    string
		cfg     idpConfig
		refresh bool
	}{
		{"refresh", relaxedShort, true},
		{"cached", relaxed, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := sharedEnv(b, bc.cfg)
			c := newClient(b, e)
			authenticate(b, c, signInOptions{})
			eng, entry := engineFor(b, c)
			ctx := context.Background()
			prev, err := eng.Token(ctx, entry)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				t, err := eng.Token(ctx, entry)
				if err != nil {
					b.Fatal(err)
				}
				if changed := t.AccessToken != prev.AccessToken; changed != bc.refresh {
					b.Fatalf("token changed=%v, want %v", changed, bc.refresh)
				}
				prev = t
			}
		})
	}
}

// BenchmarkCallProcess measures a whole `mcplink call` process with a fresh
// token and with a stored token that has expired (mcplink refreshes first).
func BenchmarkCallProcess(b *testing.B) {
	e := sharedEnv(b, relaxed)
	c := newClient(b, e)
	authenticate(b, c, signInOptions{})
	st, err := authstore.NewFileStore(authstore.FileOptions{Dir: c.dataDir})
	if err != nil {
		b.Fatal(err)
	}
	expire := func() {
		err := st.Update(context.Background(), serverName, func(cur *authstore.Credentials) (*authstore.Credentials, error) {
			cur.Token.Expiry = time.Now().Add(-time.Minute)
			return cur, nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, expired := range []bool{false, true} {
		name := "fresh"
		if expired {
			name = "expired"
		}
		b.Run(name, func(b *testing.B) {
			runs := max(b.N, minRuns)
			var ds []time.Duration
			for range runs {
				if expired {
					expire()
				}
				before := c.creds(b).Token.AccessToken
				t0 := time.Now()
				callWhoami(b, c)
				ds = append(ds, time.Since(t0))
				if after := c.creds(b).Token.AccessToken; (after != before) != expired {
					b.Fatalf("refreshed=%v, want %v", after != before, expired)
				}
			}
			b.ReportMetric(ms(median(ds)), "ms-call-median")
			b.ReportMetric(float64(runs), "runs")
		})
	}
}
