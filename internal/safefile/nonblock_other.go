//go:build !unix

package safefile

// nonblockFlag is zero where opening a file cannot block on a writer.
const nonblockFlag = 0
