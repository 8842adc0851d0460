package mcptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ServeStdio serves NewServer's tools over newline-delimited JSON on in/out
// until the client closes in or ctx is done. The client going away (end of
// input, or a closed output pipe) is not an error.
func ServeStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	s := NewServer(ServerOptions{Name: "mcptest-stdio"})
	return clientGone(s.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(in), Writer: nopWriteCloser{out}}))
}

// clientGone maps the errors of a client going away to nil.
func clientGone(err error) error {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// Environment variables read by MaybeRunChild.
const (
	// EnvChild selects the child mode; when empty MaybeRunChild returns.
	EnvChild = "MCPTEST_CHILD"
	// EnvPIDFile is where ModeGrandchild writes the grandchild's pid.
	EnvPIDFile = "MCPTEST_PID_FILE"
	// EnvMethodsFile, when set, makes ModeStdio and ModeHang append the
	// method of every JSON-RPC message they read to this file, one per line,
	// as they read it.
	EnvMethodsFile = "MCPTEST_METHODS_FILE"
)

// Child modes for MaybeRunChild / RunChild.
const (
	// ModeStdio serves MCP on stdin/stdout (ServeStdio).
	ModeStdio = "stdio"
	// ModeExitAtStart writes ExitAtStartMessage to stderr and exits 1.
	ModeExitAtStart = "exit1"
	// ModeGrandchild starts a grandchild (ModeSleep, same executable, sharing
	// stderr), writes its pid to $MCPTEST_PID_FILE, then serves stdio.
	ModeGrandchild = "grandchild"
	// ModeSleep sleeps for up to a minute, ignoring stdin.
	ModeSleep = "sleep"
	// ModeToolsOnly serves NewServer with ToolsOnly: no resources, no prompts.
	ModeToolsOnly = "tools-only"
	// ModeHang reads stdin but never answers, for up to a minute.
	ModeHang = "hang"
	// ModeHostile serves NewHostileServer (escape sequences in every text).
	ModeHostile = "hostile"
	// ModeHostileExit writes HostileText to stderr and exits 1.
	ModeHostileExit = "hostile-exit"
	// ModeTasks serves NewServer with Execution: TaskExecution (tools
	// declaring execution.taskSupport).
	ModeTasks = "tasks"
	// ModeHugeLine answers the first message with one line of
	// $MCPTEST_HUGE_LINE_BYTES bytes (default 1 GiB) and no newline.
	ModeHugeLine = "huge-line"
)

// ExitAtStartMessage is what ModeExitAtStart writes to stderr.
const ExitAtStartMessage = "mcptest: fatal: cannot open database /nonexistent/db.sqlite"

// maxChildLife bounds every child mode so that a broken test never leaves a
// process behind for long.
const maxChildLife = time.Minute

// MaybeRunChild runs the child mode named by $MCPTEST_CHILD and exits the
// process with its status; it returns at once when the variable is unset.
// Call it first thing in TestMain (or a hidden subcommand) so that re-executing
// the binary with the variable set yields a real subprocess MCP server.
func MaybeRunChild() {
	mode := os.Getenv(EnvChild)
	if mode == "" {
		return
	}
	os.Exit(RunChild(mode, os.Stdin, os.Stdout, os.Stderr))
}

// RunChild runs one child mode and returns the exit status.
func RunChild(mode string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), maxChildLife)
	defer cancel()
	switch mode {
	case ModeStdio:
		if path := os.Getenv(EnvMethodsFile); path != "" {
			return serveStatus(serveStdioRecording(ctx, stdin, stdout, path), stderr)
		}
		return serveStatus(ServeStdio(ctx, stdin, stdout), stderr)
	case ModeTasks:
		s := NewServer(ServerOptions{Name: "mcptest-tasks", Execution: TaskExecution})
		return serveStatus(clientGone(s.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(stdin), Writer: nopWriteCloser{stdout}})), stderr)
	case ModeToolsOnly:
		s := NewServer(ServerOptions{Name: "mcptest-tools-only", ToolsOnly: true})
		return serveStatus(clientGone(s.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(stdin), Writer: nopWriteCloser{stdout}})), stderr)
	case ModeExitAtStart:
		fmt.Fprintln(stderr, "mcptest: starting")
		fmt.Fprintln(stderr, ExitAtStartMessage)
		return 1
	case ModeGrandchild:
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(stderr, "mcptest:", err)
			return 2
		}
		gc := exec.Command(exe)
		gc.Env = append(os.Environ(), EnvChild+"="+ModeSleep)
		gc.Stderr = os.Stderr
		if err := gc.Start(); err != nil {
			fmt.Fprintln(stderr, "mcptest: start grandchild:", err)
			return 2
		}
		if f := os.Getenv(EnvPIDFile); f != "" {
			if err := os.WriteFile(f, []byte(strconv.Itoa(gc.Process.Pid)), 0o600); err != nil {
				fmt.Fprintln(stderr, "mcptest:", err)
				return 2
			}
		}
		// The grandchild is deliberately not waited for: it must be killed
		// with the process group.
		return serveStatus(ServeStdio(ctx, stdin, stdout), stderr)
	case ModeSleep:
		<-ctx.Done()
		return 0
	case ModeHostile:
		return serveStatus(serveHostileStdio(ctx, stdin, stdout), stderr)
	case ModeHostileExit:
		fmt.Fprintln(stderr, "crashed: "+HostileText)
		return 1
	case ModeHugeLine:
		return serveStatus(writeHugeLine(ctx, stdin, stdout, hugeLineBytes()), stderr)
	case ModeHang:
		in := stdin
		if path := os.Getenv(EnvMethodsFile); path != "" {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				fmt.Fprintln(stderr, "mcptest:", err)
				return 2
			}
			defer f.Close()
			in = &methodRecorder{r: stdin, w: f}
		}
		go func() { _, _ = io.Copy(io.Discard, in) }()
		<-ctx.Done()
		return 0
	default:
		fmt.Fprintf(stderr, "%v: %q\n", ErrUnknownMode, mode)
		return 2
	}
}

func serveStatus(err error, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintln(stderr, "mcptest:", err)
		return 1
	}
	return 0
}
