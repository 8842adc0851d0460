package manager

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcplink/mcplink/config"
)

// Grace periods for stopping a local server: after its stdin is closed it
// gets stdinGrace to exit, then its process group gets SIGTERM and termGrace
// before SIGKILL.
const (
	stdinGrace = 500 * time.Millisecond
	termGrace  = 500 * time.Millisecond
	// stderrTailSize is how much of a local server's stderr is kept.
	stderrTailSize = 4096
)

// process is a local server's child process, in its own process group.
type process struct {
	cmd    *exec.Cmd
	pgid   int
	stdin  *os.File // parent's write end
	stdout *os.File // parent's read end
	stderr *os.File // parent's read end
	tail   *tailBuffer
	out    *messageLimiter // bounds each message read from stdout (see transport)

	exited     chan struct{} // closed after cmd.Wait returned
	stderrDone chan struct{} // closed when the stderr reader stopped
	stopOnce   sync.Once
}

// startProcess starts entry's command with the inherited environment plus
// entry.Environment, in entry.Cwd, as the leader of a new process group.
func startProcess(e *config.Entry) (*process, error) {
	if len(e.Command) == 0 || e.Command[0] == "" {
		return nil, errors.New(`no "command" set on the entry`)
	}
	cmd := exec.Command(e.Command[0], e.Command[1:]...)
	env := os.Environ()
	keys := make([]string, 0, len(e.Environment))
	for k := range e.Environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+e.Environment[k])
	}
	cmd.Env = env
	cmd.Dir = e.Cwd
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

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
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, fmt.Errorf("start %s: %w", e.Command[0], err)
	}
	// The child has its own copies now.
	_ = inR.Close()
	_ = outW.Close()
	_ = errW.Close()

	p := &process{
		cmd:        cmd,
		pgid:       cmd.Process.Pid,
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

// stop closes the server's stdin, gives it grace to exit, then sends
// SIGTERM to its whole process group, and SIGKILL after termGrace, so no
// descendant survives. It waits for the leader to be reaped and releases the
// pipes. It is idempotent.
func (p *process) stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		_ = p.stdin.Close()
		if grace > 0 {
			p.waitExit(grace)
		}
		if syscall.Kill(-p.pgid, syscall.SIGTERM) == nil {
			deadline := time.Now().Add(termGrace)
			for time.Now().Before(deadline) && groupAlive(p.pgid) {
				time.Sleep(10 * time.Millisecond)
			}
		}
		_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
		p.waitExit(5 * time.Second)
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

// groupAlive reports whether a live (non-zombie) process is in the group.
// Zombies count as gone: orphans are reparented to init, which may reap them
// late, but they no longer run.
func groupAlive(pgid int) bool {
	if syscall.Kill(-pgid, 0) != nil {
		return false
	}
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return true // no procfs: trust kill
	}
	for _, d := range dir {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces and ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
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
