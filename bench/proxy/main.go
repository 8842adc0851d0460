// Command proxybench compares, in one run against the same loopback
// Streamable HTTP server (internal/mcptest, no auth), a direct go-sdk
// client, `mcplink proxy` and mcp-remote: cold start (spawn → initialize
// answered → tools/list answered), tools/call latency and the latency each
// proxy adds over the direct connection, peak RSS, and the throughput of 8
// concurrent callers as a share of the direct one. Latency and throughput
// are measured -runs times, interleaved (direct, then each proxy), and the
// table shows each metric's median over the runs: the numbers are only as
// quiet as the machine.
//
// Usage: go run ./bench/proxy -mcplink bin/mcplink [-mcp-remote "node .../proxy.js"] [-runs 3] [-json-response]
// (bench/proxy/run.sh builds mcplink and installs mcp-remote@0.15.1).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/testenv"

	"github.com/mcplink/mcplink/bench/internal/rusage"
)

// protocol is what the benchmark clients speak (a stateful version every
// proxy under test supports).
const protocol = "2025-06-18"

type config struct {
	mcplink   string
	mcpRemote []string
	cold      int
	runs      int
	calls     int
	conc      int
	dur       time.Duration
	tmp       string
	url       string

	jsonResponse  bool
	serverProcess bool
}

type result struct {
	name       string
	cold       time.Duration
	p50, p99   time.Duration
	throughput float64
	rssKiB     int64
	cpuPerCall time.Duration // the proxy process's user+system CPU per forwarded call
	// Against the direct client of the same run (proxies only).
	addedP50, addedP99 time.Duration
	share              float64 // 8-caller throughput / direct's
}

