//go:build unix

package mcptest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// Gone reports whether pid no longer runs (it may linger as a zombie when
// no init process reaps orphans).
func Gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	if _, err := os.Stat("/proc/self"); err != nil {
		return false // no procfs (macOS): kill(2) said it runs
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// state follows "pid (comm) "
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}
