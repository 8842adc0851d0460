//go:build windows

package cli

import (
	"os"
	"syscall"
)

// shutdownSignals end a command (proxy, serve, tui, a sign-in flow) the
// way cancelling its context does, as SIGINT and SIGTERM do on Unix. The Go
// runtime delivers Ctrl-C and Ctrl-Break as os.Interrupt, and closing the
// console window, logging off and shutting down (CTRL_CLOSE_EVENT,
// CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT) as syscall.SIGTERM; for those
// Windows ends the process after its grace (about 5 s for a console
// close) unless it exits first, and the runtime holds the console handler
// until then so the command can stop its servers. Local servers run in their
// own console process group and job object: Ctrl-C reaches mcplink only, and
// their job is killed when mcplink exits, however it exits.
func shutdownSignals() []os.Signal {
	return []os.Signal{os.Interrupt, syscall.SIGTERM}
}
