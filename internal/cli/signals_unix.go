//go:build !windows

package cli

import (
	"os"
	"syscall"
)

// shutdownSignals end a command (proxy, serve, tui, a sign-in flow) the
// way cancelling its context does, so local servers are stopped and
// sessions closed: Ctrl-C in the terminal (SIGINT) and SIGTERM from an MCP
// client, a service manager or kill(1). Local servers run in their own
// process group, so the terminal's Ctrl-C reaches mcplink only and mcplink
// stops them in order.
func shutdownSignals() []os.Signal {
	return []os.Signal{os.Interrupt, syscall.SIGTERM}
}