func main() {
	var c config
	var remote string
	flag.StringVar(&c.mcplink, "mcplink", "bin/mcplink", "mcplink binary")
	flag.StringVar(&remote, "mcp-remote", "", "mcp-remote command line (empty: skip), e.g. \"node /cache/node_modules/mcp-remote/dist/proxy.js\"")
	flag.IntVar(&c.cold, "cold", 10, "cold starts per proxy (median reported)")
	flag.IntVar(&c.runs, "runs", 3, "latency and throughput runs (medians reported)")
	flag.IntVar(&c.calls, "calls", 2000, "sequential tools/call for latency")
	flag.IntVar(&c.conc, "conc", 8, "concurrent callers for throughput")
	flag.DurationVar(&c.dur, "dur", 3*time.Second, "throughput run length")
	flag.BoolVar(&c.jsonResponse, "json-response", false, "server answers calls with application/json instead of an SSE stream")
	flag.BoolVar(&c.serverProcess, "server-process", true, "run the MCP server in a process of its own, as in a real deployment (false: inside the harness, next to the direct client)")
	serveOnly := flag.Bool("serve", false, "internal: only run the MCP server, print its URL, and wait for stdin to close")
	flag.Parse()
	if *serveOnly {
		if err := serve(c.jsonResponse); err != nil {
			fmt.Fprintln(os.Stderr, "proxybench -serve:", err)
			os.Exit(1)
		}
		return
	}
	c.mcpRemote = strings.Fields(remote)
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	var err error
	if c.mcplink, err = filepath.Abs(c.mcplink); err != nil {
		return err
	}
	c.tmp, err = os.MkdirTemp("", "proxybench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(c.tmp)
	if err := os.WriteFile(filepath.Join(c.tmp, "mcplink.json"), []byte(`{"mcp": {}}`), 0o600); err != nil {
		return err
	}
	var stop func()
	if c.url, stop, err = startServer(c); err != nil {
		return err
	}
	defer stop()
	mode := "SSE responses"
	if c.jsonResponse {
		mode = "JSON responses"
	}
	where := "in its own process"
	if !c.serverProcess {
		where = "inside the harness"
	}
	fmt.Printf("server: go-sdk Streamable HTTP on %s (%s, %s), tools of internal/mcptest\n", c.url, mode, where)

	proxies := []struct {
		name string
		argv []string
	}{{"mcplink proxy", []string{c.mcplink, "--config", filepath.Join(c.tmp, "mcplink.json"), "proxy", c.url, "--transport", "http-only"}}}
	if len(c.mcpRemote) > 0 {
		proxies = append(proxies, struct {
			name string
			argv []string
		}{"mcp-remote 0.15.1", append(slices.Clone(c.mcpRemote), c.url, "--transport", "http-only", "--allow-http")})
	}
	colds := make([]time.Duration, len(proxies))
	for i, p := range proxies {
		if colds[i], err = coldStarts(c, p.argv); err != nil {
			return fmt.Errorf("%s: cold start: %w", p.name, err)
		}
	}
	runs := make([][]result, 1+len(proxies)) // [0] direct, then each proxy; one result per run
	for run := 1; run <= max(1, c.runs); run++ {
		direct, err := measureDirect(c)
		if err != nil {
			return fmt.Errorf("direct: %w", err)
		}
		runs[0] = append(runs[0], direct)
		fmt.Fprintf(os.Stderr, "run %d: direct go-sdk: p50 %s p99 %s, %.0f calls/s\n", run, direct.p50, direct.p99, direct.throughput)
		for i, p := range proxies {
			r, err := measureProxy(c, p.name, p.argv)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			r.cold = colds[i]
			r.addedP50, r.addedP99 = r.p50-direct.p50, r.p99-direct.p99
			r.share = r.throughput / direct.throughput
			fmt.Fprintf(os.Stderr, "run %d: %s: p50 %s p99 %s (added %s, %s), %.0f calls/s (%.0f%% of direct), rss %d KiB\n",
				run, r.name, r.p50, r.p99, r.addedP50, r.addedP99, r.throughput, 100*r.share, r.rssKiB)
			runs[1+i] = append(runs[1+i], r)
		}
	}
	var results []result
	for _, rs := range runs {
		results = append(results, medianResult(rs))
	}
	printTable(results[0], results[1:], len(runs[0]))
	return nil
}

// medianResult is each metric's median over rs (one result per run).
func medianResult(rs []result) result {
	med := func(f func(r result) time.Duration) time.Duration {
		var v []time.Duration
		for _, r := range rs {
			v = append(v, f(r))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	medf := func(f func(r result) float64) float64 {
		var v []float64
		for _, r := range rs {
			v = append(v, f(r))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return result{
		name:       rs[0].name,
		cold:       rs[0].cold,
		p50:        med(func(r result) time.Duration { return r.p50 }),
		p99:        med(func(r result) time.Duration { return r.p99 }),
		addedP50:   med(func(r result) time.Duration { return r.addedP50 }),
		addedP99:   med(func(r result) time.Duration { return r.addedP99 }),
		throughput: medf(func(r result) float64 { return r.throughput }),
		share:      medf(func(r result) float64 { return r.share }),
		rssKiB:     int64(medf(func(r result) float64 { return float64(r.rssKiB) })),
		cpuPerCall: med(func(r result) time.Duration { return r.cpuPerCall }),
	}
}

// env is the environment of the processes under test: built from scratch
// in c.tmp (PATH is all that is inherited), so no user's configuration,
// credentials or opencode files take part.
func env(c config) []string {
	d, err := testenv.In(c.tmp)
	if err != nil {
		panic(err) // c.tmp was just created by run
	}
	return d.Vars(
		"MCP_REMOTE_CONFIG_DIR="+filepath.Join(c.tmp, "mcp-remote"),
		"BROWSER=true",
	)
}

// measureDirect measures a go-sdk client connected straight to the server.
func measureDirect(c config) (result, error) {
	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "proxybench", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: c.url}, &mcp.ClientSessionOptions{ProtocolVersion: protocol})
	if err != nil {
		return result{}, err
	}
	defer cs.Close()
	r := result{name: "direct go-sdk"}
	if r.p50, r.p99, err = latency(ctx, cs, c.calls); err != nil {
		return r, err
	}
	if r.throughput, err = throughput(ctx, cs, c.conc, c.dur); err != nil {
		return r, err
	}
	return r, nil
}

// coldStarts returns the median of c.cold cold starts of argv.
func coldStarts(c config, argv []string) (time.Duration, error) {
	var colds []time.Duration
	for i := 0; i < max(1, c.cold); i++ {
		d, err := coldStart(c, argv)
		if err != nil {
			return 0, err
		}
		colds = append(colds, d)
	}
	slices.Sort(colds)
	return colds[len(colds)/2], nil
}

// measureProxy measures latency, throughput, RSS and CPU of one proxy process.
func measureProxy(c config, name string, argv []string) (result, error) {
	r := result{name: name}
	ctx := context.Background()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env(c)
	cmd.Stderr = io.Discard
	client := mcp.NewClient(&mcp.Implementation{Name: "proxybench", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, &mcp.ClientSessionOptions{ProtocolVersion: protocol})
	if err != nil {
		return r, err
	}
	if r.p50, r.p99, err = latency(ctx, cs, c.calls); err != nil {
		cs.Close()
		return r, err
	}
	var n int64
	if r.throughput, n, err = throughputN(ctx, cs, c.conc, c.dur); err != nil {
		cs.Close()
		return r, err
	}
	calls := n + int64(c.calls+min(200, c.calls)) + 2 // + initialize, initialized
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "VmHWM") || strings.HasPrefix(l, "Rss") {
				fmt.Fprintf(os.Stderr, "%s %s\n", name, strings.Join(strings.Fields(l), " "))
			}
		}
	}
	cs.Close()
	if cmd.ProcessState != nil {
		r.rssKiB = rusage.MaxRSSKiB(cmd.ProcessState)
		r.cpuPerCall = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()) / time.Duration(calls)
	}
	return r, nil
}

