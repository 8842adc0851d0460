package manager

import (
	"context"
	"fmt"
	"time"
)

// TimeoutError is a connect (with its tool listing) that got no answer
// within its bound. It says what happened only: the setting that moves the
// bound is the surface's to name (internal/fix) — the entry's "timeout"
// (in milliseconds) in ConfigFile, or, when Override is set, the bound the
// program gave every server (Options.Timeout; mcplink's --timeout).
type TimeoutError struct {
	Server  string        // config entry name
	Timeout time.Duration // the bound that ran out
	// Override is true when Options.Timeout set the bound, instead of the
	// entry's "timeout" (or its 30 s default).
	Override bool
	// ConfigFile is the file the entry came from ("" for one built in code).
	ConfigFile string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("no response within %v", e.Timeout)
}

// Is makes a TimeoutError match context.DeadlineExceeded, the error the
// bound ended the connect with.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }
