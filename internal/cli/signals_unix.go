//go:build unix

package cli

import (
	"os"
	"syscall"
)

// shutdownSignals end a command cleanly (its context is cancelled): Ctrl-C,
// SIGTERM (as an MCP client escalates to when a stdio server does not exit
// after its stdin closed) and SIGHUP (the terminal or the client's session
// went away).
var shutdownSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}
