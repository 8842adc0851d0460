// Command api is a load generator for mcplink's HTTP API.
//
//	go run ./bench/api                      # starts its own API (10 servers) and loads GET /mcp
//	go run ./bench/api -url http://127.0.0.1:19880 -token-file tok -c 50 -d 10s
//	go run ./bench/api -flows 1000 -servers 20   # pending-flow memory test
//
// The GET /mcp load uses -c concurrent keep-alive clients for -d and prints
// requests per second and latency percentiles. The flow test starts -flows
// pending authorization flows spread over -servers OAuth servers, prints the
// heap growth, waits for them to expire and prints what is left.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcplink/mcplink/api/apitest"
)

func main() {
	var (
		target    = flag.String("url", "", "API base URL (default: start an in-process API)")
		tokenFile = flag.String("token-file", "", "file holding the API token")
		conc      = flag.Int("c", 50, "concurrent keep-alive clients")
		dur       = flag.Duration("d", 5*time.Second, "load duration")
		flows     = flag.Int("flows", 0, "run the pending-flow memory test with this many flows instead")
		servers   = flag.Int("servers", 20, "OAuth servers for the flow test")
		ttl       = flag.Duration("ttl", 10*time.Second, "flow lifetime for the flow test")
	)
	flag.Parse()
	if *flows > 0 {
		r, err := PendingFlows(*flows, *servers, *ttl)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/api:", err)
			os.Exit(1)
		}
		fmt.Println(r)
		return
	}
	token := ""
	if *tokenFile != "" {
		data, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/api:", err)
			os.Exit(1)
		}
		token = strings.TrimSpace(string(data))
	}
	base := *target
	if base == "" {
		env, err := apitest.Start(apitest.Options{Plain: 5, Secure: 5})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/api:", err)
			os.Exit(1)
		}
		defer env.Close()
		base = env.URL
	}
	r, err := Load(context.Background(), base+"/mcp", token, *conc, *dur)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/api:", err)
		os.Exit(1)
	}
	fmt.Println(r)
}

// LoadResult is the outcome of Load.
type LoadResult struct {
	Requests      int64
	Duration      time.Duration
	P50, P99, Max time.Duration
}

// RPS is requests per second.
func (r LoadResult) RPS() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Duration.Seconds()
}

func (r LoadResult) String() string {
	return fmt.Sprintf("GET /mcp: %d requests in %s = %.0f req/s (p50 %s, p99 %s, max %s)",
		r.Requests, r.Duration.Round(time.Millisecond), r.RPS(), r.P50, r.P99, r.Max)
}

// Load sends GET url from conc keep-alive clients for d. Any answer but 200
// stops it with an error.
func Load(ctx context.Context, url, token string, conc int, d time.Duration) (LoadResult, error) {
	tr := &http.Transport{MaxIdleConns: conc, MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		n    atomic.Int64
		mu   sync.Mutex
		lats []time.Duration
		errs = make(chan error, conc)
		wg   sync.WaitGroup
	)
	begin := time.Now()
	for range conc {
		wg.Go(func() {
			local := make([]time.Duration, 0, 4096)
			defer func() { mu.Lock(); lats = append(lats, local...); mu.Unlock() }()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
						cancel()
					}
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("GET %s: %s %v", url, resp.Status, err)
						cancel()
					}
					return
				}
				local = append(local, time.Since(t0))
				n.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	close(errs)
	if err := <-errs; err != nil {
		return LoadResult{}, err
	}
	if len(lats) == 0 {
		return LoadResult{}, errors.New("no request completed")
	}
	slices.Sort(lats)
	return LoadResult{Requests: n.Load(), Duration: elapsed, P50: lats[len(lats)/2], P99: lats[len(lats)*99/100], Max: lats[len(lats)-1]}, nil
}

// FlowResult is the outcome of PendingFlows.
type FlowResult struct {
	Flows, Servers   int
	StartTime        time.Duration
	GrowthMiB        float64 // heap in use with every flow pending, minus before
	AfterExpiryMiB   float64 // heap in use after expiry, minus before
	GoroutinesBefore int
	GoroutinesAfter  int
}

func (r FlowResult) String() string {
	return fmt.Sprintf("%d pending flows over %d servers (started in %s): heap growth %.1f MiB; after expiry %+.1f MiB, goroutines %d → %d",
		r.Flows, r.Servers, r.StartTime.Round(time.Millisecond), r.GrowthMiB, r.AfterExpiryMiB, r.GoroutinesBefore, r.GoroutinesAfter)
}

func heapMiB() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// PendingFlows starts flows authorization flows spread evenly over servers
// OAuth servers through the API, measures the heap, then waits for the flows
// to expire (ttl) and measures again.
func PendingFlows(flows, servers int, ttl time.Duration) (FlowResult, error) {
	env, err := apitest.Start(apitest.Options{Secure: servers, UnbrakedClock: true, NoConnect: true, FlowTTL: ttl})
	if err != nil {
		return FlowResult{}, err
	}
	defer env.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ttl+time.Minute)
	defer cancel()
	// Warm up: one flow per server registers the client; cancel them.
	for i := range servers {
		name := fmt.Sprintf("secure%d", i)
		if _, err := env.Client.StartAuth(ctx, name); err != nil {
			return FlowResult{}, err
		}
		if _, err := env.Client.Logout(ctx, name); err != nil {
			return FlowResult{}, err
		}
	}
	r := FlowResult{Flows: flows, Servers: servers, GoroutinesBefore: runtime.NumGoroutine()}
	before := heapMiB()
	begin := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, servers)
	for i := range servers {
		name := fmt.Sprintf("secure%d", i)
		n := flows / servers
		if i < flows%servers {
			n++
		}
		wg.Go(func() {
			for range n {
				if _, err := env.Client.StartAuth(ctx, name); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return r, err
	}
	r.StartTime = time.Since(begin)
	if got := env.Server.PendingFlows(); got != flows {
		return r, fmt.Errorf("%d flows pending, want %d (some expired during start-up? raise -ttl)", got, flows)
	}
	r.GrowthMiB = heapMiB() - before
	for env.Server.PendingFlows() > 0 {
		if ctx.Err() != nil {
			return r, fmt.Errorf("%d flows still pending after their lifetime", env.Server.PendingFlows())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let flow goroutines return
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	r.AfterExpiryMiB = heapMiB() - before
	r.GoroutinesAfter = runtime.NumGoroutine()
	return r, nil
}
