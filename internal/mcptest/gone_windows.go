//go:build windows

package mcptest

import "golang.org/x/sys/windows"

// Gone reports whether pid no longer runs: it cannot be opened, or its
// handle is signalled (the process exited).
func Gone(pid int) bool {
	h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		return true
	}
	defer windows.CloseHandle(h)
	ev, err := windows.WaitForSingleObject(h, 0)
	return err == nil && ev == windows.WAIT_OBJECT_0
}
