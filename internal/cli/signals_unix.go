//go:build !windows

package cli

import (
	"os"
	"syscall"
)

// shutdownSignals end a command (proxy, serve, tui, a sign-in flow) the
// way cancelling its context does, so local servers are stopped and
// sessions closed: Ctrl-C in the terminal (SIGINT), SIGTERM from an MCP
// client (as it escalates to when a stdio server does not exit after its
// stdin closed), a service manager or kill(1), and SIGHUP (the terminal or
// the client's session went away). Local servers run in their own process
// group, so the terminal's Ctrl-C reaches mcplink only and mcplink stops
// them in order.
func shutdownSignals() []os.Signal {
	return []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}
}
