//go:build !unix

package main

import "os"

// maxRSSKiB returns 0: the process's peak memory is not reported after it
// exited here (Windows has no getrusage).
func maxRSSKiB(*os.ProcessState) int64 { return 0 }
