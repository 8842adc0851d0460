//go:build !unix

package cli

import "os"

// pollable returns nil: only Unix pipes and sockets are switched to the
// runtime's poller (see pollable_unix.go); elsewhere stdin and stdout are
// used as they are.
func pollable(*os.File) (*os.File, func()) { return nil, nil }
