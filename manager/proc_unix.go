//go:build unix

package manager

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// command returns the *exec.Cmd for argv. On Unix the program is found
// through the inherited PATH by os/exec.
func command(argv, _ []string, _ string) (*exec.Cmd, error) {
	return exec.Command(argv[0], argv[1:]...), nil
}

// startGroup starts cmd as the leader of a new process group, so the group
// (and the terminal's job control) never mixes it with mcplink: a Ctrl-C in
// the terminal reaches mcplink only, which then stops the server in order.
func startGroup(cmd *exec.Cmd) (procGroup, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return unixGroup(cmd.Process.Pid), nil
}

// unixGroup is a process group id.
type unixGroup int

func (g unixGroup) interrupt() error { return syscall.Kill(-int(g), syscall.SIGTERM) }
func (g unixGroup) kill()            { _ = syscall.Kill(-int(g), syscall.SIGKILL) }
func (g unixGroup) release()         {}

// alive reports whether a live (non-zombie) process is in the group.
// Zombies count as gone: orphans are reparented to init, which may reap them
// late, but they no longer run.
func (g unixGroup) alive() bool {
	pgid := int(g)
	if syscall.Kill(-pgid, 0) != nil {
		return false
	}
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return true // no procfs (macOS, BSD): trust kill
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
