//go:build windows

package manager

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// command returns the *exec.Cmd for argv. The program is found through the
// server's own PATH and PATHEXT (so "npx" is npx.cmd), relative names with
// a directory part relative to dir (the entry's cwd). A batch file (.cmd,
// .bat — the npm and uv shims) runs through the system's cmd.exe with a
// command line quoted for cmd.exe (batchCommandLine), because os/exec quotes
// for CommandLineToArgvW, which cmd.exe does not use.
func command(argv, env []string, dir string) (*exec.Cmd, error) {
	name := argv[0]
	if dir != "" && !filepath.IsAbs(name) && filepath.Base(name) != name {
		name = filepath.Join(dir, name)
	}
	path, err := windowsLookPath(name, envValue(env, "PATH"), envValue(env, "PATHEXT"), isRegularFile)
	if err != nil {
		return nil, err
	}
	if !isBatchFile(path) {
		return exec.Command(path, argv[1:]...), nil
	}
	sys, err := windows.GetSystemDirectory()
	if err != nil {
		return nil, fmt.Errorf("find cmd.exe for %s: %w", path, err)
	}
	cmdExe := filepath.Join(sys, "cmd.exe")
	line, err := batchCommandLine(cmdExe, path, argv[1:])
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(cmdExe)
	cmd.SysProcAttr = &syscall.SysProcAttr{CmdLine: line}
	return cmd, nil
}

func isRegularFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// startGroup starts cmd in a new job object that kills every process in it
// when mcplink closes the job (or exits without closing it), and in a new
// console process group (so Ctrl-C in the console reaches mcplink only, and
// CTRL_BREAK_EVENT can ask the server to end). The process is created
// suspended and resumed only once it is in the job, so nothing it starts
// can escape the job.
func startGroup(cmd *exec.Cmd) (procGroup, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("create job object: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
		BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE},
	}
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation, uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		_ = windows.CloseHandle(job)
		return nil, fmt.Errorf("configure job object: %w", err)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.CreationFlags |= windows.CREATE_NEW_PROCESS_GROUP | windows.CREATE_SUSPENDED
	if err := cmd.Start(); err != nil {
		_ = windows.CloseHandle(job)
		return nil, err
	}
	pid := uint32(cmd.Process.Pid)
	fail := func(what string, err error) (procGroup, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = windows.CloseHandle(job)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, pid)
	if err != nil {
		return fail("open process", err)
	}
	err = windows.AssignProcessToJobObject(job, h)
	_ = windows.CloseHandle(h)
	if err != nil {
		return fail("assign process to job object", err)
	}
	if err := resumeThreads(pid); err != nil {
		return fail("resume process", err)
	}
	return &winJob{job: job, pid: pid}, nil
}

// resumeThreads resumes the threads of a process created suspended (there
// is one; os/exec does not return its handle, so it is found by a snapshot).
func resumeThreads(pid uint32) error {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(snap)
	te := windows.ThreadEntry32{Size: uint32(unsafe.Sizeof(windows.ThreadEntry32{}))}
	resumed := 0
	for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
		if te.OwnerProcessID != pid {
			continue
		}
		th, err := windows.OpenThread(windows.THREAD_SUSPEND_RESUME, false, te.ThreadID)
		if err != nil {
			return err
		}
		_, err = windows.ResumeThread(th)
		_ = windows.CloseHandle(th)
		if err != nil {
			return err
		}
		resumed++
	}
	if resumed == 0 {
		return errors.New("no thread of the new process found")
	}
	return nil
}

// winJob is a job object holding a local server's process tree; pid is the
// server's process id, which is also its console process group id.
type winJob struct {
	job windows.Handle
	pid uint32
}

// interrupt sends CTRL_BREAK_EVENT to the server's console process group
// (CTRL_C_EVENT cannot target a group). It fails when mcplink has no
// console; stop then kills the job after its grace.
func (j *winJob) interrupt() error {
	return windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, j.pid)
}

// jobBasicAccounting is JOBOBJECT_BASIC_ACCOUNTING_INFORMATION.
type jobBasicAccounting struct {
	TotalUserTime             int64
	TotalKernelTime           int64
	ThisPeriodTotalUserTime   int64
	ThisPeriodTotalKernelTime int64
	TotalPageFaultCount       uint32
	TotalProcesses            uint32
	ActiveProcesses           uint32
	TotalTerminatedProcesses  uint32
}

func (j *winJob) alive() bool {
	var acct jobBasicAccounting
	if err := windows.QueryInformationJobObject(j.job, windows.JobObjectBasicAccountingInformation, uintptr(unsafe.Pointer(&acct)), uint32(unsafe.Sizeof(acct)), nil); err != nil {
		return true // unknown: let stop's grace run out, then kill
	}
	return acct.ActiveProcesses > 0
}

func (j *winJob) kill() { _ = windows.TerminateJobObject(j.job, 1) }

func (j *winJob) release() { _ = windows.CloseHandle(j.job) }
