// Command listbench measures whole-process `mcplink list` against N loopback
// MCP servers that each add a fixed latency to every response, and the
// start-up time of `mcplink --version` and `mcplink list` on an empty config.
//
// Usage: go run ./bench/listbench -bin ./bin/mcplink [-n 20] [-latency 100ms] [-runs 5]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mcplink/mcplink/internal/mcptest"
	"github.com/mcplink/mcplink/internal/testenv"

	"github.com/mcplink/mcplink/bench/internal/rusage"
)

func main() {
	bin := flag.String("bin", "bin/mcplink", "mcplink binary")
	n := flag.Int("n", 20, "number of servers")
	latency := flag.Duration("latency", 100*time.Millisecond, "latency added to every response")
	runs := flag.Int("runs", 5, "runs per measurement")
	flag.Parse()
	if err := run(*bin, *n, *latency, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "listbench:", err)
		os.Exit(1)
	}
}

type result struct {
	median, min time.Duration
	maxRSSKiB   int64
}

func run(bin string, n int, latency time.Duration, runs int) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "listbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var urls []string
	for i := 0; i < n; i++ {
		s, err := mcptest.StartHTTP(mcptest.HTTPOptions{Latency: latency})
		if err != nil {
			return err
		}
		defer s.Close()
		urls = append(urls, s.URL)
	}
	write := func(name string, urls []string) (string, error) {
		var b strings.Builder
		b.WriteString(`{"mcp": {`)
		for i, u := range urls {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "\n  \"s%02d\": {\"type\": \"remote\", \"url\": %q, \"oauth\": false}", i, u)
		}
		b.WriteString("\n}}\n")
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, []byte(b.String()), 0o644)
	}
	one, err := write("one.json", urls[:1])
	if err != nil {
		return err
	}
	all, err := write("all.json", urls)
	if err != nil {
		return err
	}
	empty, err := write("empty.json", nil)
	if err != nil {
		return err
	}

	// Built from scratch in dir (only PATH is inherited): the user's own
	// configuration, credentials and opencode files take no part.
	d, err := testenv.In(dir)
	if err != nil {
		return err
	}
	env := d.Vars()
	measure := func(args ...string) (result, error) {
		var times []time.Duration
		var rss int64
		for i := 0; i < runs+1; i++ {
			cmd := exec.Command(bin, args...)
			cmd.Env = env
			cmd.Dir = dir
			start := time.Now()
			out, err := cmd.CombinedOutput()
			el := time.Since(start)
			if err != nil {
				return result{}, fmt.Errorf("%s %v: %w\n%s", bin, args, err, out)
			}
			if i == 0 {
				continue // warm-up
			}
			times = append(times, el)
			rss = max(rss, rusage.MaxRSSKiB(cmd.ProcessState))
		}
		slices.Sort(times)
		return result{median: times[len(times)/2], min: times[0], maxRSSKiB: rss}, nil
	}

	rows := []struct {
		name string
		args []string
	}{
		{"mcplink --version", []string{"--version"}},
		{"mcplink list (empty config)", []string{"--config", empty, "list"}},
		{fmt.Sprintf("mcplink list (1 server, +%s/response)", latency), []string{"--config", one, "list"}},
		{fmt.Sprintf("mcplink list (%d servers, +%s/response)", n, latency), []string{"--config", all, "list"}},
	}
	fmt.Printf("%-44s %10s %10s %12s\n", "command", "median", "min", "peak RSS")
	var res []result
	for _, r := range rows {
		m, err := measure(r.args...)
		if err != nil {
			return err
		}
		res = append(res, m)
		fmt.Printf("%-44s %10s %10s %9.1f MiB\n", r.name, m.median.Round(10*time.Microsecond), m.min.Round(10*time.Microsecond), float64(m.maxRSSKiB)/1024)
	}
	// The protocol's minimum for one server is three sequential exchanges
	// (initialize, the initialized notification, tools/list), each paying
	// the added latency once: 3x plus process start.
	fmt.Printf("\nlist of 1 server: %.2fx the per-response latency (target <= 3.2x; protocol minimum 3x)\n", float64(res[2].median)/float64(latency))
	ratio := float64(res[3].median) / float64(res[2].median)
	fmt.Printf("list wall-time ratio %d servers / 1 server: %.2fx (target <= 1.5x)\n", n, ratio)
	fmt.Printf("list peak RSS with %d servers: %.1f MiB (target <= 30 MiB)\n", n, float64(res[3].maxRSSKiB)/1024)
	return nil
}
