package manager

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcplink/mcplink/config"
	"github.com/mcplink/mcplink/internal/envfile"
	"github.com/mcplink/mcplink/internal/safefile"
)

// Grace periods for stopping a local server: after its stdin is closed it
// gets stdinGrace to exit, then its process group is asked to end (SIGTERM;
// CTRL_BREAK_EVENT on Windows) and gets termGrace before it is killed.
const (
	stdinGrace = 500 * time.Millisecond
	termGrace  = 500 * time.Millisecond
	// stderrTailSize is how much of a local server's stderr is kept.
	stderrTailSize = 4096
)

// process is a local server's child process, in its own process group (a
// job object on Windows; see procGroup).
type process struct {
	cmd    *exec.Cmd
	group  procGroup
	stdin  *os.File // parent's write end
	stdout *os.File // parent's read end
	stderr *os.File // parent's read end
	tail   *tailBuffer
	out    *messageLimiter // bounds each message read from stdout (see transport)

	exited     chan struct{} // closed after cmd.Wait returned
	stderrDone chan struct{} // closed when the stderr reader stopped
	stopOnce   sync.Once
}

// procGroup is the operating system's handle on a local server and every
// process it starts (npx → node): a process group on Unix (proc_unix.go), a
// job object on Windows (proc_windows.go). startGroup starts a command in a
// new one; command builds the *exec.Cmd for a configured argv.
type procGroup interface {
	// interrupt asks every process of the group to end: SIGTERM to the
	// group; CTRL_BREAK_EVENT to the console process group on Windows.
	interrupt() error
	// alive reports whether a process of the group still runs.
	alive() bool
	// kill ends every process of the group at once: SIGKILL to the group;
	// TerminateJobObject on Windows.
	kill()
	// release frees what the handle holds (the job object). Call it once,
	// after kill.
	release()
}

// CwdError reports a local server's working directory ("cwd") that does
// not exist or is not a directory.
type CwdError struct {
	// Dir is the directory, resolved against the config file's directory.
	Dir string
	// Source is the config file the entry came from ("" for one built in code).
	Source string
	// Err is stat's error; nil when Dir exists but is not a directory.
	Err error
}

func (e *CwdError) Error() string {
	what := "does not exist"
	switch {
	case e.Err == nil:
		what = "is not a directory"
	case !errors.Is(e.Err, fs.ErrNotExist):
		what = "cannot be used: " + e.Err.Error()
	}
	msg := fmt.Sprintf("working directory %s %s", e.Dir, what)
	if e.Source != "" {
		msg += fmt.Sprintf(`; fix "cwd" in %s`, e.Source)
	}
	return msg
}

func (e *CwdError) Unwrap() error { return e.Err }

// EnvFileError reports a local server's "envFile" that could not be read
// when the server was started: missing (Err wraps fs.ErrNotExist), not a
// regular file (*safefile.NotRegularError: a FIFO is never opened), over
// envfile.MaxSize (*safefile.TooLargeError), or holding a NUL byte
// (*envfile.NULError). Only that server fails.
type EnvFileError struct {
	// File is the envFile, resolved against the config file's directory.
	File string
	// Server is the entry's name.
	Server string
	// Source is the config file the entry came from ("" for one built in code).
	Source string
	Err    error
}

func (e *EnvFileError) Error() string {
	var what string
	var nr *safefile.NotRegularError
	var tl *safefile.TooLargeError
	switch {
	case errors.Is(e.Err, fs.ErrNotExist):
		what = "does not exist"
	case errors.As(e.Err, &nr):
		what = "is " + safefile.Kind(nr.Mode) + ", not a regular file"
	case errors.As(e.Err, &tl):
		what = fmt.Sprintf("is larger than %d bytes", tl.Limit)
	case errors.As(e.Err, new(*envfile.NULError)):
		what = "cannot be used: " + e.Err.Error()
	default:
		what = "cannot be read: " + e.Err.Error()
	}
	msg := fmt.Sprintf("env file %s of server %q %s", e.File, e.Server, what)
	if e.Source != "" {
		msg += fmt.Sprintf(`; fix "envFile" in %s`, e.Source)
	}
	return msg
}

func (e *EnvFileError) Unwrap() error { return e.Err }

// startCause is the typed error behind a failed start, for State.Err:
// *CwdError or *EnvFileError; nil for others.
func startCause(err error) error {
	if ce := (*CwdError)(nil); errors.As(err, &ce) {
		return ce
	}
	if ee := (*EnvFileError)(nil); errors.As(err, &ee) {
		return ee
	}
	return nil
}

