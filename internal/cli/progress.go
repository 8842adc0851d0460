package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/mcplink/mcplink/internal/termtext"
	"github.com/mcplink/mcplink/manager"
)

// ExitInterrupted is the exit status after Ctrl-C (128 + SIGINT), as shells
// report a process killed by it.
const ExitInterrupted = 130

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}

// callTool runs one tools/call for `mcplink call` with a progress token and
// shows the server's progress on stderr: drawn in place on a terminal (a bar
// and n/total when the server gives a total, a spinner and the count
// otherwise), one line per report when --progress forces it elsewhere, and
// nothing at all when stderr is not a terminal and --progress was not given.
//
// Ctrl-C (ctx cancelled by the interrupt) makes the manager send
// notifications/cancelled for the call; callTool then returns an exit-130
// error at once instead of waiting for an answer that will not come.
func callTool(ctx context.Context, ios *IOStreams, m *manager.Manager, server, tool string, args map[string]any, force bool) (*mcp.CallToolResult, error) {
	tty := isTerminal(ios.ErrOut)
	var onProgress func(manager.Progress)
	var stop func()
	switch {
	case tty:
		onProgress, stop = startProgressLine(ios.ErrOut)
	case force:
		var mu sync.Mutex
		onProgress = func(p manager.Progress) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(ios.ErrOut, "progress: %s\n", progressText(p, 200))
		}
		stop = func() {}
	default:
		// Still send a token: a server may do more (or report it elsewhere)
		// when asked, and the handler costs nothing.
		onProgress, stop = func(manager.Progress) {}, func() {}
	}
	res, err := m.CallToolProgress(ctx, server, tool, args, onProgress)
	stop()
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil, &exitError{code: ExitInterrupted, err: fmt.Errorf("interrupted: cancelled the call of %s on %s", tool, server)}
	}
	return res, err
}

// whenInterrupted turns the failure of a command whose context was
// cancelled by Ctrl-C (while connecting, say) into exit 130, whatever error
// the cancellation surfaced as; an error that already carries an exit code
// keeps it.
func whenInterrupted(ctx context.Context, err error) error {
	if err == nil || ctx == nil || ctx.Err() == nil {
		return err
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{code: ExitInterrupted, err: errors.New("interrupted")}
}

// progressText is "3/10 message" or "3 message", at most width runes, clean.
func progressText(p manager.Progress, width int) string {
	var s string
	if p.Total > 0 {
		s = fmt.Sprintf("%s/%s", num(p.Progress), num(p.Total))
	} else {
		s = num(p.Progress)
	}
	if p.Message != "" {
		s += " " + termtext.Line(p.Message)
	}
	if r := []rune(s); len(r) > width {
		s = string(r[:width-1]) + "…"
	}
	return s
}

func num(f float64) string {
	if f == float64(int64(f)) {
		return fmt.Sprint(int64(f))
	}
	return fmt.Sprintf("%.1f", f)
}

const (
	progressTick  = 100 * time.Millisecond
	progressQuiet = time.Second // no spinner for calls that answer quickly without progress
	barWidth      = 20
)

// startProgressLine draws the progress of one call on a terminal line,
// redrawn every progressTick by one goroutine; stop ends it and clears the
// line.
func startProgressLine(w io.Writer) (onProgress func(manager.Progress), stop func()) {
	var (
		mu   sync.Mutex
		last *manager.Progress
	)
	onProgress = func(p manager.Progress) {
		mu.Lock()
		last = &p
		mu.Unlock()
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(progressTick)
		defer t.Stop()
		frames := []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
		drawn := false
		for i := 0; ; i++ {
			select {
			case <-done:
				if drawn {
					fmt.Fprint(w, "\r\x1b[K")
				}
				return
			case <-t.C:
			}
			mu.Lock()
			p := last
			mu.Unlock()
			elapsed := time.Since(start)
			if p == nil && elapsed < progressQuiet {
				continue
			}
			var line string
			switch {
			case p != nil && p.Total > 0:
				frac := min(max(p.Progress/p.Total, 0), 1)
				n := int(frac * barWidth)
				line = "[" + strings.Repeat("█", n) + strings.Repeat("░", barWidth-n) + "] " + progressText(*p, 50)
			case p != nil:
				line = string(frames[i%len(frames)]) + " " + progressText(*p, 60)
			default:
				line = fmt.Sprintf("%c waiting for the server… %ds", frames[i%len(frames)], int(elapsed.Seconds()))
			}
			fmt.Fprint(w, "\r\x1b[K"+line)
			drawn = true
		}
	}()
	return onProgress, func() {
		close(done)
		<-finished
	}
}

// addCallFlags adds call's progress and validation flags.
func addCallFlags(cmd *cobra.Command, opts *CallOptions) {
	cmd.Flags().BoolVar(&opts.Progress, "progress", false, "show progress on stderr even when it is not a terminal")
	cmd.Flags().BoolVar(&opts.NoValidate, "no-validate", false, "send the arguments without checking them against the tool's schema")
}
