package mcptest

import (
	"os"
	"strconv"
	"strings"
)

// Fataler is the part of testing.TB that ReadPID uses.
type Fataler interface {
	Helper()
	Fatal(args ...any)
}

// ReadPID returns the pid ModeGrandchild wrote to pidFile (EnvPIDFile),
// failing t when there is none.
func ReadPID(t Fataler, pidFile string) int {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
