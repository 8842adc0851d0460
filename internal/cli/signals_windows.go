//go:build windows

package cli

import "os"

// shutdownSignals end a command cleanly (its context is cancelled): on
// Windows only Ctrl-C (and Ctrl-Break) can be caught.
var shutdownSignals = []os.Signal{os.Interrupt}
