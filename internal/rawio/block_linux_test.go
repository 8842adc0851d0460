package rawio

import "golang.org/x/sys/unix"

func setBlocking(fd uintptr) { unix.SetNonblock(int(fd), false) }
