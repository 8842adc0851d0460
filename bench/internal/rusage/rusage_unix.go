//go:build unix

// Package rusage reads the peak memory of a finished child process for the
// whole-process benchmarks (bench/listbench, bench/proxy).
package rusage

import (
	"os"
	"runtime"
	"syscall"
)

// MaxRSSKiB returns the peak resident set size of an exited process in KiB,
// or 0 when the OS does not report it. getrusage(2) reports KiB on Linux
// and bytes on macOS.
func MaxRSSKiB(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss) / 1024
	}
	return int64(ru.Maxrss)
}