// startProcess starts entry's command with the inherited environment plus
// the variables of entry.EnvFile (read now, on every start) plus
// entry.Environment (which wins over the file), in entry.Cwd, as the leader
// of a new process group.
func startProcess(e *config.Entry) (*process, error) {
	if len(e.Command) == 0 || e.Command[0] == "" {
		return nil, errors.New(`no "command" set on the entry`)
	}
	if e.Cwd != "" {
		// Checked first: exec reports a missing working directory as
		// "fork/exec /usr/bin/npx: no such file or directory", naming the
		// command that is there.
		if fi, err := os.Stat(e.Cwd); err != nil || !fi.IsDir() {
			return nil, &CwdError{Dir: e.Cwd, Source: e.Source, Err: err}
		}
	}
	vars := map[string]string{}
	if e.EnvFile != "" {
		fromFile, err := envfile.Read(e.EnvFile)
		if err != nil {
			return nil, &EnvFileError{File: e.EnvFile, Server: e.Name, Source: e.Source, Err: err}
		}
		vars = fromFile
	}
	maps.Copy(vars, e.Environment)
	env := os.Environ()
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k]) // exec keeps the last of duplicate keys
	}
	cmd, err := command(e.Command, env, e.Cwd)
	if err != nil {
		return nil, err
	}
	cmd.Env = env
	cmd.Dir = e.Cwd

	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	inR, inW, err := pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := pipe()
	if err != nil {
		closeAll()
		return nil, err
	}
	errR, errW, err := pipe()
	if err != nil {
		closeAll()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	group, err := startGroup(cmd)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("start %s: %w", e.Command[0], err)
	}
	// The child has its own copies now.
	_ = inR.Close()
	_ = outW.Close()
	_ = errW.Close()

	p := &process{
		cmd:        cmd,
		group:      group,
		stdin:      inW,
		stdout:     outR,
		stderr:     errR,
		tail:       &tailBuffer{max: stderrTailSize},
		out:        newMessageLimiter(outR, e.EffectiveMaxMessageSize()),
		exited:     make(chan struct{}),
		stderrDone: make(chan struct{}),
	}
	go func() {
		defer close(p.stderrDone)
		_, _ = io.Copy(p.tail, p.stderr)
	}()
	go func() {
		defer close(p.exited)
		_ = cmd.Wait()
	}()
	return p, nil
}

// waitExit waits up to d for the process to exit and reports whether it did.
func (p *process) waitExit(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-t.C:
		return false
	}
}

// describeExit describes how the process ended, with its stderr tail:
// "exited with status 1: <stderr tail>". Call it only after exited is closed.
func (p *process) describeExit() string {
	// Give the stderr reader a moment to drain what the process wrote last.
	t := time.NewTimer(200 * time.Millisecond)
	select {
	case <-p.stderrDone:
	case <-t.C:
	}
	t.Stop()
	var how string
	ps := p.cmd.ProcessState
	switch ws, ok := ps.Sys().(syscall.WaitStatus); {
	case ok && ws.Signaled():
		how = "killed by signal " + ws.Signal().String()
	default:
		how = fmt.Sprintf("exited with status %d", ps.ExitCode())
	}
	if tail := p.tail.String(); tail != "" {
		return how + ": " + tail
	}
	return how + " (no stderr output)"
}

// stop closes the server's stdin, gives it grace to exit, then asks its
// whole process group to end (SIGTERM), and kills the group after termGrace
// (SIGKILL), so no descendant survives. It waits for the leader to be reaped
// and releases the pipes. It is idempotent.
func (p *process) stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		_ = p.stdin.Close()
		if grace > 0 {
			p.waitExit(grace)
		}
		if p.group.interrupt() == nil {
			deadline := time.Now().Add(termGrace)
			for time.Now().Before(deadline) && p.group.alive() {
				time.Sleep(10 * time.Millisecond)
			}
		}
		p.group.kill()
		p.waitExit(5 * time.Second)
		p.group.release()
		// Every writer of stderr is dead now; close our end in case a
		// stray holder (outside the group) keeps it open.
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-p.stderrDone:
		case <-t.C:
		}
		t.Stop()
		_ = p.stderr.Close()
		<-p.stderrDone
		_ = p.stdout.Close()
	})
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0:0], b.buf[over:]...)
	}
	return len(p), nil
}

// String returns the kept bytes as trimmed, valid UTF-8.
func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(strings.ToValidUTF8(string(b.buf), ""))
}