// coldStart spawns the proxy and times initialize + tools/list over raw pipes.
func coldStart(c config, argv []string) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env(c)
	cmd.Stderr = io.Discard
	in, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	rd := bufio.NewReader(out)
	send := func(s string) error { _, err := io.WriteString(in, s+"\n"); return err }
	await := func(id int) error {
		deadline := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
		defer deadline.Stop()
		for {
			line, err := rd.ReadBytes('\n')
			if err != nil {
				return fmt.Errorf("waiting for answer %d: %w", id, err)
			}
			var m struct {
				ID    *int            `json:"id"`
				Error json.RawMessage `json:"error"`
			}
			if json.Unmarshal(line, &m) == nil && m.ID != nil && *m.ID == id {
				if len(m.Error) > 0 {
					return fmt.Errorf("answer %d is an error: %s", id, m.Error)
				}
				return nil
			}
		}
	}
	if err := send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + protocol + `","capabilities":{},"clientInfo":{"name":"proxybench","version":"1"}}}`); err != nil {
		return 0, err
	}
	if err := await(1); err != nil {
		return 0, err
	}
	if err := send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`); err != nil {
		return 0, err
	}
	if err := send(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`); err != nil {
		return 0, err
	}
	if err := await(2); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func call(ctx context.Context, cs *mcp.ClientSession) error {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: mcptest.ToolEcho, Arguments: map[string]any{"text": "hello"}})
	if err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("echo returned an error result")
	}
	return nil
}

// latency returns p50 and p99 of n sequential echo calls (after a warm-up).
func latency(ctx context.Context, cs *mcp.ClientSession, n int) (p50, p99 time.Duration, err error) {
	for range min(200, n) {
		if err := call(ctx, cs); err != nil {
			return 0, 0, err
		}
	}
	ds := make([]time.Duration, 0, n)
	for range n {
		t := time.Now()
		if err := call(ctx, cs); err != nil {
			return 0, 0, err
		}
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[len(ds)*99/100], nil
}

// throughput runs conc callers for dur and returns completed calls per second.
func throughput(ctx context.Context, cs *mcp.ClientSession, conc int, dur time.Duration) (float64, error) {
	rate, _, err := throughputN(ctx, cs, conc, dur)
	return rate, err
}

// throughputN is throughput that also returns the number of calls made.
func throughputN(ctx context.Context, cs *mcp.ClientSession, conc int, dur time.Duration) (float64, int64, error) {
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if err := call(ctx, cs); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), n.Load(), firstErr
}

func printTable(direct result, rs []result, runs int) {
	fmt.Printf("\nmedians of %d runs (machine load makes every number noisy; compare within one run)\n", runs)
	cols := append([]result{direct}, rs...)
	fmt.Printf("%-32s", "metric")
	for _, r := range cols {
		fmt.Printf(" %18s", r.name)
	}
	fmt.Printf("  %s\n", "target (mcplink proxy)")
	row := func(label string, target string, cell func(r result, i int) string) {
		fmt.Printf("%-32s", label)
		for i, r := range cols {
			fmt.Printf(" %18s", cell(r, i))
		}
		fmt.Printf("  %s\n", target)
	}
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }
	proxyOnly := func(f func(r result) string) func(r result, i int) string {
		return func(r result, i int) string {
			if i == 0 {
				return "-"
			}
			return f(r)
		}
	}
	row("tools/call p50", "", func(r result, _ int) string { return us(r.p50) })
	row("tools/call p99", "", func(r result, _ int) string { return us(r.p99) })
	row("added latency p50", "≤100 µs", proxyOnly(func(r result) string { return us(r.addedP50) }))
	row("added latency p99", "≤1 ms", proxyOnly(func(r result) string { return us(r.addedP99) }))
	row("8 callers", "", func(r result, _ int) string { return fmt.Sprintf("%.0f calls/s", r.throughput) })
	row("8 callers, share of direct", "≥90%", func(r result, i int) string {
		if i == 0 {
			return "100%"
		}
		return fmt.Sprintf("%.0f%%", 100*r.share)
	})
	row("cold start (init+tools/list)", "≥5x faster than mcp-remote", proxyOnly(func(r result) string { return fmt.Sprintf("%.1f ms", float64(r.cold)/1e6) }))
	row("proxy CPU per call (user+sys)", "", proxyOnly(func(r result) string { return us(r.cpuPerCall) }))
	row("peak RSS", "≤20 MiB", proxyOnly(func(r result) string { return fmt.Sprintf("%.1f MiB", float64(r.rssKiB)/1024) }))
}

// startServer starts the MCP server: in a child process of this harness
// (-serve), or in this process.
func startServer(c config) (url string, stop func(), err error) {
	if !c.serverProcess {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		hs := &http.Server{Handler: handler(c.jsonResponse), ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ln) //nolint:errcheck // ends with Close
		return "http://" + ln.Addr().String() + "/mcp", func() { hs.Close() }, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self, "-serve", fmt.Sprintf("-json-response=%v", c.jsonResponse))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { in.Close(); _ = cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("the server process did not report its URL: %w", err)
	}
	return strings.TrimSpace(line), stop, nil
}

// serve runs the MCP server until stdin closes (the -serve child).
func serve(jsonResponse bool) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: handler(jsonResponse), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln) //nolint:errcheck // ends with Close
	defer hs.Close()
	fmt.Printf("http://%s/mcp\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

func handler(jsonResponse bool) http.Handler {
	server := mcptest.NewServer(mcptest.ServerOptions{})
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{JSONResponse: jsonResponse})
}
