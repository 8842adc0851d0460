package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchConfig builds a commented JSONC file with n servers.
func benchConfig(n int) string {
	var b strings.Builder
	b.WriteString("// benchmark config\n{\n  \"theme\": \"dark\",\n  \"mcp\": {\n")
	for i := range n {
		if i%2 == 0 {
			fmt.Fprintf(&b, "    // local %d\n    \"l%d\": {\"type\": \"local\", \"command\": [\"srv\", \"--n\", \"%d\"], \"environment\": {\"K\": \"{env:A}\"}, \"timeout\": 5000},\n", i, i, i)
		} else {
			fmt.Fprintf(&b, "    \"r%d\": {\"type\": \"remote\", \"url\": \"https://h%d.example/mcp\", \"headers\": {\"Authorization\": \"Bearer {env:A}\"}, \"oauth\": {\"clientId\": \"c\", \"callbackPort\": 8000}}, // remote\n", i, i)
		}
	}
	b.WriteString("  },\n}\n")
	return b.String()
}

// BenchmarkLoad measures reading, validating and substituting a 50-server
// file, reporting the cost per server.
func BenchmarkLoad(b *testing.B) {
	const n = 50
	p := filepath.Join(b.TempDir(), "mcplink.json")
	if err := os.WriteFile(p, []byte(benchConfig(n)), 0o644); err != nil {
		b.Fatal(err)
	}
	opts := LoadOptions{File: p, Getenv: fuzzEnv}
	b.ReportAllocs()
	for b.Loop() {
		cfg, err := Load(opts)
		if err != nil || len(cfg.Servers) != n {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/server")
}

// BenchmarkAddRemove measures an AddEntry plus RemoveEntry cycle (two
// parse/patch/atomic-write round trips, including fsync) on that file.
func BenchmarkAddRemove(b *testing.B) {
	p := filepath.Join(b.TempDir(), "mcplink.json")
	if err := os.WriteFile(p, []byte(benchConfig(50)), 0o644); err != nil {
		b.Fatal(err)
	}
	e := &Entry{Type: TypeRemote, URL: "https://new.example/mcp", Enabled: true}
	for b.Loop() {
		if err := AddEntry(p, "new", e, false); err != nil {
			b.Fatal(err)
		}
		if err := RemoveEntry(p, "new"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*2), "µs/edit")
}
