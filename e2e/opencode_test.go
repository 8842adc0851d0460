package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcplink/mcplink/authstore"
	"github.com/mcplink/mcplink/internal/oauthtest"
	"github.com/mcplink/mcplink/internal/testenv"
)

// envFollowHelper makes the test binary act as $BROWSER for `mcplink serve`
// in TestOpencodeSDK: it follows the authorization URL through the
// authorization server's automatic approval to mcplink's callback listener.
const envFollowHelper = "MCPLINK_E2E_FOLLOW_HELPER"

// followHelper is $BROWSER: a browser whose user approves at once.
func followHelper(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "e2e follow helper: want exactly one URL argument")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := oauthtest.FollowRedirects(ctx, args[0]); err != nil {
		fmt.Fprintln(os.Stderr, "e2e follow helper:", err)
		return 1
	}
	return 0
}

// opencodeDir returns e2e/opencode with the SDK installed, or skips/fails.
func opencodeDir(tb testing.TB) string {
	tb.Helper()
	dir, err := filepath.Abs("opencode")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@opencode-ai", "sdk", "package.json")); err != nil {
		unavailable(tb, "e2e: @opencode-ai/sdk is not installed; run e2e/opencode/install.sh")
	}
	return dir
}

var serveListeningRE = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// TestOpencodeSDK drives a real `mcplink serve` with opencode's official SDK
// (@opencode-ai/sdk 1.19.3 from npm, run by Node): every client.mcp.* call —
// status, add, auth.start, auth.callback with the code alone,
// auth.authenticate (mcplink opens $BROWSER), disconnect, connect,
// auth.remove — against a real OAuth-protected MCP server, with the answers
// checked against the SDK's types (e2e/opencode/sdk.mjs). Then the config
// file must hold the added server with its comments kept.
func TestOpencodeSDK(t *testing.T) {
	node := nodePath(t)
	dir := opencodeDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	as, err := oauthtest.Start(oauthtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	callbackPort := testenv.FreePort(t)

	home := t.TempDir()
	work := filepath.Join(home, "work") // no project file: POST /mcp writes the global one
	global := filepath.Join(home, "config", "mcplink", "mcplink.json")
	for _, d := range []string{work, filepath.Dir(global)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	servers := map[string]any{
		"secure":  map[string]any{"type": "remote", "url": as.MCPURL, "oauth": map[string]any{"callbackPort": callbackPort}, "timeout": 10000},
		"off":     map[string]any{"type": "remote", "url": as.MCPURL, "enabled": false},
		"nooauth": map[string]any{"type": "remote", "url": as.MCPURL, "oauth": false, "timeout": 10000},
	}
	body, err := json.MarshalIndent(servers, "  ", "  ")
	if err != nil {
		t.Fatal(err)
	}
	const comment = "// servers for the opencode SDK test: keep this comment"
	if err := os.WriteFile(global, []byte("{\n  "+comment+"\n  \"mcp\": "+string(body)+"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	serve := exec.CommandContext(ctx, mcplinkBin, "serve", "--addr", "127.0.0.1:0", "--flow-timeout", "30s")
	serve.Dir = work
	serve.Env = append(minimalEnv(t.TempDir()),
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_DATA_HOME="+filepath.Join(home, "share"),
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"),
		"MCPLINK_DATA_DIR="+filepath.Join(home, "data"),
		authstore.EnvCredentialsStore+"="+authstore.ModeFile,
		"BROWSER="+self,
		envFollowHelper+"=1",
	)
	stdin, err := serve.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	urlc := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n"))
			if m := serveListeningRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
	}()
	defer func() {
		if err := serve.Process.Signal(os.Interrupt); err != nil {
			_ = serve.Process.Kill() // no SIGINT on Windows
		}
		done := make(chan error, 1)
		go func() { <-copied; done <- serve.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = serve.Process.Kill()
			<-done
			t.Errorf("mcplink serve did not stop within 10s of SIGINT")
		}
		if t.Failed() {
			t.Logf("mcplink serve's stderr:\n%s", logs.String())
		}
	}()
	var base string
	select {
	case base = <-urlc:
	case <-time.After(20 * time.Second):
		t.Fatalf("mcplink serve did not listen within 20s:\n%s", logs.String())
	}

	script := exec.CommandContext(ctx, node, filepath.Join(dir, "sdk.mjs"))
	script.Dir = dir
	script.Env = append(minimalEnv(t.TempDir()),
		"HOME="+home,
		"MCPLINK_URL="+base,
		"MCP_URL="+as.MCPURL,
		"CALLBACK_PORT="+strconv.Itoa(callbackPort),
	)
	var out, errOut bytes.Buffer
	script.Stdout, script.Stderr = &out, &errOut
	if err := script.Run(); err != nil {
		t.Fatalf("sdk.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	steps := []string{"mcp.status", "mcp.add", "mcp.auth.start", "mcp.auth.callback", "mcp.auth.authenticate",
		"mcp.disconnect", "mcp.connect", "mcp.auth.remove", "errors", "directory", "done"}
	for _, s := range steps {
		if !regexp.MustCompile(`(?m)^(ok )?` + regexp.QuoteMeta(s) + `\b`).MatchString(out.String()) {
			t.Errorf("sdk.mjs did not report step %s:\n%s", s, out.String())
		}
	}

	// POST /mcp wrote the server to the global file, comments kept.
	data, err := os.ReadFile(global)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), comment) || !strings.Contains(string(data), `"added"`) || !strings.Contains(string(data), as.MCPURL) {
		t.Errorf("the config file after mcp.add:\n%s", data)
	}
	// Both sign-ins went through the authorization server's token endpoint
	// and the credentials are in mcplink's store.
	st, err := authstore.NewFileStore(authstore.FileOptions{Dir: filepath.Join(home, "data")})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := st.Load(ctx, "added"); err != nil || c == nil || c.Token == nil || c.Token.AccessToken == "" {
		t.Errorf("credentials of the added server: %+v, %v", c, err)
	}
	if c, err := st.Load(ctx, "secure"); err != nil || (c != nil && c.Token != nil) {
		t.Errorf("credentials of secure after mcp.auth.remove: %+v, %v", c, err)
	}
}
