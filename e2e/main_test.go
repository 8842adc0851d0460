package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Environment variables of the harness.
const (
	// envBrowserHelper makes the test binary act as $BROWSER for mcplink:
	// it appends its argument (the authorization URL) to $envURLFile.
	envBrowserHelper = "MCPLINK_E2E_BROWSER_HELPER"
	envURLFile       = "MCPLINK_E2E_URL_FILE"
	// envNode overrides where Node is found (Chromium: internal/chromium).
	envNode = "MCPLINK_E2E_NODE"
)

// mcplinkBin is the mcplink binary built by TestMain.
var mcplinkBin string

// harness owns what the tests share: identity providers with their MCP
// servers (by access-token lifetime) and the browser. TestMain closes it.
var harness = &shared{envs: map[idpConfig]*envResult{}}

func TestMain(m *testing.M) {
	if os.Getenv(envBrowserHelper) == "1" {
		os.Exit(browserHelper(os.Args[1:]))
	}
	if os.Getenv(envFollowHelper) == "1" {
		os.Exit(followHelper(os.Args[1:]))
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mcplink-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	mcplinkBin = filepath.Join(dir, "mcplink")
	// The go command that runs this test (go test sets GOROOT in its
	// children's environment), else the one on PATH.
	gobin := "go"
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); isFile(p) {
			gobin = p
		}
	}
	build := exec.Command(gobin, "build", "-o", mcplinkBin, "github.com/mcplink/mcplink/cmd/mcplink")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building mcplink:", err)
		return 1
	}
	defer harness.close()
	return m.Run()
}

// browserHelper is $BROWSER: it records the URL instead of opening it; the
// test then opens it in headless Chromium.
func browserHelper(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "e2e browser helper: want exactly one URL argument")
		return 2
	}
	f, err := os.OpenFile(os.Getenv(envURLFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e browser helper:", err)
		return 1
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, args[0]); err != nil {
		fmt.Fprintln(os.Stderr, "e2e browser helper:", err)
		return 1
	}
	return 0
}

// unavailable skips the test with reason, or fails it when CI is set: on CI
// every prerequisite must be installed.
func unavailable(tb testing.TB, format string, a ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, a...)
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s (CI is set, so this is a failure, not a skip)", msg)
	}
	tb.Skip(msg)
}

// nodePath returns Node (>= 20) or skips/fails.
func nodePath(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv(envNode); p != "" {
		if _, err := os.Stat(p); err != nil {
			unavailable(tb, "e2e: %s=%s: %v", envNode, p, err)
		}
		return p
	}
	if _, err := os.Stat("/usr/bin/node"); err == nil {
		return "/usr/bin/node"
	}
	if p, err := exec.LookPath("node"); err == nil {
		return p
	}
	unavailable(tb, "e2e: Node.js not found (set %s or install Debian's nodejs)", envNode)
	return ""
}

// idpDir returns e2e/idp with its dependencies installed, or skips/fails.
func idpDir(tb testing.TB) string {
	tb.Helper()
	dir, err := filepath.Abs("idp")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		unavailable(tb, "e2e: oidc-provider is not installed; run e2e/idp/install.sh")
	}
	return dir
}

// shared holds the lazily started environments.
type shared struct {
	mu      sync.Mutex
	envs    map[idpConfig]*envResult
	browser *browser
	bErr    error
}

type envResult struct {
	env *env
	err error
}

func (s *shared) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.browser != nil {
		s.browser.close()
	}
	for _, r := range s.envs {
		if r.env != nil {
			r.env.close()
		}
	}
}

// isFile reports whether p names an existing regular file.
func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
