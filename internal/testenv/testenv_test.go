package testenv_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcplink/mcplink/internal/testenv"
)

// TestEnvInheritsNothingButPath: with the user's variables pointing at a
// sentinel directory, a child started with Env sees the test's directories
// (which exist), PATH, and none of this process's other variables.
func TestEnvInheritsNothingButPath(t *testing.T) {
	check := testenv.Sentinel(t)
	t.Setenv("MCPLINK_TESTENV_SECRET", "s3cret")
	env := testenv.Env(t, "EXTRA=1", "HOME=/elsewhere")
	out, err := exec.Command("env").Output()
	if err != nil {
		t.Skipf("no env(1): %v", err)
	}
	if !strings.Contains(string(out), "MCPLINK_TESTENV_SECRET=s3cret") {
		t.Fatal("the sentinel variable is not in this process's environment")
	}
	c := exec.Command("env")
	c.Env = env
	out, err = c.Output()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	if _, ok := got["MCPLINK_TESTENV_SECRET"]; ok {
		t.Error("the child inherited a variable of the test process")
	}
	if got["PATH"] != os.Getenv("PATH") || got["EXTRA"] != "1" || got["HOME"] != "/elsewhere" {
		t.Errorf("PATH, EXTRA, HOME = %q, %q, %q", got["PATH"], got["EXTRA"], got["HOME"])
	}
	for _, k := range testenv.UserVars {
		v, ok := got[k]
		if !ok {
			t.Errorf("%s not set in the child", k)
			continue
		}
		if v != "" && k != "HOME" && k != "MCPLINK_CREDENTIALS_STORE" {
			if _, err := os.Stat(v); err != nil && filepath.Dir(v) != v {
				t.Errorf("%s=%s: %v", k, v, err)
			}
		}
	}
	check()
}

// TestFreePort: the port is on loopback and free: it can be listened on.
func TestFreePort(t *testing.T) {
	port := testenv.FreePort(t)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port %d is not free: %v", port, err)
	}
	ln.Close()
}
