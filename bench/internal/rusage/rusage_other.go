//go:build !unix

package rusage

import "os"

// MaxRSSKiB returns 0: the process's peak memory is not reported after it
// exited here (Windows has no getrusage).
func MaxRSSKiB(*os.ProcessState) int64 { return 0 }
