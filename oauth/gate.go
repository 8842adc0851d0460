package oauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mcplink/mcplink/config"
)

// RefusedFlowWindow is how long a failed interactive sign-in (access_denied,
// iss mismatch, ...) is remembered: Authorize calls within it get that error
// instead of opening the browser again. MCP clients retry a connect with a
// second request (go-sdk: server/discover, then initialize), and each 401
// reaches Authorize.
const RefusedFlowWindow = 10 * time.Second

// flowGate lets one interactive flow run per server; concurrent callers wait
// for it and share its outcome.
type flowGate struct {
	mu      sync.Mutex
	running chan struct{} // closed when the running flow ends; nil when none runs
	err     error         // outcome of the last flow
	ended   time.Time
}

// authorizeGated runs an interactive authorization for a 401 unless one is
// running (its outcome is shared) or one failed within RefusedFlowWindow
// (its error is returned).
//
// With device set, the sign-in uses the device authorization grant, and
// onCode (when non-nil) is handed its device code.
func (e *Engine) authorizeGated(ctx context.Context, entry *config.Entry, d *Discovery, granted []string, device bool, onCode func(DeviceCode)) error {
	g := &e.state(entry.Name).gate
	g.mu.Lock()
	if ch := g.running; ch != nil {
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		g.mu.Lock()
		err := g.err
		g.mu.Unlock()
		return err
	}
	if g.err != nil && e.opts.Now().Sub(g.ended) < RefusedFlowWindow {
		err := g.err
		g.mu.Unlock()
		return fmt.Errorf("not opening the browser again right after a failed sign-in: %w", err)
	}
	ch := make(chan struct{})
	g.running = ch
	g.mu.Unlock()

	var err error
	if device {
		_, err = e.authorizeDeviceWith(ctx, entry, d, onCode)
	} else {
		_, err = e.authorize(ctx, entry, d, granted)
	}

	g.mu.Lock()
	g.err, g.ended = err, e.opts.Now()
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		g.err = nil // the caller gave up; the next one may try again
	}
	g.running = nil
	close(ch)
	g.mu.Unlock()
	return err
}
