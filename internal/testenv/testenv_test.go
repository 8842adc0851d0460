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

// isolateChild makes the test binary, re-run by TestIsolate, isolate its
// environment and start env(1) with the environment it then has.
const isolateChild = "MCPLINK_TESTENV_ISOLATE_CHILD"

// TestIsolate: after Isolate, this process's environment — and so what a
// process started with it (os.Environ) sees — is a fresh one: none of the
// user's variables or HOME, the test directories, CI and the Go toolchain's
// caches kept; its cleanup removes the directories.
func TestIsolate(t *testing.T) {
	if os.Getenv(isolateChild) != "" {
		cleanup, err := testenv.Isolate()
		if err != nil {
			fmt.Println("ERROR", err)
			return
		}
		out, err := exec.Command("env").Output() // inherits this process's environment
		if err != nil {
			fmt.Println("ERROR", err)
		}
		fmt.Printf("%s", out)
		cleanup()
		if _, err := os.Stat(os.Getenv("HOME")); err == nil {
			fmt.Println("ERROR cleanup left", os.Getenv("HOME"))
		}
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d := testenv.New(t)
	c := exec.Command(exe, "-test.run=^TestIsolate$")
	c.Env = d.Vars(isolateChild+"=1", "MCPLINK_TESTENV_SECRET=s3cret", "CI=yes", "GOCACHE=/some/cache")
	out, err := c.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(string(out), "ERROR") {
		t.Fatalf("child:\n%s", out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	if _, ok := got["MCPLINK_TESTENV_SECRET"]; ok {
		t.Error("a variable of the parent survived Isolate")
	}
	if _, ok := got[isolateChild]; ok {
		t.Error("the child-mode variable survived Isolate")
	}
	if got["CI"] != "yes" || got["GOCACHE"] != "/some/cache" || got["PATH"] != os.Getenv("PATH") {
		t.Errorf("CI, GOCACHE, PATH = %q, %q, %q; want kept", got["CI"], got["GOCACHE"], got["PATH"])
	}
	if got["GOMODCACHE"] == "" || got["GOENV"] == "" {
		t.Errorf("GOMODCACHE, GOENV = %q, %q; want the go command's defaults spelled out", got["GOMODCACHE"], got["GOENV"])
	}
	for _, k := range testenv.UserVars {
		v, ok := got[k]
		if !ok {
			t.Errorf("%s not set after Isolate", k)
			continue
		}
		if v != "" && strings.HasPrefix(v, d.Root) {
			t.Errorf("%s=%s is in the environment the child was started with", k, v)
		}
	}
}
