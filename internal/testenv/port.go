package testenv

import (
	"net"
	"testing"
)

// FreePort returns a loopback TCP port that was free a moment ago: a
// callback port for a test's config, so that tests running at once do not
// share the default one. Nothing holds it; a test that needs a busy port
// keeps its own listener.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
