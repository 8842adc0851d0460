//go:build unix

package safefile

import "syscall"

// nonblockFlag makes opening a FIFO return at once instead of waiting for a
// writer; on a regular file it changes nothing.
const nonblockFlag = syscall.O_NONBLOCK
